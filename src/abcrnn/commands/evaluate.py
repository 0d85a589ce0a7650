"""`abcrnn evaluate` and `abcrnn tables`: test loss per run, then the run tables and loss plots (workflow/rules/evaluate.smk)."""

from __future__ import annotations
from abcrnn.errors import AbcrnnError
from pathlib import Path
from abcrnn.training.evaluate import TEST_COLUMNS
import argparse
from abcrnn.training.evaluate import best_row
from abcrnn.training.evaluate import evaluate_checkpoint
from abcrnn.training.evaluate import read_run
import sys
from abcrnn.fileio import write_tsv


def main_evaluate(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="abcrnn evaluate", description="Test loss (nats/char) of a trained model.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="e.g. results/models/RUN/best.pt")
    p.add_argument("--data", default="results/data/char/test.pt", help="encoded split to score")
    p.add_argument("--vocab", help="the vocab.json --data was encoded with, which must be the checkpoint's "
                                   "(default: the vocab.json beside --data)")
    p.add_argument("--out", required=True, help="one-row TSV, e.g. results/models/RUN/test.tsv")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    row = evaluate_checkpoint(args.checkpoint, args.data, args.device, args.threads, args.vocab)
    write_tsv(args.out, [row], TEST_COLUMNS)
    log(f"{row['run']}: test loss {row['test_loss_char']:.4f} nats/char ({row['test_bits_char']:.3f} bits/char)"
        + (f", {row['test_loss']:.4f} nats/{row['unit']}" if row["unit"] != "char" else ""))
    return 0


def _shown(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "unknown"


def main_tables(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="abcrnn tables",
                                description="Collect runs into test_loss.tsv, best_run.tsv and loss plots.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--tests", nargs="+", required=True, help="each run's test.tsv (from abcrnn evaluate)")
    p.add_argument("--metrics", nargs="+", required=True, help="each run's metrics.tsv, in the order of --tests")
    p.add_argument("--test-loss", default="results/tables/test_loss.tsv", help="table of all runs to write")
    p.add_argument("--best-run", default="results/tables/best_run.tsv", help="the best run's row, to write")
    p.add_argument("--loss-curves", default="results/plots/loss_curves.png")
    p.add_argument("--test-loss-plot", default="results/plots/test_loss.png")
    p.add_argument("--rnn-vs-lstm", help="one panel per model type (needs two types)")
    p.add_argument("--hidden-sweep", help="losses per hidden size (needs runs that differ only in hidden size)")
    args = p.parse_args(argv)
    from abcrnn.report import plots

    if len(args.tests) != len(args.metrics):
        raise AbcrnnError(f"--tests and --metrics: {len(args.tests)} and {len(args.metrics)} files; give one each per run")
    runs = {}
    for test_path, metrics_path in zip(map(Path, args.tests), map(Path, args.metrics)):
        test, metrics = read_run(test_path, metrics_path)
        if test["run"] in runs:
            raise AbcrnnError(f"{test_path}: run name {test['run']!r} appears twice in --tests")
        runs[test["run"]] = (test, metrics)
    rows = [runs[name][0] for name in sorted(runs)]
    curves = {name: runs[name][1] for name in sorted(runs)}
    best = best_row(rows)
    wanted = {"loss_curves": args.loss_curves, "test_loss": args.test_loss_plot, "rnn_vs_lstm": args.rnn_vs_lstm,
              "hidden_sweep": args.hidden_sweep}
    plots.check_requests(rows, wanted, best["run"])
    write_tsv(args.test_loss, rows, TEST_COLUMNS)
    write_tsv(args.best_run, [best], TEST_COLUMNS)
    log(f"{len(rows)} runs; best by validation loss: {best['run']} (val {_shown(best['val_loss_char'])}, "
        f"test {_shown(best['test_loss_char'])} nats/char)")
    plots.run_plots(rows, curves, wanted, best["run"])
    return 0




def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
