"""Marks that write no note: what a valid tune never holds, whatever its bars add up to.

Two kinds, read with the bar reader (bars.BarReader) so that each is placed in its bar:

* a sign without its note: an accidental with no note after it (`^ c` or `^|`), a chord symbol,
  decoration or grace notes with no note after them in their bar (`"G"|`, `~~|`), an empty chord
  symbol `""`, a tie with no note after it, broken rhythm without a note on both sides, a tuplet
  `(3` with fewer notes than it counts before the bar line (slurs and free text annotations are
  neither signs nor notes);
* a run of marks without a note: more than NOTELESS_RUN marks in a row (spaces aside) none of which
  is a note, rest or chord — `^^^^^^^^`, `(3(3(3(3`, `||||||`.

`defects(tune)` counts both and names the bars that hold them; the validity table calls a tune
with any of them invalid, and judges its defective bars as not fitting the meter.
"""

from __future__ import annotations

from dataclasses import dataclass

from abcrnn.notation.bars import BarReader, read_body
from abcrnn.notation.grammar import CHORD_SYMBOL, Lexeme, chord_note, full

NOTELESS_RUN = 8  # marks in a row without a note (real tunes: a bar line, an ending, a chord symbol,
#                   a decoration and grace notes before a note are at most 5)
DECORATION_CHARS = set("~.HLMOPSTuv")  # one-character decorations of ABC 2.1
_is_chord_symbol = full(CHORD_SYMBOL)  # any other "text" is an annotation: free text


@dataclass(frozen=True)
class Defects:
    stray_signs: int       # signs without their note
    longest_run: int       # the longest run of marks without a note
    bars: frozenset        # indices (as bars.bar_lengths numbers them) of the bars that hold a defect

    @property
    def noteless_run(self) -> bool:
        return self.longest_run > NOTELESS_RUN

    @property
    def any(self) -> bool:
        return bool(self.stray_signs) or self.noteless_run


class DefectReader(BarReader):
    """The bar reader that also watches every mark for the defects above."""

    def __init__(self, meter, unit, unit_given):
        super().__init__(meter, unit, unit_given)
        self.stray, self.run, self.longest, self.bad = 0, 0, 0, set()
        self.waiting = ""          # "prefix" (chord symbol, decoration, grace notes), "tie" or "broken": waits for a note
        self.tuplet_needs = 0      # notes a tuplet still counts
        self.last = ""             # the kind of the last mark (spaces aside)

    def _defect(self) -> None:
        self.stray += 1
        self.bad.add(len(self.bars))

    def read(self, lx: Lexeme, line: str) -> None:
        text, kind = line[lx.start:lx.end], lx.kind
        if (kind == "char" and (text.isspace() or text == ")")) or kind == "slur" or (
                kind == "span" and text[0] == '"' and text != '""' and not _is_chord_symbol(text)):
            return super().read(lx, line)  # spaces, slurs and free text annotations write nothing, nor harm
        note = kind in ("note", "rest", "multirest") or (kind == "chord" and chord_note(lx.parts[0]) is not None)
        if note:
            self.run, self.waiting = 0, ""
            self.tuplet_needs = max(0, self.tuplet_needs - 1)
        else:
            self.run += 1
            if self.run > NOTELESS_RUN:
                self.bad.add(len(self.bars))
            self.longest = max(self.longest, self.run)
            if kind == "bar":
                if self.waiting in ("prefix", "broken") or self.tuplet_needs:
                    self._defect()  # a chord symbol, decoration, broken rhythm or tuplet short of its note
                    self.tuplet_needs = 0
                if self.waiting != "tie":
                    self.waiting = ""
            elif kind == "span" or (kind == "char" and text in DECORATION_CHARS):
                if text == '""':
                    self._defect()
                self.waiting = "prefix"
            elif kind == "char" and text in "^_=":
                self._defect()  # an accidental with no note
            elif kind in ("tie", "broken"):  # (`d>-c`, `G-<E`: a tie and broken rhythm may go together)
                if self.waiting == kind or self.last not in ("note", "tie", "broken"):
                    self._defect()  # a tie or broken rhythm with no note before it
                self.waiting = "broken" if "broken" in (kind, self.waiting) else "tie"
            elif kind == "tuplet":
                if self.tuplet_needs:
                    self._defect()  # a tuplet inside a tuplet
                self.tuplet_needs = lx.parts[0] or 0
        self.last = "note" if note else kind
        super().read(lx, line)

    def finish(self):
        if self.waiting or self.tuplet_needs:
            self._defect()  # the tune ends waiting for a note
        return super().finish()


def defects(tune: str) -> Defects:
    """The stray signs and runs without notes of a tune's body."""
    reader = read_body(tune, DefectReader)
    return Defects(reader.stray, reader.longest, frozenset(reader.bad))
