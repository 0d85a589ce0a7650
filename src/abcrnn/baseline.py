"""`abcrnn baseline`: a seeded choice of real test-set tunes, written as {n}.abc to be rendered and
measured exactly like generated ones (the validity table's `test-set` row)."""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from .abc import split_tagged
from .errors import AbcrnnError
from .fileio import claim_folder, write_text, write_tsv
from .sample import number_width


def write_baseline(tagged: str | Path, tunes_tsv: str | Path, count: int, seed: int) -> list[Path]:
    """Write `count` tunes of a <start>/<end> file (a seeded choice, in file order) as {n}.abc beside
    tunes_tsv, which lists them with their position in the file."""
    try:
        tunes = split_tagged(Path(tagged).read_text(encoding="utf-8"))
    except OSError as exc:
        raise AbcrnnError(f"{tagged}: cannot read ({exc.strerror})") from None
    if count < 1:
        raise AbcrnnError(f"--count: must be at least 1, got {count}")
    if len(tunes) < count:
        raise AbcrnnError(f"{tagged}: has {len(tunes)} tunes, fewer than the {count} asked for "
                          "(lower --count, config key sample.baseline_tunes)")
    chosen = sorted(random.Random(seed).sample(range(len(tunes)), count))
    directory = Path(tunes_tsv).parent
    width = number_width(len(chosen))
    names = [f"{n:0{width}d}.abc" for n in range(1, len(chosen) + 1)]
    claim_folder(directory, [*names, Path(tunes_tsv).name], Path(tunes_tsv).name, "abcrnn baseline")
    rows, files = [], []
    for n, index in enumerate(chosen, 1):
        files.append(directory / f"{n:0{width}d}.abc")
        write_text(files[-1], tunes[index].strip("\n") + "\n")
        rows.append({"n": n, "file": files[-1].name, "index": index + 1})
    write_tsv(tunes_tsv, rows, ["n", "file", "index"])
    return files


def main_baseline(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="abcrnn baseline",
                                description="Write a seeded choice of real test-set tunes as {n}.abc, to be rendered "
                                            "and measured like generated ones.")
    p.add_argument("--test", metavar="PATH", required=True, help="a <start>/<end> file, e.g. results/data/test.txt")
    p.add_argument("--count", metavar="N", type=int, default=100, help="tunes to choose")
    p.add_argument("--seed", metavar="N", type=int, default=0, help="seed of the choice")
    p.add_argument("--out", metavar="TSV", required=True, help="tunes.tsv to write; the tunes go beside it")
    args = p.parse_args(argv)
    files = write_baseline(args.test, args.out, args.count, args.seed)
    print(f"abcrnn baseline: {len(files)} tunes of {args.test} -> {Path(args.out).parent}", file=sys.stderr)
    return 0
