"""Masks for grammar-aware sampling: which symbols of a vocabulary each stream may take next.

`Decoder` follows n streams sampled together. A stream's header (up to its K: line) is free; from
there a tune.Reader follows the body, and a symbol (one character, or an ABC token of several) is
allowed when every character of it keeps the text completable into a valid tune. Mask rows are
cached by the reader's key (tune.Reader.key: what the allowed characters depend on), per vocabulary
and for the life of the process; a row is computed once per distinct state, trying each first
character once and the longer symbols only after a first character that is allowed.

With `level` FORM, `plan_for(stream, header)` gives each stream its form plan once its header is
complete (forms.PlanBook.draw); a stream without a plan, or whose header has no meter, is decoded
at the strongest level it can be. A stream with no allowed symbol (which the reader's lookahead
should make impossible) gets every symbol but <unk>, and `fallbacks` counts it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch

from abcrnn.generation.constrain.forms import Plan, slots
from abcrnn.generation.constrain.context import ABC, DONE, FORM, METER, TAG, Context
from abcrnn.generation.constrain.tune import Reader
from abcrnn.notation.melody import parse_key
from abcrnn.notation.tunes import (
    END,
    START,
    header_fields,
    is_key_line,
    meter_length,
    unit_length,
)

LEVELS = {"abc": ABC, "meter": METER, "form": FORM}
_HEADER, _BODY, _DONE = range(3)
_ROWS: dict[tuple[str, ...], dict[tuple, torch.Tensor]] = {}
_CONTEXTS: dict[tuple, Context] = {}
MAX_ROWS = 200_000  # mask rows kept per vocabulary (then the cache starts afresh)


def clear_cache() -> None:
    """Forget the cached mask rows (masks are the same either way, only slower to come)."""
    _ROWS.clear()


def context(level: int, header: str, plan: Plan | None = None) -> Context:
    """The shared Context of a tune header (one object per distinct header meaning and plan)."""
    fields = header_fields(header)
    meter = meter_length(fields.get("M"))
    unit = unit_length(fields.get("L"), meter)
    key = parse_key(fields.get("K"))
    planned = slots(plan, meter) if plan is not None and meter is not None else ()
    index = (level, meter, unit, key.tonic, key.fifths, tuple(sorted(key.signature.items())), planned)
    found = _CONTEXTS.get(index)
    if found is None:
        found = _CONTEXTS[index] = Context(level, meter, unit, key, planned)
    return found


class _Stream:
    __slots__ = ("phase", "header", "line", "reader", "plan", "fallbacks")

    def __init__(self):
        self.phase, self.header, self.line, self.reader, self.plan, self.fallbacks = _HEADER, [], "", None, None, 0


class Decoder:
    """Masks for n streams over the vocabulary `symbols` (index 0, <unk>, never allowed).

    Each step: `mask()` ((n, V) bool, True = allowed), then `advance(ids)` with the chosen symbols.
    """

    def __init__(self, symbols: Sequence[str], primes: Sequence[str], level: str,
                 plan_for: Callable[[int, str], Plan | None] | None = None):
        if level not in LEVELS:
            raise ValueError(f"unknown constraint {level!r}")
        self.symbols = list(symbols)
        self.texts = ["", *self.symbols[1:]]
        self.level, self.plan_for = LEVELS[level], plan_for
        self.rows = _ROWS.setdefault(tuple(self.symbols), {})
        self.end_symbol = END in self.symbols  # <end> is one symbol (else spelled in characters)
        # Symbols by first character, then by text; and by the shape of their text where note letters
        # of a case (and `^`, `_`) are alike (tune.Reader.canonical says when they are).
        self.exact = _grouped({i: text for i, text in enumerate(self.texts) if i and text})
        self.shapes = _grouped({i: _shape(text) for i, text in enumerate(self.texts) if i and text})
        self.free = torch.ones(len(self.symbols), dtype=torch.bool)
        if len(self.symbols) > 1:
            self.free[0] = False
        self.streams = [_Stream() for _ in primes]
        for k, (stream, prime) in enumerate(zip(self.streams, primes)):
            self._feed(k, stream, prime)
        self._mask: torch.Tensor | None = None

    # --- the caller's interface -----------------------------------------------------------------
    def mask(self) -> torch.Tensor:
        if self._mask is None:
            if len(self.rows) > MAX_ROWS:
                self.rows.clear()
            rows = []
            for stream in self.streams:
                if stream.phase != _BODY:
                    rows.append(self.free)
                    continue
                key = stream.reader.key()
                row = self.rows.get(key)
                if row is None:
                    row = self.rows[key] = self._row(stream.reader)
                if not row.any():
                    stream.fallbacks += 1
                    row = self.free
                rows.append(row)
            self._mask = torch.stack(rows) if rows else torch.ones(0, len(self.symbols), dtype=torch.bool)
        return self._mask

    def advance(self, ids) -> None:
        if isinstance(ids, torch.Tensor):
            ids = ids.reshape(-1).tolist()
        for k, (stream, i) in enumerate(zip(self.streams, ids)):
            self._feed(k, stream, self.texts[int(i)])
        self._mask = None

    def close(self, k: int) -> None:
        """Stream k nears its length limit: its next bar line must end the tune (tune.Reader.start_closing; the
        caller asks again each step until it takes)."""
        stream = self.streams[k]
        if stream.phase == _BODY and not stream.reader.closing and stream.reader.start_closing():
            self._mask = None

    @property
    def fallbacks(self) -> list[int]:
        """Per stream, the steps at which no symbol was allowed (and every one was)."""
        return [s.fallbacks for s in self.streams]

    @property
    def plans(self) -> list[str]:
        """Per stream, its form plan as text ('' without one)."""
        return [str(s.plan) if s.plan is not None else "" for s in self.streams]

    # --- following the text -----------------------------------------------------------------------
    def _feed(self, k: int, stream: _Stream, text: str) -> None:
        for c in text:
            if stream.phase == _DONE:
                return
            if stream.phase == _BODY:
                if not stream.reader.step(c):  # a fallback's symbol: read on as from a fresh body
                    stream.reader = Reader(stream.reader.ctx)
                elif stream.reader.mode == DONE:
                    stream.phase = _DONE
                continue
            stream.line += c
            if stream.line.endswith(END):
                stream.phase = _DONE
            elif c == "\n":
                line = stream.line[:-1]
                if START in line:
                    stream.header, line = [], line[line.rindex(START) + len(START):]
                stream.header.append(line)
                stream.line = ""
                if is_key_line(line):
                    header = "\n".join(stream.header)
                    if self.level == FORM and self.plan_for is not None:
                        stream.plan = self.plan_for(k, header)
                    stream.reader = Reader(context(self.level, header, stream.plan))
                    stream.phase = _BODY

    def _row(self, reader: Reader) -> torch.Tensor:
        allowed = bytearray(len(self.symbols))
        for c, texts in (self.shapes if reader.canonical() else self.exact).items():
            after = reader.copy()
            if not after.step(c):
                continue
            for text, indices in texts.items():
                end = after
                if len(text) > 1:
                    end = after.copy()
                    if not all(end.step(ch) for ch in text[1:]):
                        continue
                if end.mode == TAG and self.end_symbol:  # spelled in pieces, the sampler would not see it
                    continue
                for i in indices:
                    allowed[i] = 1
        return torch.frombuffer(allowed, dtype=torch.uint8).bool()


_SHAPE = str.maketrans("ABCDEFGabcdefg", "CCCCCCCccccccc")
_PITCHLIKE = re.compile(r"(?:\^{1,2}|_{1,2}|=)?[A-Ga-g]?[',]*")


def _shape(text: str) -> str:
    """A symbol's text with note letters and `^`/`_` made one, for symbols that are pitches,
    accidentals or single characters; other symbols (chord symbols, decorations, tags) as they are."""
    return text.translate(_SHAPE) if len(text) == 1 or _PITCHLIKE.fullmatch(text) else text


def _grouped(texts: dict[int, str]) -> dict[str, dict[str, list[int]]]:
    """{first character: {text: [symbol indices]}}."""
    out: dict[str, dict[str, list[int]]] = {}
    for i, text in texts.items():
        out.setdefault(text[0], {}).setdefault(text, []).append(i)
    return out
