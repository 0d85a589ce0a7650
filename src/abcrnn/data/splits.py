"""Data stages after the corpus: split by tune, vocabulary from the training split, encoded tensors.

The split assigns each near-duplicate group by a seeded hash of its first tune's normalised text, so
adding tunes to the corpus never moves existing tunes between splits, and copies of one tune never
straddle splits.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path

from abcrnn.notation.tunes import field_line, header_fields, split_tagged
from abcrnn.config import STRUCTURE_FIELDS
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import read_tsv
from abcrnn.data.vocab import Vocab

SPLITS = ("train", "val", "test")
TOP_N = 10  # most common keys, meters and rhythms listed in corpus_stats.tsv


# --- split ------------------------------------------------------------------------------------
def normalise(tune: str) -> str:
    """Whitespace-insensitive form of a tune, the identity used for hashing."""
    return re.sub(r"\s+", " ", tune).strip()


def hash_fraction(text: str, seed: int) -> float:
    """A seeded, platform-independent number in [0, 1) for `text`."""
    digest = hashlib.sha256(f"{seed}\x00{text}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(tunes: list[str], groups: list[int] | None, val: float, test: float, seed: int) -> list[str]:
    """Split name per tune. `groups[i]` is the index of tune i's near-duplicate group leader."""
    check_fractions(val, test)
    groups = groups if groups is not None else list(range(len(tunes)))
    out = []
    for i, tune in enumerate(tunes):
        u = hash_fraction(normalise(tunes[groups[i]]), seed)
        out.append("test" if u < test else "val" if u < test + val else "train")
    return out


def check_fractions(val: float, test: float) -> None:
    for key, value in (("split.val", val), ("split.test", test)):
        if not 0 <= value < 1:
            raise AbcrnnError(f"{key}: must be a fraction in [0, 1), got {value}")
    if val + test >= 1:
        raise AbcrnnError(f"split.val + split.test must be below 1 (nothing left to train on), got {val + test:g}")


def read_groups(tunes_tsv: str | Path, n_tunes: int) -> list[int]:
    rows = read_tsv(tunes_tsv)
    if len(rows) != n_tunes:
        raise AbcrnnError(f"{tunes_tsv}: has {len(rows)} rows but the corpus has {n_tunes} tunes; rerun the corpus stage")
    try:
        return [int(r["group"]) for r in rows]
    except (KeyError, ValueError):
        raise AbcrnnError(f"{tunes_tsv}: needs an integer 'group' column") from None


def read_corpus(path: str | Path) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise AbcrnnError(f"{path}: cannot read corpus ({exc.strerror})") from None
    tunes = split_tagged(text)
    if not tunes:
        raise AbcrnnError(f"{path}: no <start>…<end> tunes found")
    return tunes


def check_variant(corpus: str, texts: dict) -> None:
    """Refuse texts that hold field lines the corpus variant drops: a vocabulary (and a loss) belongs
    to one variant of the corpus, and mixing them makes losses incomparable. The lines that shape
    the music (STRUCTURE_FIELDS: V:, P:, U:, m:, K:, M:, L:) belong to every variant."""
    if corpus == "all":
        return
    keep = set(corpus.split(",")) | STRUCTURE_FIELDS
    for path, text in texts.items():
        for tune in split_tagged(text):
            for line in tune.split("\n"):
                field = field_line(line)
                if field and field[0] != "+" and field[0] not in keep:
                    raise AbcrnnError(f"corpus.header_fields: {path} has {field[0]}: lines, but the vocabulary is for the "
                                      f"corpus variant {corpus}; rebuild the corpus and vocabulary for one variant")


# --- encoding and statistics ----------------------------------------------------------------
def split_stats(vocab: Vocab, texts: dict[str, str]) -> list[dict]:
    rows = []
    for split, text in texts.items():
        n_sym = len(vocab.tokenize(text))
        unknown = vocab.count_unknown(text)
        rows += [
            {"category": split, "name": "tunes", "value": len(split_tagged(text))},
            {"category": split, "name": "characters", "value": len(text)},
            {"category": split, "name": "symbols", "value": n_sym},
            {"category": split, "name": "chars_per_symbol", "value": round(len(text) / n_sym, 4) if n_sym else 0.0},
            {"category": split, "name": "unknown_symbols", "value": unknown},
            {"category": split, "name": "unknown_rate", "value": unknown / n_sym if n_sym else 0.0},
        ]
    rows.append({"category": "vocab", "name": "size", "value": len(vocab)})
    rows.append({"category": "vocab", "name": "tags", "value": vocab.tags})
    rows.append({"category": "vocab", "name": "unit", "value": vocab.unit})
    rows.append({"category": "vocab", "name": "corpus", "value": vocab.corpus})
    return rows


def header_stats(tunes: list[str], top: int = TOP_N) -> list[dict]:
    rows = []
    for field, category in (("K", "key"), ("M", "meter"), ("R", "rhythm")):
        values = (header_fields(t).get(field, "").strip() for t in tunes)
        if field == "R":  # "Reel" and "reel" are one rhythm
            values = (v.lower() for v in values)
        counts = Counter(v or "(none)" for v in values)
        # Most common first; ties broken by name so the table is stable.
        for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]:
            rows.append({"category": category, "name": name, "value": n})
    return rows
