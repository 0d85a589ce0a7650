"""The bar reader: adds up the notes of each bar of a tune's body to judge it against the meter.

`BarReader` reads lines of music through grammar.lex and calls one hook per mark. Subclasses
extend the hooks (melody.NoteReader keeps each note's pitch; the validity measures count the marks
that write no note), never the reading itself:

* `field(key, value)`: a field amid the music (`M:`, `L:` change meter and unit length);
* `add(duration, text, lexeme)`: a note, rest or chord of `duration` whole notes (before tuplets
  and broken rhythm are applied); `text` is what was written, `lexeme` its grammar.Lexeme;
* `broken(run)`: `>` or `<` after the last note; `tuplet(p, q, r)`: `(p:q:r`;
* `tie()`: `-` after a note; `close_bar(line)`: a bar line (`line` as written, its ending too);
* `other(lexeme, line)`: any other mark (spans, endings, slurs, single characters).

`read_body(tune, reader)` feeds a tune's body line by line and returns the finished reader;
`bar_lengths` and `bar_check` are what the validity table uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from abcrnn.notation.grammar import Lexeme, broken_factors, chord_note, lex, multiplier, tuplet_ratio
from abcrnn.notation.tunes import body, field_line, header_fields, meter_length, unit_length


@dataclass
class Bar:
    length: Fraction
    meter: Fraction | None
    music: bool          # holds a note or rest
    full_rest: bool      # a multi-bar rest (Z, X) fills its bars by definition
    left: str            # the bar line that opens it: "|" plain, "||" section, "" tune start
    right: str           # the bar line that closes it; "" at the tune's end


class BarReader:
    """Adds up note lengths between bar lines (see the module's docstring for the hooks)."""

    def __init__(self, meter: Fraction | None, unit: Fraction, unit_given: bool):
        self.meter, self.unit, self.unit_given = meter, unit, unit_given
        self.bars: list[Bar] = []
        self.tuplet_left, self.tuplet_factor = 0, Fraction(1)
        self.next_factor = Fraction(1)
        self.new_bar("")

    # --- hooks ------------------------------------------------------------------------------
    def new_bar(self, left: str) -> None:
        """Start a bar after the bar line `left` ("" at the tune's start)."""
        self.length, self.music, self.full_rest, self.overlay, self.left = Fraction(0), False, False, False, left
        self.last_note = None

    def close_bar(self, line: str) -> None:
        kind = "|" if line.strip() == "|" else "||"
        self.bars.append(Bar(self.length, self.meter, self.music, self.full_rest, self.left, kind if line else ""))
        self.new_bar(kind)

    def field(self, key: str, value: str) -> None:
        if key == "M":
            self.meter = meter_length(value)
            if not self.unit_given:
                self.unit = unit_length(None, self.meter)
        elif key == "L":
            self.unit, self.unit_given = unit_length(value, self.meter), True

    def add(self, duration: Fraction, text: str = "", lexeme: Lexeme | None = None) -> None:
        """One note, rest or chord (`text`, as written) of `duration` whole notes (before tuplets and broken rhythm)."""
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
        first, second = broken_factors(run)
        if self.last_note is not None and not self.overlay:
            self.length += self.last_note * (first - 1)
        self.next_factor = second

    def tuplet(self, p: int, q: str | None, r: str | None) -> None:
        if p:
            factor, count = tuplet_ratio(p, q, r, self.meter)
            if factor:
                self.tuplet_factor, self.tuplet_left = factor, count

    def tie(self) -> None:
        """`-`: the note before is held into the next (lengths are added as written either way)."""

    def other(self, lexeme: Lexeme, line: str) -> None:
        """A mark that changes no length: a span, an ending, a slur, a single character."""

    # --- reading --------------------------------------------------------------------------------
    def feed(self, text: str) -> None:
        """Read one line of music (bars, tuplets and ties carry on to the next line)."""
        for lexeme in lex(text):
            self.read(lexeme, text)

    def read(self, lx: Lexeme, line: str) -> None:
        """Call the hook of one lexeme of `line`."""
        kind, text = lx.kind, line[lx.start : lx.end]
        if kind == "note":
            self.add(self.unit * multiplier(lx.parts[3]), text, lx)
        elif kind == "rest":
            self.add(self.unit * multiplier(lx.parts[0]), text, lx)
        elif kind == "chord":
            first = chord_note(lx.parts[0])
            if first:
                self.add(self.unit * multiplier(first.group(4) or "") * multiplier(lx.parts[1]), text, lx)
            else:
                self.other(lx, line)
        elif kind == "bar":
            self.close_bar(text)
        elif kind == "field":
            self.field(*lx.parts)
        elif kind == "tuplet":
            self.tuplet(*lx.parts)
        elif kind == "broken":
            self.broken(text)
        elif kind == "multirest":
            self.music = self.full_rest = True
        elif kind == "tie":
            self.tie()
        elif kind == "overlay":
            self.overlay = True  # a second voice in this bar: only the first is measured
        else:
            self.other(lx, line)

    def finish(self) -> list[Bar]:
        if self.music:
            self.close_bar("")
        return self.bars


def read_body(tune: str, reader_class=BarReader) -> BarReader:
    """A bar reader (or a subclass, or a function of (meter, unit, unit_given) making one) fed the
    tune's body line by line, finished."""
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


def bar_lengths(tune: str) -> list[Bar]:
    """The bars of a tune's body with their summed note lengths (whole notes)."""
    return read_body(tune).bars


def bar_check(tune: str, failing: frozenset = frozenset()) -> tuple[int, float]:
    """(bars judged, share of them whose length equals the meter).

    Short bars at the start, the end and beside section or repeat lines are pickups and not
    judged; a tune without a meter, or without bars to judge, scores NaN. The bars numbered in
    `failing` (as bar_lengths numbers them: defects.Defects.bars, bars holding marks that write no
    note) are judged and fail, whatever their length.
    """
    numbered = [(i, b) for i, b in enumerate(bar_lengths(tune)) if b.music]
    bars = [b for _, b in numbered]
    judged = matched = 0
    for k, (index, bar) in enumerate(numbered):
        if bar.meter is None:
            continue
        if index in failing:
            judged += 1
            continue
        if bar.full_rest or bar.length == bar.meter:
            judged, matched = judged + 1, matched + 1
            continue
        edge = k == 0 or k == len(bars) - 1 or "||" in (bar.left, bar.right)
        if bar.length < bar.meter and edge:
            continue
        judged += 1
    return judged, (matched / judged if judged else math.nan)
