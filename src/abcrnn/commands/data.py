"""`abcrnn corpus`, `split`, `vocab` and `encode`: the data stage's command lines (workflow/rules/data.smk)."""

from __future__ import annotations
from abcrnn.errors import AbcrnnError
from abcrnn.data.reader import COMMENT_MODES
from collections import Counter
from abcrnn.data.corpus import NEAR_MODES
from pathlib import Path
from abcrnn.data.corpus import REPORT_COLUMNS
from abcrnn.data.neardup import SIMILARITY
from abcrnn.data.splits import SPLITS
from abcrnn.data.vocab import TAG_MODES
from abcrnn.data.vocab import Vocab
from abcrnn.data.corpus import TUNE_COLUMNS, summary, tune_rows
from abcrnn.data.vocab import UNITS
import argparse
from abcrnn.data.splits import assign_splits
from abcrnn.data.splits import check_variant
from abcrnn.data.corpus import drop_fields
from abcrnn.data.splits import header_stats
from abcrnn.notation.tunes import join_tagged
from abcrnn.data.corpus import parse_header_fields
from abcrnn.data.splits import read_corpus
from abcrnn.data.splits import read_groups
from abcrnn.data.sources import read_sources
from abcrnn.data.corpus import report_rows
from abcrnn.data.corpus import select
from abcrnn.data.splits import split_stats
from abcrnn.notation.tunes import split_tagged
import sys
from abcrnn.fileio import torch_save
from abcrnn.fileio import write_text
from abcrnn.fileio import write_tsv


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="abcrnn corpus",
        description="Read ABC sources into the <start>/<end> corpus, a tune table and a corpus report.",
    )
    p.add_argument("--source", action="append", required=True, metavar="S",
                   help="music21:<corpus>, an .abc file, a directory, a glob pattern, or <start>/<end> text "
                        "(tags on lines of their own; repeat for several; read in the order given)")
    p.add_argument("--comments", choices=COMMENT_MODES, default="strip",
                   help="strip: drop %% comment lines, %%%% directives and trailing %% comments; keep: leave them")
    p.add_argument("--dedupe", action=argparse.BooleanOptionalAction, default=True,
                   help="drop exact duplicates (equal apart from X: and whitespace)")
    p.add_argument("--near-duplicates", choices=NEAR_MODES, default="drop",
                   help="the same tune transcribed twice: drop the later ones, group them (same 'group' in "
                        "tunes.tsv), or keep them as distinct tunes")
    p.add_argument("--similarity", type=float, default=SIMILARITY,
                   help=f"note-sequence similarity (0-1) from which two tunes are near-duplicates (default {SIMILARITY})")
    p.add_argument("--header-fields", default="all", metavar="FIELDS",
                   help="all (the paper), or the field letters to keep, comma-separated (e.g. X,T,M,L,K,R,Q,P): "
                        "every other field line (Z: transcriber, N: notes, B:/S: sources, W:/w: lyrics ...) is dropped")
    p.add_argument("--out", default="results/data/corpus.txt", help="corpus to write")
    p.add_argument("--tunes", default="results/tables/tunes.tsv", help="tune table to write")
    p.add_argument("--report", default="results/tables/corpus_report.tsv", help="per-file report to write")
    return p


def main_corpus(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    if not 0 < a.similarity <= 1:
        raise AbcrnnError(f"--similarity must be in (0, 1], got {a.similarity}")
    keep = parse_header_fields(a.header_fields)
    results = read_sources(a.source, a.comments)
    kept, groups = select(results, a.dedupe, a.near_duplicates, a.similarity)
    kept = drop_fields(kept, keep)  # after duplicate detection, which reads B: page numbers
    rows = report_rows(results, kept)
    if not kept:
        raise AbcrnnError(f"no tunes kept from {', '.join(a.source)}: {summary(rows[-1], len(results))}")
    write_text(a.out, join_tagged([t.text for t in kept]))
    write_tsv(a.tunes, tune_rows(kept, groups), TUNE_COLUMNS)
    write_tsv(a.report, rows, REPORT_COLUMNS)
    print(f"abcrnn corpus: {summary(rows[-1], len(results))} -> {a.out}", file=sys.stderr)
    return 0


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
