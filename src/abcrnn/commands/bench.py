"""`abcrnn bench`: the speed benchmark's command line (`make bench`)."""

from __future__ import annotations
from abcrnn.errors import AbcrnnError
from abcrnn.bench.suite import CAP_DEFAULT
import argparse

from abcrnn.bench import suite
from abcrnn.bench.suite import summary
from abcrnn.bench.suite import run_bench
from abcrnn.runtime import setup_torch
from abcrnn.fileio import write_tsv


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abcrnn bench", description=suite.__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", default="results/data/char", help="folder with train.pt, val.pt and vocab.json")
    p.add_argument("--out", default="results/tables/benchmark.tsv")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=6.0, help="measuring time of each training speed")
    p.add_argument("--rounds", type=int, default=3, help="turns the training speeds are measured in (best counts)")
    p.add_argument("--cap", type=float, default=CAP_DEFAULT,
                   help="most training seconds of each time-to-quality run")
    p.add_argument("--check-every", type=float, default=3.0,
                   help="training seconds between validation checks of the time-to-quality runs")
    p.add_argument("--patience", type=float, default=4.0,
                   help="epochs: a run has plateaued when its checks of the last this many epochs brought no loss "
                        "(nor mean over an epoch of checks) more than --min-delta below the best before")
    p.add_argument("--min-delta", type=float, default=0.005, help="nats/char")
    p.add_argument("--hidden", type=int, default=150)
    p.add_argument("--chunk", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=32, help="streams of the batched mode")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--sample-batch", type=int, default=64, help="tunes sampled together")
    p.add_argument("--sample-chars", type=int, default=300, help="characters per sampled tune at most")
    p.add_argument("--constrained-chars", type=int, default=800,
                   help="characters per tune at most when timing constrained sampling (a whole jig fits)")
    p.add_argument("--matmul-size", type=int, default=2048)
    p.add_argument("--no-bf16", dest="bf16", action="store_false", help="skip the bf16 measurements")
    p.add_argument("--no-deterministic", dest="deterministic", action="store_false",
                   help="skip the deterministic mode's training rates (measured in a second process)")
    p.add_argument("--corpus-sizes", type=_sizes, default=[1000, 2000, 4000], metavar="N,N,...",
                   help="numbers of synthetic same-titled tunes the corpus stage is timed on")
    return p


def main_bench(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("threads", "rounds", "hidden", "chunk", "batch_size", "sample_batch", "sample_chars", "constrained_chars", "matmul_size"):
        if getattr(args, name) < 1:
            raise AbcrnnError(f"--{name.replace('_', '-')}: must be at least 1")
    for name in ("seconds", "cap", "check_every", "patience", "lr"):
        if not getattr(args, name) > 0:
            raise AbcrnnError(f"--{name.replace('_', '-')}: must be positive")
    if args.min_delta < 0:
        raise AbcrnnError("--min-delta: must be 0 or positive")
    setup_torch(args.threads, "cpu")
    rows = run_bench(args)
    write_tsv(args.out, rows, ["metric", "value", "unit"])
    print(summary(rows))
    return 0





def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(n) for n in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of numbers: {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be at least 1: {text!r}")
    return sorted(set(sizes))
