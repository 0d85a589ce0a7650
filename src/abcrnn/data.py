"""Data stages after the corpus: split by tune, vocabulary from the training split, encoded tensors.

The split assigns each near-duplicate group by a seeded hash of its first tune's normalised text, so
adding tunes to the corpus never moves existing tunes between splits, and copies of one tune never
straddle splits.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections import Counter
from pathlib import Path

from .abc import field_line, header_fields, join_tagged, split_tagged
from .errors import AbcrnnError
from .fileio import read_tsv, torch_save, write_text, write_tsv
from .vocab import TAG_MODES, UNITS, Vocab

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


def split_files(files: list[str] | None, folder: str | None, suffix: str) -> dict[str, Path]:
    """{split: path}: the files given in train/val/test order, or {split}{suffix} inside folder."""
    if files:
        return dict(zip(SPLITS, map(Path, files)))
    return {s: Path(folder, f"{s}{suffix}") for s in SPLITS}


def main_split(argv=None) -> int:
    p = argparse.ArgumentParser(prog="abcrnn split", description="Split the corpus into train/val/test by tune.")
    p.add_argument("--corpus", required=True, help="corpus.txt from `abcrnn corpus`")
    p.add_argument("--tunes", help="tunes.tsv from `abcrnn corpus` (its 'group' column keeps near-duplicates together)")
    p.add_argument("--val", type=float, default=0.1)
    p.add_argument("--test", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--out-dir", help="writes train.txt, val.txt, test.txt and split.tsv here")
    out.add_argument("--out", nargs=3, metavar=("TRAIN", "VAL", "TEST"), help="the three split files to write")
    p.add_argument("--assignment", help="split.tsv to write (with --out; default: beside TRAIN)")
    a = p.parse_args(argv)
    files = split_files(a.out, a.out_dir, ".txt")
    assignment = Path(a.assignment) if a.assignment else files["train"].with_name("split.tsv")

    tunes = read_corpus(a.corpus)
    groups = read_groups(a.tunes, len(tunes)) if a.tunes else None
    names = assign_splits(tunes, groups, a.val, a.test, a.seed)
    counts = Counter(names)
    for split, fraction in (("val", a.val), ("test", a.test), ("train", 1.0)):
        if fraction > 0 and counts[split] == 0:
            raise AbcrnnError(f"split: the {split} split is empty ({len(tunes)} tunes in {a.corpus}); "
                              f"add tunes or raise split.{split}" if split != "train" else
                              f"split: no tunes left for training ({len(tunes)} tunes); lower split.val/split.test")
    for split in SPLITS:
        write_text(files[split], join_tagged([t for t, s in zip(tunes, names) if s == split]))
    rows = [{"id": i, "group": (groups or list(range(len(tunes))))[i], "split": s} for i, s in enumerate(names)]
    write_tsv(assignment, rows, ["id", "group", "split"])
    print("split: " + ", ".join(f"{s} {counts[s]} tunes" for s in SPLITS), file=sys.stderr)
    return 0


# --- vocabulary -------------------------------------------------------------------------------
def main_vocab(argv=None) -> int:
    p = argparse.ArgumentParser(prog="abcrnn vocab", description="Build the vocabulary from the training split.")
    p.add_argument("--train", required=True, help="train.txt")
    p.add_argument("--unit", choices=UNITS, default="char",
                   help="char: one symbol per character (the paper); token: ABC tokens (notes, durations, bar lines, "
                        "header fields ...), characters where no token fits")
    p.add_argument("--tags", choices=TAG_MODES, default="chars",
                   help="chars: <start>/<end> spelled with ordinary characters (the paper); token: one symbol each "
                        "(always so with --unit token)")
    p.add_argument("--min-count", type=int, default=2,
                   help="--unit token: a token joins the vocabulary when the training split has it this often")
    p.add_argument("--corpus", default="all",
                   help="the corpus variant (corpus.header_fields: all, or the kept fields, e.g. X,T,M,L,K), recorded "
                        "so that tables say which text a loss was measured on")
    p.add_argument("--out", required=True, help="vocab.json")
    a = p.parse_args(argv)
    if a.min_count < 1:
        raise AbcrnnError(f"--min-count: must be at least 1, got {a.min_count}")
    text = Path(a.train).read_text(encoding="utf-8")
    if not text:
        raise AbcrnnError(f"{a.train}: the training split is empty")
    check_variant(a.corpus, {a.train: text})
    vocab = Vocab.build(text, a.tags, unit=a.unit, corpus=a.corpus, min_count=a.min_count)
    vocab.save(a.out)
    print(f"vocab: {len(vocab)} symbols (unit: {vocab.unit}, tags: {vocab.tags}, corpus: {vocab.corpus})",
          file=sys.stderr)
    return 0


def check_variant(corpus: str, texts: dict) -> None:
    """Refuse texts that hold field lines the corpus variant drops: a vocabulary (and a loss) belongs
    to one variant of the corpus, and mixing them makes losses incomparable."""
    if corpus == "all":
        return
    keep = set(corpus.split(","))
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


def main_encode(argv=None) -> int:
    p = argparse.ArgumentParser(prog="abcrnn encode", description="Encode train/val/test as integer tensors.")
    p.add_argument("--vocab", required=True)
    texts = p.add_mutually_exclusive_group(required=True)
    texts.add_argument("--data-dir", help="directory with train.txt, val.txt, test.txt")
    texts.add_argument("--texts", nargs=3, metavar=("TRAIN", "VAL", "TEST"), help="the three split files")
    outs = p.add_mutually_exclusive_group(required=True)
    outs.add_argument("--out-dir", help="writes train.pt, val.pt, test.pt (1-D int64 tensors)")
    outs.add_argument("--out", nargs=3, metavar=("TRAIN", "VAL", "TEST"), help="the three tensor files to write")
    p.add_argument("--stats", help="corpus_stats.tsv to write")
    a = p.parse_args(argv)
    import torch

    vocab = Vocab.load(a.vocab)
    sources, targets = split_files(a.texts, a.data_dir, ".txt"), split_files(a.out, a.out_dir, ".pt")
    texts = {s: sources[s].read_text(encoding="utf-8") for s in SPLITS}
    check_variant(vocab.corpus, {sources[s]: texts[s] for s in SPLITS})
    for split, text in texts.items():
        torch_save(torch.tensor(vocab.encode(text), dtype=torch.int64), targets[split])
    if a.stats:
        rows = split_stats(vocab, texts)
        rows += header_stats([t for text in texts.values() for t in split_tagged(text)])
        write_tsv(a.stats, rows, ["category", "name", "value"])
    print("encode: " + ", ".join(f"{s} {len(vocab.tokenize(t))} symbols" for s, t in texts.items()), file=sys.stderr)
    return 0
