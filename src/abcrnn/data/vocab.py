"""Vocabulary built from the training split: characters (the paper) or ABC tokens (folk-rnn).

unit `char`: every symbol is one character. Two modes for the corpus tags: `chars` spells <start>
and <end> with ordinary characters, as in the paper; `token` makes each tag one symbol.

unit `token`: the ABC tokens of tokens.py that the training text has at least `min_count` times,
plus every character it has, so that any text over those characters can be spelled: a token outside
the vocabulary is encoded as its characters, one symbol each. The tags are always one symbol here.

Index 0 is always <unk>, for characters that the training split never had. `corpus` labels the
corpus variant the vocabulary was built from (e.g. "all", or the header fields kept); it is only
stored.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from abcrnn.notation.tunes import END, START
from abcrnn.errors import AbcrnnError
from abcrnn.notation.tokens import tokenize as abc_tokens

UNK = "<unk>"
TAG_MODES = ("chars", "token")
UNITS = ("char", "token")
_TAG_SPLIT = re.compile(f"({re.escape(START)}|{re.escape(END)})")


@dataclass(frozen=True)
class Vocab:
    symbols: tuple[str, ...]
    tags: str = "chars"
    unit: str = "char"
    corpus: str = "all"

    def __post_init__(self):
        if self.unit not in UNITS:
            raise AbcrnnError(f"vocab.unit: must be one of {UNITS}, got {self.unit!r}")
        if self.tags not in TAG_MODES:
            raise AbcrnnError(f"vocab.tags: must be one of {TAG_MODES}, got {self.tags!r}")
        if not isinstance(self.corpus, str) or not self.corpus:
            raise AbcrnnError(f"vocab.corpus: must be a non-empty label, got {self.corpus!r}")
        if self.unit == "token":
            object.__setattr__(self, "tags", "token")  # tags are always one token in token mode
        if not self.symbols or self.symbols[0] != UNK:
            raise AbcrnnError("vocabulary: the first symbol must be <unk>")
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(self.symbols)})
        object.__setattr__(self, "_lengths", tuple(1 if i == 0 else len(s) for i, s in enumerate(self.symbols)))

    # --- building and storage -------------------------------------------------------------
    @classmethod
    def build(cls, text: str, tags: str = "chars", unit: str = "char", corpus: str = "all",
              min_count: int = 2) -> Vocab:
        """The vocabulary of a training text. min_count (token unit only): how often a token of
        several characters must occur to be a symbol of its own; single characters always are."""
        if unit not in UNITS:
            raise AbcrnnError(f"vocab.unit: must be one of {UNITS}, got {unit!r}")
        if unit == "char":
            if tags not in TAG_MODES:
                raise AbcrnnError(f"vocab.tags: must be one of {TAG_MODES}, got {tags!r}")
            pieces = _tokenize(text, tags)
            specials = [START, END] if tags == "token" else []
            chars = sorted({p for p in pieces if p not in specials})
            return cls((UNK, *specials, *chars), tags, unit, corpus)
        if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
            raise AbcrnnError(f"vocab.min_count: must be a whole number of at least 1, got {min_count!r}")
        specials = [START, END]
        counts = Counter(abc_tokens(text))
        chars = sorted(set(text))
        tokens = sorted(t for t, n in counts.items() if n >= min_count and len(t) > 1 and t not in specials)
        return cls((UNK, *specials, *chars, *tokens), "token", unit, corpus)

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError, AbcrnnError) as exc:
            raise AbcrnnError(f"{path}: not a readable abcrnn vocabulary ({exc})") from None

    def to_dict(self) -> dict:
        return {"unit": self.unit, "tags": self.tags, "corpus": self.corpus, "size": len(self.symbols),
                "symbols": list(self.symbols)}

    @classmethod
    def from_dict(cls, data: dict) -> Vocab:
        """A vocabulary from to_dict(); one saved before units and corpus variants is unit "char",
        corpus "all"."""
        return cls(tuple(data["symbols"]), data["tags"], data.get("unit", "char"), data.get("corpus", "all"))

    def save(self, path: str | Path) -> None:
        from abcrnn.fileio import write_text

        write_text(path, json.dumps(self.to_dict(), ensure_ascii=False, indent=1) + "\n")

    # --- encoding ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.symbols)

    @property
    def unk_id(self) -> int:
        return 0

    def id(self, symbol: str) -> int:
        return self._index.get(symbol, 0)

    def tokenize(self, text: str) -> list[str]:
        """The pieces encode() gives one id each: characters, tags, or (unit token) the ABC tokens
        of the vocabulary, other tokens spelled in characters. A piece outside the vocabulary is <unk>."""
        if self.unit == "char":
            return _tokenize(text, self.tags)
        index, out = self._index, []
        for token in abc_tokens(text):
            if token in index or len(token) == 1:
                out.append(token)
            else:
                out.extend(token)
        return out

    def encode(self, text: str) -> list[int]:
        index = self._index
        return [index.get(p, 0) for p in self.tokenize(text)]

    def count_unknown(self, text: str) -> int:
        index = self._index
        return sum(1 for p in self.tokenize(text) if p not in index)

    def decode(self, ids) -> str:
        return "".join(self.symbols[int(i)] for i in ids)

    def symbol_lengths(self) -> tuple[int, ...]:
        """Characters each symbol spells, by id (<unk> counts as 1): to turn token counts into characters."""
        return self._lengths

    def chars_of(self, ids) -> int:
        """How many characters of text the ids spell (sum of their symbols' lengths, <unk> as 1):
        the denominator of a loss per character for token models."""
        lengths = self._lengths
        if hasattr(ids, "tolist"):  # a tensor or array: plain ints, not one tensor per element
            ids = ids.tolist()
        return sum(lengths[i] for i in ids)


def _tokenize(text: str, tags: str) -> list[str]:
    if tags == "chars":
        return list(text)
    out: list[str] = []
    for part in _TAG_SPLIT.split(text):
        if part in (START, END):
            out.append(part)
        else:
            out.extend(part)
    return out
