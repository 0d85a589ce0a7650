"""ABC notation: what a tune's text means, for every stage.

The <start>/<end> corpus format; information fields and the header (field_line, header_fields,
header_text, header_complete); the body and its music (body, is_music, strip_comment,
note_letters); and bar lengths (meter_length, unit_length, bar_lengths, bar_check), which add up
the notes of each bar to judge it against the meter. Reading messy ABC files into tunes is the
job of reader.py, which asks this module what the lines it reads are.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

START, END = "<start>", "<end>"
REQUIRED_FIELDS = ("X", "T", "M", "K")  # L: defaults from M:, so it may be absent

_TAGGED = re.compile(re.escape(START) + r"\n?(.*?)\n?" + re.escape(END), re.S)
# An information field line such as `T: Title`, `+:` continuations included: (key, value).
_FIELD_LINE = re.compile(r"^([A-Za-z+]):[ \t]*(.*)$")
_MUSIC_CHAR = re.compile(r"[A-Ga-gz]")
_ANNOTATIONS = re.compile(r'"[^"]*"|![^!]*!')  # "chord symbols" and !decorations!
# What is not a note letter on a line of music: "annotations", !decorations!, +decorations+,
# {grace notes} and [K:inline fields].
_NON_NOTE_SPANS = re.compile(r'"[^"\n]*"|![^!\n]*!|\+[^+\n]*\+|\{[^}\n]*\}|\[[A-Za-z]:[^\]\n]*\]')


# --- the corpus format -------------------------------------------------------------------------

def join_tagged(tunes: list[str]) -> str:
    """The paper's corpus format: every tune as '<start>\\n…tune…\\n<end>\\n'."""
    return "".join(f"{START}\n{t.strip(chr(10))}\n{END}\n" for t in tunes)


def split_tagged(text: str) -> list[str]:
    """Tunes between complete <start>…<end> pairs, in order (text outside the tags is ignored)."""
    return [m.group(1) for m in _TAGGED.finditer(text)]


# --- fields and the header ---------------------------------------------------------------------

def field_line(line: str) -> tuple[str, str] | None:
    """(key, value) of an information field line (`T: Title` → ('T', 'Title')), else None."""
    m = _FIELD_LINE.match(line)
    return (m.group(1), m.group(2)) if m else None


def is_field(line: str) -> bool:
    """An information field line such as `T:Title` (also `+:` continuations)."""
    return _FIELD_LINE.match(line) is not None


def is_key_line(line: str) -> bool:
    """The K: line, which closes a tune's header (ABC 2.1)."""
    return line.startswith("K:")


def _key_line(lines: list[str]) -> int | None:
    """Index of the first K: line, None if there is none."""
    return next((i for i, line in enumerate(lines) if is_key_line(line)), None)


def strip_comment(line: str) -> str:
    """`line` without its `% …` comment; a % inside a "quoted string" or escaped as \\% is kept."""
    quoted = escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "%" and not quoted:
            return line[:i].rstrip()
    return line


def split_header(lines: list[str]) -> tuple[list[str], list[str]]:
    """(header, music): the header is the run of field, comment and empty lines a tune starts with."""
    for i, line in enumerate(lines):
        if line and not is_field(line) and not line.startswith("%"):
            return lines[:i], lines[i:]
    return lines, []


def header_fields(tune: str, to_key: bool = True) -> dict[str, str]:
    """The information fields of a tune's header, first value wins.

    to_key (ABC 2.1, where K: closes the header): the field lines up to and including the first
    K: line, other lines skipped, values as written; the lines are those body() reads. Otherwise,
    for tunes whose K: may stand anywhere in the header: the field lines of the header split_header
    finds in the tune's "\\n"-separated lines, values without their `% comment`. A `+:` line
    continues the field before it and is no field of its own.
    """
    fields: dict[str, str] = {}
    lines = tune.splitlines() if to_key else split_header(tune.split("\n"))[0]
    for line in lines:
        field = field_line(line)
        if field is None or field[0] == "+":
            continue
        key, value = field
        fields.setdefault(key, value.strip() if to_key else strip_comment(value).strip())
        if to_key and key == "K":
            break
    return fields


def header_complete(tune: str) -> bool:
    """X, T, M and K present in the header (L is optional: ABC derives it from M)."""
    fields = header_fields(tune)
    return all(k in fields for k in REQUIRED_FIELDS)


def header_text(tune: str) -> str | None:
    """The header lines of a tune, up to and including its first K: line (None if it has none)."""
    lines = tune.split("\n")
    k = _key_line(lines)
    return None if k is None else "\n".join(lines[: k + 1])


def body(tune: str) -> str:
    """The music after the first K: line (empty if the tune has no K: line)."""
    lines = tune.splitlines()
    k = _key_line(lines)
    return "" if k is None else "\n".join(lines[k + 1 :])


def keep_fields(tune: str, keep: frozenset[str] | None) -> tuple[str, list[str]]:
    """The tune with only the information field lines whose letter is in `keep` (None: all kept),
    and the letter of each line it dropped, in order (a field's `+:` continuation lines go with it and
    count under its letter).

    Header and body field lines alike (`N:` notes, `Z:` transcriber, `W:`/`w:` lyrics); inline
    fields such as `[K:G]` inside music lines are music and stay.
    """
    if keep is None:
        return tune, []
    kept, removed, dropping = [], [], False
    for line in tune.split("\n"):
        field = field_line(line)
        if field is not None and field[0] == "+":
            if dropping:
                removed.append(removed[-1])  # a continuation line goes, and counts, with its field
            else:
                kept.append(line)
            continue
        dropping = field is not None and field[0] not in keep
        if dropping:
            removed.append(field[0])
        else:
            kept.append(line)
    return "\n".join(kept), removed


# --- lines of music ----------------------------------------------------------------------------

def is_music(line: str) -> bool:
    """A line of tune body with at least one note or rest (not a field, comment or directive)."""
    if not line or line.startswith("%") or is_field(line):
        return False
    return _MUSIC_CHAR.search(_ANNOTATIONS.sub("", line)) is not None


def note_letters(tune: str) -> str:
    """The note letters of the body (A-G, a-g), without chord symbols, decorations and grace notes:
    what two transcriptions of one tune share even when their layout and ornaments differ."""
    lines = tune.split("\n")
    k = _key_line(lines)
    music = [] if k is None else lines[k + 1 :]
    text = "\n".join(line for line in music if not is_field(line) and not line.startswith("%"))
    return "".join(re.findall(r"[A-Ga-g]", _NON_NOTE_SPANS.sub("", text)))


# --- bar lengths -------------------------------------------------------------------------------

_INLINE_INSTRUCTION = re.compile(r"\[I:[^\]\n]*\]")


def renderable(tune: str) -> str:
    """The tune without what could make a renderer read another file, as abc2midi/abcm2ps get it.

    ABC text is untrusted: `%%abc-include FILE`, `%%format FILE`, `%%EPS FILE` and `I:abc-include`
    make abcm2ps and abc2midi read local files into their output. Every `%%` directive line and
    every `I:` instruction (a line, its `+:` continuations, or inline `[I:…]`) is dropped; the notes,
    and every other field, are left as they are.
    """
    kept, dropping = [], False
    for line in tune.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("+:") and dropping:
            continue
        dropping = stripped.startswith("%%") or bool(re.match(r"I:", stripped))
        cleaned = _INLINE_INSTRUCTION.sub("", line)
        if not dropping and (cleaned.strip() or not line.strip()):  # no new blank line: it would end the tune
            kept.append(cleaned)
    return "\n".join(kept)


def meter_length(meter: str | None) -> Fraction | None:
    """Length of a bar in whole notes: 'C' → 1, 'C|' → 1, '6/8' → 3/4, '2+3/8' → 5/8; None if free."""
    if meter is None:
        return None
    m = meter.strip()
    if m in ("C", "C|"):
        return Fraction(1)
    match = re.match(r"^\(?\s*(\d+(?:\s*\+\s*\d+)*)\s*\)?\s*/\s*(\d+)", m)
    if not match or int(match.group(2)) == 0:
        return None
    top = sum(int(x) for x in match.group(1).split("+"))
    return Fraction(top, int(match.group(2))) if top else None


def unit_length(unit: str | None, meter: Fraction | None) -> Fraction:
    """The L: note length; by default 1/16 for meters below 3/4 and 1/8 otherwise (ABC 2.1)."""
    if unit:
        match = re.match(r"^\s*(\d+)\s*/\s*(\d+)", unit)
        if match and int(match.group(1)) and int(match.group(2)):
            return Fraction(int(match.group(1)), int(match.group(2)))
    return Fraction(1, 16) if meter is not None and meter < Fraction(3, 4) else Fraction(1, 8)


_NOTE = re.compile(r"(?:\^{1,2}|_{1,2}|=)?([A-Ga-g])[',]*(\d*)((?:/\d*)*)")
_REST = re.compile(r"[zx](\d*)((?:/\d*)*)")
_LENGTH = re.compile(r"(\d*)((?:/\d*)*)")
_BAR = re.compile(r"(?:\[\||[|:\]])+(?:\s*\[?\d+(?:[,-]\d+)*)?")
_TUPLET = re.compile(r"\((\d+)(?::(\d*))?(?::(\d*))?")
_MULTI_REST = re.compile(r"[ZX]\d*")
_BROKEN = re.compile(r">+|<+")
_INLINE_FIELD = re.compile(r"\[([A-Za-z]):([^\]]*)\]")  # [M:3/4] amid the music
_SKIP_SPANS = {'"': '"', "!": "!", "{": "}"}  # annotations, decorations, grace notes


def _multiplier(digits: str, slashes: str) -> Fraction:
    """'3/2' → 3/2, '/' → 1/2, '//' → 1/4, '' → 1 (a malformed '/0' counts as '/')."""
    value = Fraction(int(digits)) if digits else Fraction(1)
    for part in slashes.split("/")[1:]:
        value /= int(part) if part and int(part) else 2
    return value


@dataclass
class Bar:
    length: Fraction
    meter: Fraction | None
    music: bool          # holds a note or rest
    full_rest: bool      # a multi-bar rest (Z, X) fills its bars by definition
    left: str            # the bar line that opens it: "|" plain, "||" section, "" tune start
    right: str           # the bar line that closes it; "" at the tune's end


class BarReader:
    """A small ABC body scanner that adds up note lengths between bar lines (melody.py's note reader
    extends it: `add` gets each note's text, `close_bar` each bar line)."""

    def __init__(self, meter: Fraction | None, unit: Fraction, unit_given: bool):
        self.meter, self.unit, self.unit_given = meter, unit, unit_given
        self.bars: list[Bar] = []
        self._new_bar("")
        self.tuplet_left, self.tuplet_factor = 0, Fraction(1)
        self.last_note, self.next_factor = None, Fraction(1)

    def _new_bar(self, left: str) -> None:
        self.length, self.music, self.full_rest, self.overlay, self.left = Fraction(0), False, False, False, left
        self.last_note = None

    def close_bar(self, line: str) -> None:
        kind = "|" if line.strip() == "|" else "||"
        self.bars.append(Bar(self.length, self.meter, self.music, self.full_rest, self.left, kind if line else ""))
        self._new_bar(kind)

    def field(self, key: str, value: str) -> None:
        if key == "M":
            self.meter = meter_length(value)
            if not self.unit_given:
                self.unit = unit_length(None, self.meter)
        elif key == "L":
            self.unit, self.unit_given = unit_length(value, self.meter), True

    def add(self, duration: Fraction, token: str = "") -> None:
        """One note, rest or chord (`token`, as written) of `duration` whole notes (before tuplets and broken rhythm)."""
        if self.tuplet_left:
            duration *= self.tuplet_factor
            self.tuplet_left -= 1
        duration *= self.next_factor
        self.next_factor = Fraction(1)
        self.music = True
        if not self.overlay:
            self.length += duration
            self.last_note = duration

    def broken(self, run: str) -> None:
        """a>b: a is lengthened by half (>> three quarters …) and b shortened to match."""
        shorter = Fraction(1, 2 ** len(run))
        first, second = (2 - shorter, shorter) if run[0] == ">" else (shorter, 2 - shorter)
        if self.last_note is not None and not self.overlay:
            self.length += self.last_note * (first - 1)
        self.next_factor = second

    def tuplet(self, p: int, q: str | None, r: str | None) -> None:
        compound = self.meter is not None and self.meter.numerator % 3 == 0 and self.meter.numerator > 3
        default_q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(p, 3 if compound else 2)
        q_value = int(q) if q else default_q
        if p and q_value:
            self.tuplet_factor, self.tuplet_left = Fraction(q_value, p), int(r) if r else p

    def feed(self, text: str) -> None:
        """Read one line of music (bars, tuplets and ties carry on to the next line)."""
        i = 0
        while i < len(text):
            i = self._step(text, i)

    def finish(self) -> list[Bar]:
        if self.music:
            self.close_bar("")
        return self.bars

    def _step(self, s: str, i: int) -> int:
        c = s[i]
        if c in _SKIP_SPANS:
            end = s.find(_SKIP_SPANS[c], i + 1)
            if end < 0 or (c == "!" and ("|" in s[i:end] or end - i > 40)):
                return i + 1  # unclosed, or '!' used as an old line break
            return end + 1
        if c == "[":
            m = _INLINE_FIELD.match(s, i)
            if m:
                self.field(m.group(1), m.group(2))
                return m.end()
            if s.startswith("[|", i):
                return self._bar_line(s, i)
            if i + 1 < len(s) and s[i + 1].isdigit():
                return i + 1  # a variant ending [1, [2 starts no new bar
            return self._chord(s, i)
        if c in "|:" or c == "]":
            return self._bar_line(s, i)
        if c == "(":
            m = _TUPLET.match(s, i)
            if m:
                self.tuplet(int(m.group(1)), m.group(2), m.group(3))
                return m.end()
            return i + 1
        m = _NOTE.match(s, i) or _REST.match(s, i)
        if m:
            digits, slashes = m.groups()[-2:]
            self.add(self.unit * _multiplier(digits, slashes), m.group(0))
            return m.end()
        if c in "ZX":
            self.music = self.full_rest = True
            return _MULTI_REST.match(s, i).end()
        if c in "<>":
            m = _BROKEN.match(s, i)
            self.broken(m.group(0))
            return m.end()
        if c == "&":
            self.overlay = True  # a second voice in this bar: only the first is measured
        return i + 1

    def _bar_line(self, s: str, i: int) -> int:
        m = _BAR.match(s, i)
        if not m:
            return i + 1
        token = m.group(0)
        if "|" not in token and "::" not in token:
            return m.end()  # a stray ':' or ']'
        self.close_bar(token)
        return m.end()

    def _chord(self, s: str, i: int) -> int:
        end = s.find("]", i + 1)
        if end < 0:
            return i + 1
        inner = _ANNOTATIONS.sub("", s[i + 1 : end])
        first = _NOTE.search(inner)
        m = _LENGTH.match(s, end + 1)
        if first:
            self.add(self.unit * _multiplier(*first.groups()[-2:]) * _multiplier(*m.groups()), s[i : m.end()])
        return m.end()


def bar_lengths(tune: str) -> list[Bar]:
    """The bars of a tune's body with their summed note lengths (whole notes)."""
    return read_body(tune).bars


def read_body(tune: str, reader_class: type[BarReader] = BarReader) -> BarReader:
    """A bar reader (or a subclass) fed the tune's body line by line, finished."""
    fields = header_fields(tune)
    meter = meter_length(fields.get("M"))
    reader = reader_class(meter, unit_length(fields.get("L"), meter), bool(fields.get("L")))
    for line in body(tune).split("\n"):
        line = line.split("%", 1)[0].rstrip().rstrip("\\")
        field = field_line(line)
        if field and field[0] != "+":  # a field line between music lines (M:, L:, w: lyrics, P: …)
            reader.field(*field)
        else:  # music; a `+:` line too
            reader.feed(line + " ")
    reader.finish()
    return reader


def bar_check(tune: str) -> tuple[int, float]:
    """(bars judged, share of them whose length equals the meter).

    Short bars at the start, the end and beside section or repeat lines are pickups and not
    judged; a tune without a meter, or without bars to judge, scores NaN.
    """
    bars = [b for b in bar_lengths(tune) if b.music]
    judged = matched = 0
    for k, bar in enumerate(bars):
        if bar.meter is None:
            continue
        if bar.full_rest or bar.length == bar.meter:
            judged, matched = judged + 1, matched + 1
            continue
        edge = k == 0 or k == len(bars) - 1 or "||" in (bar.left, bar.right)
        if bar.length < bar.meter and edge:
            continue
        judged += 1
    return judged, (matched / judged if judged else math.nan)
