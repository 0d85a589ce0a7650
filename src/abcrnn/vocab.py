"""Character vocabulary built from the training split.

Two modes for the corpus tags: `chars` spells <start> and <end> with ordinary characters, as in the
paper; `token` makes each tag one symbol. Index 0 is always <unk>, for characters that the training
split never had.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .abc import END, START
from .errors import AbcrnnError

UNK = "<unk>"
TAG_MODES = ("chars", "token")
_TAG_SPLIT = re.compile(f"({re.escape(START)}|{re.escape(END)})")


@dataclass(frozen=True)
class Vocab:
    symbols: tuple[str, ...]
    tags: str = "chars"

    def __post_init__(self):
        if self.tags not in TAG_MODES:
            raise AbcrnnError(f"vocab.tags: must be one of {TAG_MODES}, got {self.tags!r}")
        if not self.symbols or self.symbols[0] != UNK:
            raise AbcrnnError("vocabulary: the first symbol must be <unk>")
        object.__setattr__(self, "_index", {s: i for i, s in enumerate(self.symbols)})

    # --- building and storage -------------------------------------------------------------
    @classmethod
    def build(cls, text: str, tags: str = "chars") -> "Vocab":
        pieces = _tokenize(text, tags)
        specials = [START, END] if tags == "token" else []
        chars = sorted({p for p in pieces if p not in specials})
        return cls(tuple([UNK, *specials, *chars]), tags)

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(tuple(data["symbols"]), data["tags"])
        except (OSError, ValueError, KeyError, TypeError, AbcrnnError) as exc:
            raise AbcrnnError(f"{path}: not a readable abcrnn vocabulary ({exc})") from None

    def to_dict(self) -> dict:
        return {"tags": self.tags, "size": len(self.symbols), "symbols": list(self.symbols)}

    @classmethod
    def from_dict(cls, data: dict) -> "Vocab":
        return cls(tuple(data["symbols"]), data["tags"])

    def save(self, path: str | Path) -> None:
        from .fileio import write_text

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
        return _tokenize(text, self.tags)

    def encode(self, text: str) -> list[int]:
        index = self._index
        return [index.get(p, 0) for p in _tokenize(text, self.tags)]

    def count_unknown(self, text: str) -> int:
        index = self._index
        return sum(1 for p in _tokenize(text, self.tags) if p not in index)

    def decode(self, ids) -> str:
        return "".join(self.symbols[int(i)] for i in ids)


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
