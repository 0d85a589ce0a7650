"""Reading the tune being sampled for meter-aware decoding (constrain.py): a bar reader that
follows text still being written, what a symbol does to a bar, and the caches of mask rows and
reader states that make a sampling step cheap."""

from __future__ import annotations

import math
import re
from fractions import Fraction

import torch

from abcrnn.notation.tunes import (
    _BAR,
    _INLINE_FIELD,
    _SKIP_SPANS,
    END,
    START,
    BarReader,
    field_line,
)

CONSTRAIN_MODES = ("none", "meter")

# Characters that can change what the reader makes of the text: note letters, rests, durations,
# bar lines, chords and inline fields, tuplets, broken rhythm, spans, comments, line ends. A symbol
# with none of them changes no bar, unless what is being written may still change (a note that
# must still be shortened, a `|` that must become `||`, a span about to be waited for too long):
# then every symbol is tried.
_ACTIVE = set("ABCDEFGabcdefgzxZX0123456789/|:[]<>(\"!{}%\n")
# What can still extend a bar line after it: `| [2`, `|1,3`, `|2-3` (abc._BAR's optional part).
_BAR_TAIL = set(" \t[0123456789,-")
_FIELD_OPEN = re.compile(r"\[[A-Za-z]:")
# Symbols that differ only in these letters have the same effect on bar lengths wherever no field
# (`X:`, `[M:…]`) is being written and no <end> spelt out: note letters, rests, multi-bar rests,
# and the other letters (decorations such as T, or field names other than M: and L:, which the
# reader ignores) …
_CANON = str.maketrans("ABCDEFGabcdefgxXHIJKNOPQRSTUVWYhijklmnopqrstuvwy",
                       "cccccccccccccczZTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTTT")
# … and so do single characters that no token reads: spaces, accidentals, slurs, ties, dots …
# (a pending token ends at them, or they are skipped).
_PASSIVE = "\u2423"

_HEADER, _BODY, _ENDED = 0, 1, 2
# Kinds of the line being written in the body.
_EMPTY, _AMBIG, _TAG, _MUSIC, _FIELD = range(5)


class _Reader(BarReader):
    """abc.BarReader that judges bars as bar_check does instead of listing them, reads text still
    being written provisionally (`prov`), and copies cheaply."""

    def __init__(self, meter: Fraction | None, unit: Fraction, unit_given: bool):
        super().__init__(meter, unit, unit_given)
        self.music_bars = 0  # bars with music closed so far: the first one may be a pickup
        self.can_defer = True  # a `|` being written may still become `||` (not where bar lines are whole symbols)
        self.barred = ""  # closers masked for the rest of the line (see MeterConstraint._append_body)
        self.rid = self.rid2 = self.nid = None
        self.scratch()

    def scratch(self) -> None:
        """Reset what one reading finds out (faults, and the state of the text's last symbol)."""
        self.prov = False        # the text read may go on: its last token may still grow
        self.bad = 0             # bars closed too long, or short where bar_check judges them
        self.deferred = False    # a plain `|` at the end closed a short bar: it must become `||` …
        self.open_len = 0        # how long an open "…", {…}, !…! or [… still waited for is (_HOLD ends it)
        self.open_hold = _HOLD   # … and how long it may be
        self.expired = ""        # closers of spans waited for too long in this reading
        self.at = 0              # where the current step starts
        self.bar_at_end = False  # the bar line being read reaches the end of the text
        self.note_at = -1        # where the last note, rest or chord started …
        self.note_before = Fraction(0)  # … the bar's length before it …
        self.note_free = False   # … and whether it has no digits yet (a `/` may still shorten it)

    def copy(self) -> _Reader:
        new = _Reader.__new__(_Reader)
        new.__dict__ = self.__dict__.copy()
        new.rid = new.rid2 = new.nid = None  # its ids in a _Tables (see _Tables.rid), once it has them
        return new

    def key(self) -> tuple:
        """Everything a reading depends on but the last note's length (which only `>`/`<` read)."""
        return (self.meter, self.unit, self.unit_given, self.length, self.music, self.full_rest, self.overlay,
                self.left == "||", self.tuplet_left, self.tuplet_factor if self.tuplet_left else 1,
                self.next_factor, self.music_bars == 0, self.barred)

    def note_key(self) -> tuple:
        """What the faults of one more note (or of none) depend on: no bar closes."""
        return (self.meter, self.unit, self.length, self.full_rest, self.overlay, self.tuplet_left,
                self.tuplet_factor if self.tuplet_left else 1, self.next_factor)

    # --- the reader's hooks -----------------------------------------------------------------
    def close_bar(self, line: str) -> None:
        kind = "|" if line.strip() == "|" else "||"
        if self.music:
            meter = self.meter
            if meter is not None and not self.full_rest and self.length != meter:
                if self.length > meter:
                    self.bad += 1
                elif not (self.music_bars == 0 or self.left == "||" or kind == "||"):
                    if self.bar_at_end and self.can_defer:
                        self.deferred = True
                    else:
                        self.bad += 1
            self.music_bars += 1
        self.bar_at_end = False
        self._new_bar(kind)

    def add(self, duration: Fraction, token: str = "") -> None:
        before = self.length
        super().add(duration, token)
        self.note_at, self.note_before = self.at, before
        self.note_free = not any(c.isdigit() for c in token)

    def _bar_line(self, s: str, i: int) -> int:
        if self.prov:
            m = _BAR.match(s, i)
            self.bar_at_end = m is not None and s[m.end():] in ("", "[")  # `|` → `||`, `|[2` …
        return super()._bar_line(s, i)

    def _step(self, s: str, i: int) -> int:
        self.at = i
        if self.prov:  # an unclosed span or chord at the end: read it as it will be once closed
            c = s[i]
            closer = _CLOSER.get(c, "-")
            if closer in self.barred or closer in self.expired or "|" in s[i:]:
                pass  # never to be closed, or unclosed before a bar line: read it as the reader will
            elif len(s) - i > _HOLDS.get(c, _HOLD):  # waited for too long: barred (_append_body), with
                if _open_step(s, i, len(s)):  # all of its kind on this line
                    self.expired += closer
            elif c in _SKIP_SPANS and s.find(_SKIP_SPANS[c], i + 1) < 0:
                self.open_len, self.open_hold = len(s) - i, _HOLDS.get(c, _HOLD)
                return len(s)
            elif c == "[" and s.find("]", i + 1) < 0:
                nxt = s[i + 1 : i + 2]
                if not nxt or _FIELD_OPEN.match(s, i):
                    self.open_len, self.open_hold = len(s) - i, _HOLDS.get(c, _HOLD)
                    field = _INLINE_FIELD.match(s + "]", i)
                    if field:  # `[M:3/4` counts as the field it will be once closed
                        self.field(field.group(1), field.group(2))
                    return len(s)
                if nxt != "|" and not nxt.isdigit():
                    self.open_len, self.open_hold = len(s) - i, _HOLDS.get(c, _HOLD)
                    return min(self._chord(s + "]", i), len(s))
        return super()._step(s, i)

    def read(self, s: str) -> None:
        i = 0
        while i < len(s):
            i = self._step(s, i)


def _canonical(symbol: str) -> str:
    """A symbol with the same effect on bar lengths as `symbol` where _CANON applies."""
    if ":" in symbol or START in symbol or END in symbol:
        return symbol
    if len(symbol) == 1 and symbol not in _ACTIVE and symbol not in "',&" and not ("A" <= symbol <= "Z"
                                                                                 or "a" <= symbol <= "z"):
        return _PASSIVE
    return symbol.translate(_CANON)


def _line_kind(line: str, tags: bool) -> int:
    if not line:
        return _EMPTY
    c = line[0]
    letter = c.isascii() and c.isalpha()
    if len(line) == 1 and letter:
        return _AMBIG  # `A` may be a note or the start of an `A:` field line
    if letter and line[1] == ":":
        return _FIELD
    if tags and END.startswith(line):
        return _TAG    # `<`, `<e` … at a line start: <end> being spelt out
    return _MUSIC


_GRIDS: dict[tuple, tuple[int, int]] = {}


def _off_grid(r: _Reader) -> int:
    """1 if the bar, out of a tuplet, holds a length that is no multiple of a quarter of the unit
    note length (nor of the meter's gcd with it): `A/3` leaves a remainder that only odd durations
    fill, and a bar chasing it with `A/`, `A//` … could never be completed. Real tunes all but never
    leave this grid (one note in the 137,000 of 1,300 tunes that bar_check passes)."""
    meter = r.meter
    if meter is None or r.full_rest or r.tuplet_left:
        return 0
    grid = _GRIDS.get((r.unit, meter))
    if grid is None:
        quarter = r.unit / 4
        g = Fraction(math.gcd(quarter.numerator, meter.numerator), math.lcm(quarter.denominator, meter.denominator))
        grid = _GRIDS[(r.unit, meter)] = (g.numerator, g.denominator)
    length = r.length
    return int(length.numerator * grid[1] % (length.denominator * grid[0]) != 0)


def _mid_bar(r: _Reader) -> int:
    """1 if ending the tune now would end it in a bar that holds music but is not full."""
    return int(r.music and r.meter is not None and not r.full_rest and r.length != r.meter)


def _finish_line(r: _Reader, line: str, commit: int, cut: bool) -> None:
    """Read the rest of a finished line (from `commit`) as read_body does."""
    r.barred = ""
    if cut:
        return
    content = line.split("%", 1)[0].rstrip().rstrip("\\")
    if commit == 0:
        field = field_line(content)
        if field and field[0] != "+":
            r.field(*field)
            return
    r.prov = False
    r.read(content[commit:] + " ")


# A step of one of these characters is over once written (the reader skips it, or it opens an
# overlay): nothing can join it, so reading can go on after it.
_DONE = set(" \t)-.~'/,&+*#$@;?`\\0123456789") | (set("HIJKLMNOPQRSTUVWYhijklmnopqrstuvwy"))
_CLOSER = {'"': '"', "{": "}", "[": "]"}
# Characters an open `"`, `{` or `[` is waited for, the opener included: chord symbols, grace
# notes and chords are short (at most 16 characters in the default corpus). A `!` is waited for
# as long as the reader does (a !decoration! of more than 40 characters is no decoration).
_HOLD = 24
_HOLDS = {"!": 40}


def _open_step(s: str, start: int, end: int) -> str:
    """The closer the step s[start:end] still waits for: a `"`, `{`, `[` that nothing closes yet,
    read alone or (at the end of s) as the span or chord it may become, or a `!` read as the
    decoration it may become; "" for any other step (a `!` read alone is so for good: a `|`
    follows it, or more than 40 characters do; so is a `[` before a digit, an ending)."""
    c = s[start:start + 1]
    closer = _CLOSER.get(c, "") or ("!" if c == "!" and end == len(s) else "")
    if not closer or closer in s[start + 1 : end]:
        return ""
    if closer == "]" and (s[start + 1 : start + 2] == "|" or s[start + 1 : start + 2].isdigit()):
        return ""  # a `[|` bar line, a `[1` ending
    return closer


def _open_span(pending: str, barred: str) -> str:
    """The closer of the "…", {…}, !…! or [X:… the whole of `pending` is, still waiting for it ("" if not)."""
    c = pending[:1]
    closer = _SKIP_SPANS.get(c) or ("]" if _FIELD_OPEN.match(pending) else "")
    if not closer or closer in pending[1:] or "|" in pending or len(pending) > _HOLDS.get(c, _HOLD) or closer in barred:
        return ""
    return closer


def _step_done(t: str) -> bool:
    """Whether a step (its text) of a line being written can no longer change."""
    if len(t) == 1:
        return t in _DONE
    closer = _SKIP_SPANS.get(t[0])
    if closer:
        return t[-1] == closer
    return t[0] == "[" and t[-1] == "]" and _FIELD_OPEN.match(t) is not None


class _Result:
    """What appending some text to a stream does: the reader and line after it, and the faults."""

    __slots__ = ("bad", "commit", "cut", "ended", "kind", "line", "over", "pending", "reader", "sensitive", "snaps")

    def rank(self) -> tuple:
        return self.bad, self.over


class _Stream:
    __slots__ = ("commit", "cut", "fallbacks", "header", "key", "line", "phase", "reader")

    def __init__(self):
        self.phase, self.header, self.line = _HEADER, [], ""
        self.reader, self.commit, self.cut, self.key, self.fallbacks = None, 0, False, None, 0


class _Tables:
    """What constraints over one vocabulary learn about states: mask rows (whole, and the part that
    does not depend on the last note's length), steps, and ids of reader states (never reused)."""

    LIMIT = 400_000  # entries, all tables together

    def __init__(self):
        self.rows: dict[tuple, tuple[torch.Tensor, bool, bool]] = {}
        self.mains: dict[tuple, tuple[list[bool], tuple]] = {}
        self.steps: dict[tuple, tuple] = {}
        self.fresh: dict[tuple, tuple] = {}  # (reader state, line's <end> tail, symbol): faults
        self.structure: dict[tuple, tuple[int, bool]] = {}  # (token being read, symbol): _Probe.steps
        self.rids: dict[tuple, int] = {}
        self.count = 0

    def trim(self) -> None:
        """Start afresh when the tables grow large (ids go on counting: no stale id is reused)."""
        if sum(map(len, (self.rids, self.rows, self.mains, self.steps, self.fresh, self.structure))) > self.LIMIT:
            for table in (self.rids, self.rows, self.mains, self.steps, self.fresh, self.structure):
                table.clear()

    def _id(self, key: tuple) -> int:
        rid = self.rids.get(key)
        if rid is None:
            rid = self.rids[key] = self.count
            self.count += 1
        return rid

    def rid(self, reader: _Reader) -> tuple[int, int]:
        """Ids of a reader's state: all of it, and all but the last note's length."""
        if reader.rid is None:
            key = reader.key()
            reader.rid2 = self._id(key)
            reader.rid = self._id((reader.rid2, reader.last_note))
        return reader.rid, reader.rid2

    def nid(self, reader: _Reader) -> int:
        """Id of what of a reader's state one more note depends on (_Reader.note_key)."""
        if reader.nid is None:
            reader.nid = self._id(("note", *reader.note_key()))
        return reader.nid


_TABLES: dict[tuple[str, ...], _Tables] = {}
_SHORTCUTS = True  # False (for tests): every symbol read out in full, in every state
