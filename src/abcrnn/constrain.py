"""Meter-aware decoding (`sample.constrain: meter`): while tunes are sampled, mask the symbols that
would make a bar of the tune body disagree with its meter.

MeterConstraint follows each stream's text the way abc.read_body and abc.bar_check read a
finished tune (it reads with a subclass of abc.BarReader), and allows a candidate symbol unless the
text with it appended holds a fault more than the text without it:

* a bar closed short: a plain `|` after a bar that holds less than the meter, where bar_check
  judges it: not the tune's first bar with music (a pickup), nor a bar opened or closed by a
  section or repeat line (`||`, `|:`, `:|`, `|]`, `::`, `[|`, `|1` …: any bar line but `|`);
* a bar that holds more than the meter (never allowed, pickups and section lines included);
* the tune's end (`<end>`) while the current bar holds music but is not full;
* a bar, out of a tuplet, whose length leaves the grid of a quarter of the unit note length
  (`A/3`): its remainder only odd durations fill, and a bar chasing it with `A/`, `A//` … may never
  be completed. Real tunes all but never leave this grid.

Only the body (after the header's K: line) is constrained; the header is free; bars while the meter
is free (M:none) are not judged; inline [M:…]/[L:…] fields and body M:/L: lines change meter and
unit as in the reader. Faults already in the text (the prime's, or after a fallback) are no reason
to mask anything: only new ones are.

Symbols are vocabulary strings: single characters (`<end>` then arrives as five characters after
a newline: the `<` at a line start counts as the tune's end) or multi-character ABC tokens (`^c'`,
`3/2`, `|:`, `[K:G]`, the one-symbol `<end>` …). Text still being written counts for what it can
still become: a note letter may stand while the bar has room even if a unit note would not fit (a
`/` may follow), but a duration digit that makes it overflow is masked, and so is whatever ends
the note as written; in a character vocabulary a lone `|` after a short bar may stand, as `||`,
`|]`, `|:`, `|1` may follow, but the next symbol must make it one of those (where `||`, `:|` …
are symbols of their own, a `|` symbol is a plain bar line). An open "annotation", {grace notes},
!decoration!, [chord or [M:inline field] counts as what it is once closed; one left open for more
than 24 characters (40 for `!`, as in the reader) is read as the reader reads an unclosed one, as
music, and its closer is masked for the rest of the line.

Speed: a stream's state is the reader's state at the start of the token still being written, and
that token's text (letters that behave alike made one). Mask rows are cached per state; a new
state tries only the symbols that can change a bar (notes, rests, durations, bar lines, chords,
tuplets, broken rhythm, spans, line ends, the end), one of each set of equivalent symbols, and most
of them through what is cached for the reader state before or after the token being written.
Caches live as long as the process, per vocabulary (clear_tables() forgets them); a stream's mask
depends on its own text alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from fractions import Fraction

import torch

from .abc import (
    _BAR,
    _INLINE_FIELD,
    _NOTE,
    _REST,
    _SKIP_SPANS,
    END,
    START,
    BarReader,
    field_line,
    header_fields,
    is_key_line,
    meter_length,
    unit_length,
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


def clear_tables() -> None:
    """Forget what constraints have cached: those made afterwards start afresh (masks are the same
    either way, only slower to come)."""
    _TABLES.clear()


class MeterConstraint:
    """Masks for meter-aware sampling of n streams over a vocabulary of symbol strings.

    symbols: the vocabulary (vocab.symbols), index 0 being <unk>, which is never allowed.
    primes: each stream's text so far (normally "<start>\\n" and a header).

    Each step: `mask()`, (n, V) bool with True = allowed (the same tensor until the next advance),
    then `advance(ids)` with the symbols chosen (list or tensor of n ids). A stream with no symbol
    allowed gets every symbol but <unk> allowed for that step, so sampling never stalls:
    `fallbacks` counts such stream-steps (`fallbacks_per_stream()` per stream). `masked` counts
    the stream-steps where the mask disallowed at least one symbol. Streams in the header, or past
    <end> (`ended`), are not constrained.
    """

    def __init__(self, symbols: Sequence[str], primes: Sequence[str]):
        self.symbols = list(symbols)
        self.size = len(self.symbols)
        self._texts = ["", *self.symbols[1:]]
        self._tags = END not in self.symbols  # <end> spelt out character by character
        # Where `||`, `|]`, `:|` … are symbols of their own, a `|` symbol is a plain bar line.
        self._defer = not any(len(s) > 1 and _BAR.fullmatch(s) for s in self.symbols[1:])
        self._active = [i for i in range(1, self.size) if _ACTIVE.intersection(self._texts[i])
                        or START in self._texts[i] or END in self._texts[i]]
        self._breaks = [i for i in range(1, self.size) if "\n" in self._texts[i] or END in self._texts[i]]
        self._every = list(range(1, self.size))
        self._broken = {i for i in self._every if "<" in self._texts[i] or ">" in self._texts[i]}
        self._canon = [_canonical(s) for s in self._texts]
        self._longest = max(map(len, self._texts))
        self._neutral = [False, *(not _acts(s) for s in self._texts[1:])]
        self._notes = [_is_note(s) for s in self._texts]
        self._neutrals: dict[str, bool] = {}
        self._all = torch.ones(self.size, dtype=torch.bool)
        if self.size > 1:
            self._all[0] = False
        self._tables = _TABLES.setdefault(tuple(self.symbols), _Tables())
        self.fallbacks = 0
        self.masked = 0
        self.streams = [_Stream() for _ in primes]
        for stream, prime in zip(self.streams, primes):
            self._append(stream, prime)
        self._mask: torch.Tensor | None = None

    # --- the caller's interface -------------------------------------------------------------
    def mask(self) -> torch.Tensor:
        """(n, V) bool: the symbols each stream may take next (computed once per step)."""
        if self._mask is None:
            self._tables.trim()
            rows, table = [], self._tables.rows
            for stream in self.streams:
                if stream.phase != _BODY:
                    rows.append(self._all)
                    continue
                key = self._row_key(stream.key)
                entry = table.get(key)
                if entry is None:
                    entry = table[key] = self._row(stream, key)
                row, empty, restricts = entry
                if empty:
                    self.fallbacks += 1
                    stream.fallbacks += 1
                    rows.append(self._all)
                else:
                    self.masked += restricts
                    rows.append(row)
            self._mask = torch.stack(rows) if rows else torch.ones(0, self.size, dtype=torch.bool)
        return self._mask

    def advance(self, ids) -> None:
        """Append each stream's chosen symbol (a list or tensor of n ids)."""
        if isinstance(ids, torch.Tensor):
            ids = ids.reshape(-1).tolist()
        if len(ids) != len(self.streams):
            raise ValueError(f"advance: got {len(ids)} ids for {len(self.streams)} streams")
        for stream, i in zip(self.streams, ids):
            if stream.phase == _BODY:
                self._step(stream, int(i))
            elif stream.phase == _HEADER:
                self._append_header(stream, self._texts[int(i)])
        self._mask = None

    def allows(self, stream: int, symbol: str) -> bool:
        """Whether vocabulary symbol `symbol` is allowed next in stream `stream`."""
        return bool(self.mask()[stream, self.symbols.index(symbol)])

    def _neutral_text(self, text: str) -> bool:
        neutral = self._neutrals.get(text)
        if neutral is None:
            neutral = self._neutrals[text] = not _acts(text)
        return neutral

    def fallbacks_per_stream(self) -> list[int]:
        """For each stream, how many of its steps had no allowed symbol (and allowed every one)."""
        return [s.fallbacks for s in self.streams]

    @property
    def ended(self) -> list[bool]:
        """Which streams have reached <end>."""
        return [s.phase == _ENDED for s in self.streams]

    # --- following the text -----------------------------------------------------------------
    def _append(self, stream: _Stream, text: str) -> None:
        if stream.phase == _HEADER:
            self._append_header(stream, text)
        elif stream.phase == _BODY:
            self._append_body(stream, text)

    def _append_header(self, stream: _Stream, text: str) -> None:
        total = stream.line + text
        end = total.find(END)
        parts = (total if end < 0 else total[:end]).split("\n")
        for k, part in enumerate(parts[:-1]):
            if START in part:
                stream.header, part = [], part[part.rindex(START) + len(START):]
            stream.header.append(part)
            if is_key_line(part):  # the header is complete: the body starts on the next line
                fields = header_fields("\n".join(stream.header))
                meter = meter_length(fields.get("M"))
                stream.reader = _Reader(meter, unit_length(fields.get("L"), meter), bool(fields.get("L")))
                stream.reader.can_defer = self._defer
                stream.phase, stream.line, stream.commit, stream.cut = _BODY, "", 0, False
                rest = "\n".join(parts[k + 1 :]) + ("" if end < 0 else total[end:])
                self._append_body(stream, rest)
                return
        if end >= 0:
            stream.phase = _ENDED
        stream.line = parts[-1]

    def _step(self, stream: _Stream, i: int) -> None:
        """Append vocabulary symbol i to a body stream, as the same state did before if it can."""
        text, steps = self._texts[i], self._tables.steps
        key = (stream.key, i)
        known = steps.get(key)
        if known is None:
            old_commit = stream.commit
            self._append_body(stream, text)
            if stream.phase == _ENDED:
                known = (None, False, 0, False)
            else:
                newline = "\n" in text
                known = (stream.reader, newline, stream.commit if newline else stream.commit - old_commit, stream.cut)
            steps[key] = known
            return
        reader, newline, commit, cut = known
        if reader is None:
            stream.phase = _ENDED
            return
        line = stream.line + text
        if newline:
            stream.line, stream.commit = line[line.rindex("\n") + 1 :], commit
        else:
            stream.line, stream.commit = line, stream.commit + commit
        stream.reader, stream.cut = reader, cut
        stream.key = self._key(stream)

    def _append_body(self, stream: _Stream, text: str) -> None:
        if "\n" in text and text != "\n":  # line by line, as if written symbol by symbol
            for piece in re.split("(\n)", text):
                if piece and stream.phase == _BODY:
                    self._append_body(stream, piece)
            return
        res = self._run(stream, text, snap=True)
        if res.ended:
            stream.phase = _ENDED
            return
        if res.snaps:  # go on reading from the start of the token that may still grow
            s, snaps = res.pending, res.snaps
            k = j = len(snaps) - 1
            ends = [p for p, _ in snaps[1:]] + [len(s)]
            while j >= 0 and _BAR_TAIL.issuperset(s[snaps[j][0] : ends[j]]):
                j -= 1
            if 0 <= j < k and (s[snaps[j][0]] in "|:]" or s.startswith("[|", snaps[j][0])):
                k = j  # `| [` … may still become one bar line
            for u in range(k + 1):  # a `"`, `{` or `[` still open: a closer later in the line
                closer = _open_step(s, snaps[u][0], ends[u])  # would make one span (or chord) of it all
                if closer and closer not in snaps[u][1].barred:
                    if len(s) - snaps[u][0] > _HOLDS.get(closer, _HOLD):
                        # Waited long enough: no closer may come on this line now, so that what
                        # has been read as music since stays music.
                        stream.reader = stream.reader.copy()
                        stream.reader.barred += closer
                        self._append_body(stream, text)
                        return
                    k = u
                    break
        stream.line, stream.cut, stream.commit, stream.reader = res.line, res.cut, res.commit, res.reader
        if res.snaps:
            if k == len(snaps) - 1 and _step_done(s[snaps[k][0]:]):
                stream.commit += len(s)  # res.reader has read it all
            else:
                stream.commit += snaps[k][0]
                stream.reader = snaps[k][1]
        stream.reader.scratch()
        stream.key = self._key(stream)

    def _key(self, stream: _Stream) -> tuple:
        """The state of a body stream, as far as masks and steps go: the reader's state, and the text
        still being read (with equivalent letters made one where no field is being written)."""
        rid, rid2 = self._tables.rid(stream.reader)
        line = stream.line
        tail = 0  # how much of <end> the line ends with, where it is spelt out
        if self._tags and "<" in line[-4:]:
            tail = next((k for k in (4, 3, 2, 1) if line.endswith(END[:k])), 0)
        if stream.cut:
            return rid, 0, "", tail, rid2
        text = line[stream.commit:]
        start = stream.commit == 0
        exact = (start and (text[1:2] == ":" or (self._tags and text[:1] == "<"))) or (
            "[" in text and _FIELD_OPEN.search(text) is not None)  # a field, or <end>, being written
        return rid, 1 + start + 2 * exact, text if exact else text.translate(_CANON), tail, rid2

    @staticmethod
    def _row_key(key: tuple) -> tuple:
        """A state's key for its mask row: the key, less accidentals that start the text still being
        read in mid-line (`^c2` allows what `c2` allows; steps still need them, as lengths differ)."""
        if key[1] == 1 and key[2][:1] in "^_=" and key[2]:
            return key[0], 1, key[2].lstrip("^_="), key[3], key[4]
        return key

    def _run(self, stream: _Stream, text: str, snap: bool = False) -> _Result:
        """Read `text` appended to a body stream (the stream is left as it is)."""
        r = stream.reader.copy()
        r.scratch()
        line, commit, cut = stream.line, stream.commit, stream.cut
        res = _Result()
        res.snaps, res.pending, res.sensitive, res.ended, res.kind = None, "", False, False, _MUSIC
        if commit and not cut and "\n" not in text and ">" not in text:
            line += text  # more of a line of music (no <end> can be complete without a `>`)
            kind = _MUSIC
        else:
            total = line + text
            end = total.find(END) if "<" in total else -1
            if end >= 0:
                total = total[:end]
            *done, line = total.split("\n")
            for part in done:
                _finish_line(r, part, commit, cut)
                commit, cut = 0, False
            if end >= 0:
                if end >= commit or done:
                    _finish_line(r, line, commit, cut)
                # else: <end> spelt out in mid-line, over text already read as music: judged as it stands
                res.ended, res.bad, res.over = True, r.bad + _mid_bar(r), 0
                return res
            kind = res.kind = _line_kind(line, self._tags)
        if kind == _TAG:  # as if the tune ended here
            res.reader, res.line, res.commit, res.cut = r, line, 0, False
            res.bad, res.over, res.sensitive = r.bad + _mid_bar(r), 0, True
            return res
        over = 0
        if kind in (_MUSIC, _AMBIG) and not cut:
            pct = line.find("%", commit)
            if pct >= 0:  # a comment: the line's music is complete
                r.prov = False
                r.read(line[commit:pct] + " ")
                cut = True
            else:
                s = line[commit:]
                r.prov = True
                snaps = [] if snap and kind == _MUSIC else None
                base = r.copy() if snap and kind == _AMBIG else None
                i = last = 0
                while i < len(s):
                    if snaps is not None:
                        snaps.append((i, r.copy()))
                    last = i
                    i = r._step(s, i)
                r.prov = False
                meter, tolerated = r.meter, False
                if meter is not None and not r.full_rest and r.length > meter:
                    if s and r.note_at == last and r.note_free and r.note_before < meter:
                        tolerated = True  # a note that must still be shortened (`A` → `A/`)
                    else:
                        over = r.length - meter
                # (and any symbol that takes an open span past its wait has its contents read as music)
                res.sensitive = tolerated or r.deferred or r.open_len + self._longest > r.open_hold
                res.bad, res.over = r.bad + (over > 0) + (not tolerated and _off_grid(r)), over
                res.line, res.commit, res.cut = line, commit, False
                res.snaps, res.pending = snaps, s
                res.reader = base if base is not None else r
                return res
        res.reader, res.line, res.commit, res.cut = r, line, commit, cut
        if kind == _FIELD:  # a field line counts as the field it will be once the line ends
            r = r.copy()
            _finish_line(r, line, 0, False)
        meter = r.meter
        if meter is not None and not r.full_rest and r.length > meter:
            over = r.length - meter
        res.bad, res.over = r.bad + (over > 0) + _off_grid(r), over
        return res

    # --- masks --------------------------------------------------------------------------------
    def _row(self, stream: _Stream, key: tuple) -> tuple[torch.Tensor, bool, bool]:
        """(allowed, nothing allowed, something disallowed) for a body stream's state (key: _row_key)."""
        _, kind, text, tail, rid2 = key
        broken = self._broken
        if kind <= 2 and not tail and "<" not in text and ">" not in text:
            # Only symbols with `<` or `>` read the last note's length: the rest of the row is
            # shared by the states that differ in it alone.
            main = self._tables.mains.get((rid2, kind, text))
            if main is None:
                limit, tried = self._tried(stream)
                allowed = self._judge(stream, [i for i in tried if i not in broken], limit)
                main = self._tables.mains[(rid2, kind, text)] = allowed, limit, [i for i in tried if i in broken]
            allowed, limit, tried = main
            allowed = self._judge(stream, tried, limit, list(allowed))
        else:
            limit, tried = self._tried(stream)
            allowed = self._judge(stream, tried, limit)
        barred = stream.reader.barred
        if barred:
            for i, text in enumerate(self._texts):
                if any(closer in text for closer in barred):
                    allowed[i] = False
        count = sum(allowed)
        return torch.frombuffer(bytearray(allowed), dtype=torch.bool), count == 0, count < self.size - 1

    def _tried(self, stream: _Stream) -> tuple[tuple, list[int]]:
        """The faults of a stream's state as it stands, and the symbols that may add to them."""
        base = self._run(stream, "")
        if not _SHORTCUTS:
            return base.rank(), self._every
        if stream.cut or (base.kind == _FIELD and stream.line[:1] not in "ML"):
            return base.rank(), self._breaks  # only a line end or the tune's end can matter now
        if base.kind == _FIELD:  # M: or L: being written
            return base.rank(), self._every
        return base.rank(), self._every if base.sensitive else self._active

    def _judge(self, stream: _Stream, tried: list[int], limit: tuple, allowed: list[bool] | None = None) -> list[bool]:
        """Disallow the symbols in `tried` that would add to the faults `limit` (one symbol for each
        set of equivalent ones, unless a field or <end> is being written)."""
        if allowed is None:
            allowed = [i > 0 for i in range(self.size)]
        texts, canon = self._texts, self._canon
        if stream.key[1] > 2 or not _SHORTCUTS:
            # A field or <end> being written: every symbol as it is, but where <end> is, those
            # that make the line music (`<` then anything but `end>`) are alike up to _CANON.
            line = stream.line if self._tags and stream.key[1] == 4 and stream.line[:1] == "<" else None
            verdicts: dict[str, bool] = {}
            for i in tried:
                spelt = line is None or END.startswith(line + texts[i]) or END in line + texts[i]
                ok = None if spelt or not _SHORTCUTS else verdicts.get(canon[i])
                if ok is None:
                    ok = self._run(stream, texts[i]).rank() <= limit
                    if not spelt:
                        verdicts[canon[i]] = ok
                allowed[i] = ok
            return allowed
        ways = _Ways(self, stream, limit)
        verdicts: dict[str, bool] = {}
        for i in tried:
            ok = verdicts.get(canon[i])
            if ok is None:
                ok = verdicts[canon[i]] = ways.rank(i) <= limit
            allowed[i] = ok
        return allowed


class _Probe(_Reader):
    """A reader that only notes whether it was asked to do anything. Which steps a text has, and
    which of them act on the reader (add a note, close a bar, set a field …), depend on the text
    alone (and the closers barred on its line), never on the reader's state."""

    def __init__(self, barred: str = ""):
        super().__init__(Fraction(1), Fraction(1, 8), True)
        self.prov, self.acted, self.barred = True, False, barred

    def add(self, duration: Fraction, token: str = "") -> None:
        self.acted = True

    def close_bar(self, line: str) -> None:
        self.acted = True

    def field(self, key: str, value: str) -> None:
        self.acted = True

    def tuplet(self, p: int, q: str | None, r: str | None) -> None:
        self.acted = True

    def broken(self, run: str) -> None:
        self.acted = True

    def each(self, s: str) -> list[tuple[int, int, bool]]:
        """The steps of s: (start, end, whether it acted)."""
        out, i = [], 0
        while i < len(s):
            self.acted = self.music = self.full_rest = self.overlay = False
            end = self._step(s, i)
            out.append((i, end, self.acted or self.music or self.full_rest or self.overlay))
            i = end
        return out

    def steps(self, s: str, until: int) -> tuple[int, bool]:
        """Read s while steps start before `until`: (where the next step starts, whether one acted)."""
        i = 0
        while i < until:
            self.music = self.full_rest = self.overlay = False
            i = self._step(s, i)
            self.acted = self.acted or self.music or self.full_rest or self.overlay
        return i, self.acted


def _is_note(text: str) -> bool:
    """One note or rest with its duration (`c`, `^c'2`, `z/`), and nothing else."""
    m = _NOTE.match(text) or _REST.match(text)
    return m is not None and m.end() == len(text) > 0


def _acts(text: str) -> bool:
    """Whether reading `text` as more of a line of music could change a bar (rather than skip it,
    or open a span, chord or field still to be closed)."""
    if text == "\n":
        return False
    if "\n" in text or ">" in text:
        return True
    return _Probe().steps(text, len(text))[1]


class _Ways:
    """The cheap ways to a candidate's faults in one state of a stream in mid-line.

    With nothing still being read, a symbol that does not act (_acts) leaves the faults as they
    are, and the faults of another are those of the same reader state anywhere (cached by state).
    With a token still being read, a symbol that starts a step of its own after it (as a _Probe
    finds on the texts alone) comes after a token that did nothing (`(`, `^`), so it counts from
    the state before that token, or after a token that acted (`c2`, `|`), so it counts from the
    state after that token (the same whatever follows it, but for a `[` after a bar line)."""

    def __init__(self, owner: MeterConstraint, stream: _Stream, limit: tuple):
        self.owner, self.stream, self.tables, self.limit = owner, stream, owner._tables, limit
        # At a line's start, only what starts a field line (`M:`) or <end> is read there; the rest
        # is read as in mid-line.
        self.start = not stream.cut and not stream.line
        direct = stream.cut or not (stream.commit or self.start)
        self.pending = None if direct else stream.line[stream.commit:]
        self.before = self.after = self.lone = self.last = None
        # Inside a span still open, a symbol that neither closes it, nor holds a bar line, line
        # end, comment or `>` (of <end>), nor keeps it open too long, changes nothing.
        self.span = _open_span(self.pending, stream.reader.barred) if self.pending else ""
        self.stops = self.span + "|\n%>"
        self.hold = _HOLDS.get(self.span, _HOLD)

    def _state(self, reader: _Reader, bad: int = 0) -> tuple:
        """A stream in `reader`'s state with nothing still being read, its ids (and those of the
        state with no closer barred, for the symbols that hold none), and faults so far."""
        fresh = _Stream()
        line = self.stream.line or " "  # (in mid-line)
        fresh.phase, fresh.line, fresh.commit, fresh.cut, fresh.reader = _BODY, line, len(line), False, reader
        ids, nid = self.tables.rid(reader), self.tables.nid(reader)
        if reader.barred:
            free = reader.copy()
            free.barred = ""
            return fresh, ids, bad, self.tables.rid(free), reader.barred, nid
        return fresh, ids, bad, ids, "", nid

    def _lone(self) -> _Ways:
        """The ways of the stream as it is with the open span's opener read alone, and barred."""
        if self.lone is None:
            owner, stream = self.owner, self.stream
            lone = _Stream()
            lone.phase, lone.line, lone.commit, lone.cut = _BODY, stream.line, stream.commit + 1, False
            lone.reader = stream.reader.copy()
            lone.reader.scratch()
            if self.span != "!":
                lone.reader.barred += self.span
            lone.key = owner._key(lone)
            self.lone = _Ways(owner, lone, owner._run(lone, "").rank())
        return self.lone

    def _before(self) -> tuple:
        """The state before the text still being read (which has done nothing, or is a span)."""
        if self.before is None:
            reader = self.stream.reader.copy()
            reader.scratch()
            self.before = self._state(reader)
        return self.before

    def _from(self, state: tuple, i: int) -> tuple:
        """The faults of symbol i read afresh in a state (cached by state)."""
        owner = self.owner
        return self._cached(state, owner._texts[i], owner._neutral[i], i in owner._broken, owner._canon[i],
                            owner._notes[i])

    def _from_text(self, state: tuple, text: str) -> tuple:
        neutral = self.owner._neutral_text(text)
        return self._cached(state, text, neutral, "<" in text or ">" in text, _canonical(text), _is_note(text))

    def _cached(self, state: tuple, text: str, neutral: bool, broken: bool, canon: str, note: bool) -> tuple:
        fresh, (rid, rid2), bad, free, barred, nid = state
        if barred and not any(c in text for c in barred):
            rid, rid2 = free
        if neutral or note:  # nothing, or one note: what counts is the bar's length and its notes'
            key = (nid, None if neutral else canon)
        else:  # only `<` and `>` read the last note's length
            key = (rid if broken else rid2, self.stream.key[3], canon)
        rank = self.tables.fresh.get(key)
        if rank is None:
            rank = self.tables.fresh[key] = self.owner._run(fresh, "" if neutral else text).rank()
        return rank[0] + bad, rank[1]

    def rank(self, i: int) -> tuple:
        owner, pending = self.owner, self.pending
        if self.span and self.span != "]":
            text, closer = owner._texts[i], self.span
            j = text.find(closer)
            head = text if j < 0 else text[: j + 1]
            if ">" in head:
                pass  # (<end>?) read it all
            elif j < 0 and len(pending) + len(text) <= self.hold and not any(c in text for c in self.stops):
                return self.limit  # still inside the span
            elif j >= 0 and "\n" not in head and "%" not in head and (
                    closer != "!" or ("|" not in head and len(pending) + j <= 40)):
                # the span closes, and counts for nothing: the rest is read as after no span
                return self._from_text(self._before(), text[j + 1 :])
            else:  # the opener is read alone, as it is after a line end, comment, bar line, or
                return self._lone().rank(i)  # too long a wait: as in the stream past it
        if pending is None:
            return owner._run(self.stream, owner._texts[i]).rank()
        if pending == "":
            if self.start:
                text = owner._texts[i]
                if text[1:2] == ":" or text[:1] == "<" or END in text:
                    return owner._run(self.stream, text).rank()
            return self._from(self._before(), i)
        text = owner._texts[i]
        start, acted = self._steps(text)
        if start == len(pending):
            if not acted:
                return self._from(self._before(), i)
            if text != "[" or not any(c in pending for c in "|:]"):  # (`|[2` is one bar line)
                if self.after is None:
                    self.after = False
                    if self._steps(" ")[0] == len(pending):
                        reader = self.stream.reader.copy()
                        reader.scratch()
                        reader.prov = True
                        reader.read(pending + " ")
                        bad = reader.bad
                        reader.scratch()
                        self.after = self._state(reader, bad)
                if self.after:
                    return self._from(self.after, i)
        line = self.stream.line
        if END not in line + text and END not in line + pending + text:  # the same reading,
            return self._from_text(self._before(), pending + text)  # cached by state and text
        return owner._run(self.stream, text).rank()

    def _steps(self, text: str) -> tuple[int, bool]:
        """_Probe.steps for the text still being read and `text` after it. Where that text is
        several steps, all but the last over for good, only the last is probed with `text`."""
        barred, pending = self.stream.reader.barred, self.pending
        if self.last is None:
            self.last = (0, False)
            if len(pending) > 1:
                steps = _Probe(barred).each(pending)
                if len(steps) > 1 and not any(
                        _open_step(pending, a, b) or pending[a] in "|:]" or pending.startswith("[|", a)
                        for a, b, _ in steps[:-1]):
                    self.last = (steps[-1][0], any(acted for _, _, acted in steps[:-1]))
        start, acted_before = self.last
        key = (self.stream.key[2][start:], text, barred)
        found = self.tables.structure.get(key)
        if found is None:
            found = self.tables.structure[key] = _Probe(barred).steps(pending[start:] + text, len(pending) - start)
        return start + found[0], found[1] or acted_before
