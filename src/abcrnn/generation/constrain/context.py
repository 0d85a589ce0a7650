"""What a decoder knows about a tune before it reads a note: the strength of the constraint, the
meter, unit and key of its header, its form plan (bar by bar: Slot), and which bar lengths the note
lengths it writes can fill (in integer ticks); and the limits every decoded tune keeps."""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from abcrnn.notation.grammar import multiplier
from abcrnn.notation.melody import Key

ABC, METER, FORM = 1, 2, 3

# Note lengths the decoders write (in units of L:): the lengths of nearly every note in the corpus.
DURATIONS = ("", "2", "3", "4", "6", "8", "12", "16", "/", "/2", "//", "/4", "3/2", "3/", "3/4")
DURATION_PREFIXES = {d[:k] for d in DURATIONS for k in range(len(d) + 1)}
# Decorations abcm2ps defines (an unknown !name! is an abcm2ps error), and the one-character ones.
DECORATIONS = ("trill", "roll", "fermata", "accent", "emphasis", "tenuto", "mordent", "turn", "upbow",
               "downbow", "segno", "coda", "breath")
DECORATION_PREFIXES = {d[:k] for d in DECORATIONS for k in range(len(d) + 1)}
SHORT_DECORATIONS = "~."
# Bar lines the decoders write, with the ending a bar line may open (`|1`, `:|2`, or `[1`, `[2` after it).
# (No `:|:`: abc2midi reads it as a repeat's end only.)
WORDS = ("|", "||", "|]", "|:", ":|", "::", ":||:", "|1", ":|2")
WORD_PREFIXES = {w[:k] for w in WORDS for k in range(1, len(w) + 1)}
OPENS = {"|:", "::", ":||:"}
CLOSES = {":|", "::", ":||:", ":|2"}
MAX_CHORD_SYMBOL = 10
END_TAG = "<end>"
# A line breaks after this many bars, or at the first bar line after this many notes or characters.
# The default corpus's lines hold 5 bar lines, 25 notes and 52 characters (median; 90 %: 6, 34, 78),
# and the model counts phrases by its lines, so these leave it its own layout; the characters bound
# what abcm2ps can fit of dense text (random allowed symbols: no error at 64, errors from 72; it
# wraps a long line at its bar lines, but not every such line). Limits of 4 bars and 24 notes broke
# every reel's line after 3 bars and left the abc and meter sets without their four-bar parts.
MAX_LINE_BARS, MAX_LINE_NOTES, MAX_LINE_CHARS = 8, 40, 64
MAX_BAR_NOTES = 12  # without a meter to fill (ABC alone), a bar holds at most this many notes
MAX_BAR_PREFIXES = 4  # chord symbols, grace notes and decorations in a bar
# abc2midi's accompaniment, once a chord symbol has started it, plays at least this long a bar: a
# tune with chord symbols may not end with a shorter bar ("Sustained notes beyond end of track").
CHORD_BAR = Fraction(1, 4)

SEP, ACC, NOTE, REST, BAR, BRACKET, ENDING, PAREN, TUPLET, QUOTE, BANG, GRACE, CHORD, CHORD_LEN, BROKEN, TAG, \
    DONE = range(17)


@dataclass(frozen=True)
class Slot:
    """One bar of a form plan: its length, the bar lines that may close it, whether a `|:` must come
    before its first note, and whether it is the tune's last bar."""
    length: Fraction
    words: frozenset
    opens: bool = False
    last: bool = False


@dataclass(eq=False)
class Context:
    """What every stream of one tune header shares: the strength, meter, unit, key, and form plan.

    The reader counts lengths in integer ticks (an eighth of the unit note length, or a finer
    divisor of the meter), so that following a bar is integer arithmetic: `ticks(x)`."""
    level: int
    meter: Fraction | None
    unit: Fraction
    key: Key
    slots: tuple[Slot, ...] = ()

    def __post_init__(self):
        if self.meter is None and self.level > ABC:
            self.level = ABC  # free meter (M:none): no bar to fill
        if self.level == FORM and not self.slots:
            self.level = METER  # no plan: the meter alone
        tick = self.unit / 8
        for x in ([self.meter] if self.meter else []) + [s.length for s in self.slots]:
            tick = _gcd(tick, x)
        self.tick = tick
        self.dur_t = {d: self.ticks(self.unit * multiplier(d)) for d in DURATIONS}  # each length, in ticks
        self.lengths = tuple(sorted(set(self.dur_t.values())))
        self.meter_t = self.ticks(self.meter) if self.meter is not None else None
        self.slot_t = tuple(self.ticks(s.length) for s in self.slots)
        self.chord_bar = math.ceil(CHORD_BAR / tick)
        longest = max([self.meter_t or 0, *self.slot_t, 1]) * 2
        self.fill = _fillable(self.lengths, longest)
        self._fits: dict[tuple[str, int], bool] = {}
        # What mask rows of this tune share with other tunes' (the plan enters keys bar by bar)
        self.family = (self.level, self.meter, self.unit, self.key.tonic, self.key.fifths,
                       tuple(sorted(self.key.signature.items())), bool(self.slots))

    def ticks(self, length: Fraction) -> int:
        return int(length / self.tick)

    @property
    def tonic(self) -> int:
        return self.key.tonic

    def fillable(self, rest: int) -> bool:
        """Whether `rest` ticks are a sum of note lengths the decoders write (0 is)."""
        return 0 <= rest < len(self.fill) and self.fill[rest]

    def fits(self, written: str, room: int) -> bool:
        """Whether a note whose length is written so far as `written` ('', '3', '3/' …) can be completed
        to a length of DURATIONS that leaves a fillable rest of `room` ticks (cached)."""
        found = self._fits.get((written, room))
        if found is None:
            found = self._fits[(written, room)] = any(
                d.startswith(written) and self.dur_t[d] <= room and self.fillable(room - self.dur_t[d])
                for d in DURATIONS)
        return found


def _gcd(a: Fraction, b: Fraction) -> Fraction:
    return Fraction(math.gcd(a.numerator * b.denominator, b.numerator * a.denominator), a.denominator * b.denominator)


def _fillable(lengths: tuple[int, ...], longest: int) -> bytearray:
    """reach[r] for r in 0..longest: r is a sum of `lengths` (dynamic programming)."""
    reach = bytearray(longest + 1)
    reach[0] = 1
    for total in range(1, longest + 1):
        reach[total] = any(p <= total and reach[total - p] for p in lengths)
    return reach

