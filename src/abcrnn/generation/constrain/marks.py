"""The reader's rules for the marks before a note: chord symbols (names abc2midi knows), grace notes,
decorations, slurs and chords, in the order and number abc2midi and abcm2ps read."""

from __future__ import annotations

from functools import lru_cache

from abcrnn.generation.constrain.context import (
    CHORD,
    CHORD_LEN,
    DECORATION_PREFIXES,
    DECORATIONS,
    ENDING,
    GRACE,
    MAX_BAR_PREFIXES,
    MAX_CHORD_SYMBOL,
    SEP,
)
from abcrnn.notation.grammar import CHORD_NAMES, CHORD_SYMBOL, full
from abcrnn.notation.melody import LETTER_PC


class Marks:
    """The reader's rules for the marks before a note: chord symbols (names abc2midi knows), grace notes, (a part of tune.Reader, whose state it reads and changes)."""

    def open_slur(self) -> bool:
        ok = not self.slur and self.tuplet_left == 0 and self.broken_next is None
        self.slur, self.need_note, self.last = True, True, "slur"
        return ok

    def prefix_ok(self, stage: int) -> bool:
        """Whether a chord symbol (stage 1), grace notes (2) or a decoration (3) may come next."""
        if self.tuplet_left or self.broken_next is not None or self.tie is not None:
            return False
        return self.prefix[0] < stage and self.bar_prefixes < MAX_BAR_PREFIXES

    def add_prefix(self, stage: int) -> None:
        self.chords = self.chords or stage == 1
        self.prefix = (stage, self.prefix[1] or stage == 2)
        self.need_note, self.last = True, "prefix"
        self.bar_prefixes += 1

    def quote(self, c: str) -> bool:
        self.pending += c
        if c == '"':
            if self.pending not in _chord_symbols()[0]:
                return False
            self.mode, self.pending = SEP, ""
            self.add_prefix(1)
            return True
        return len(self.pending) <= MAX_CHORD_SYMBOL and _chord_symbol_prefix(self.pending)

    def bang(self, c: str) -> bool:
        name = self.pending[1:]
        if c == "!":
            if name not in DECORATIONS:
                return False
            self.mode, self.pending = SEP, ""
            self.add_prefix(3)
            return True
        self.pending += c
        return name + c in DECORATION_PREFIXES

    def inside(self, c: str) -> bool:
        """Grace notes {gag} and chords [ceg]: 1-4 (chords 2-4) pitches, no lengths inside."""
        text, closer = self.pending, "}" if self.mode == GRACE else "]"
        inner = text[1:]
        count = sum(ch.upper() in LETTER_PC for ch in inner)
        if c == closer:
            if inner[-1:] in ("^", "_", "=") or count < (1 if closer == "}" else 2):
                return False
            if closer == "}":
                self.mode, self.pending = SEP, ""
                self.add_prefix(2)
                return True
            self.mode, self.pending = CHORD_LEN, text + c
            return self.alive()
        if c in "^_=":
            ok = inner[-1:] not in ("^", "_", "=") or (c == inner[-1] and c != "=" and inner[-2:-1] not in ("^", "_"))
            self.pending += c
            return ok and count < 4
        if c.upper() in LETTER_PC:
            self.pending += c
            return count < 4
        if c in "',":
            ok = inner[-1:].upper() in LETTER_PC and c == ("'" if inner[-1].islower() else ",")
            self.pending += c
            return ok
        return False

    def bracket(self, c: str) -> bool:
        """After `[`: a digit makes an ending of the bar line just written; a note starts a chord."""
        if c.isdigit():
            self.mode, self.pending = ENDING, "[" + c
            return self.alive()
        if c in "^_=" or c.upper() in LETTER_PC:
            if not self.some_chord() or self.line_breaks(since=1):  # (`[` after a full line's bar line: an ending)
                return False
            self.mode, self.pending = CHORD, "["
            return self.inside(c)
        return False


_is_chord_symbol = full(CHORD_SYMBOL)

@lru_cache(maxsize=1)
def _chord_symbols() -> tuple[frozenset, frozenset]:
    """The chord symbols the decoders write (all of them chord symbols by grammar.CHORD_SYMBOL), and
    their beginnings."""
    roots = [r + a for r in "ABCDEFG" for a in ("", "#", "b")]
    symbols = {f'"{r}{q}{b}"' for r in roots for q in CHORD_NAMES for b in ["", *("/" + x for x in roots)]}
    symbols = {s for s in symbols if _is_chord_symbol(s) and len(s) <= MAX_CHORD_SYMBOL}
    return frozenset(symbols), frozenset(s[:k] for s in symbols for k in range(1, len(s) + 1))


def _chord_symbol_prefix(text: str) -> bool:
    """Whether `text` ('"A', '"Am', '"D/F' …) can still become a chord symbol."""
    return text in _chord_symbols()[1]
