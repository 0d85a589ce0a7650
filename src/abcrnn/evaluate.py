"""`abcrnn evaluate`: test loss of a trained model; `abcrnn tables`: all runs side by side, with plots.

The test loss is the mean cross-entropy of predicting every next character of the test split
(nats/char), stateful over streams exactly as in training's validation.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from .checkpoint import load_checkpoint
from .errors import AbcrnnError
from .fileio import read_tsv, write_tsv
from .runtime import setup_torch
from .train import LN2, METRICS_COLUMNS, load_split, stream_loss

TEST_COLUMNS = ["run", "model", "hidden", "layers", "chunk", "lr", "batch_size", "dropout", "input", "params",
                "best_epoch", "val_loss", "test_loss", "test_bits", "epochs_trained", "train_seconds"]
# Columns of test.tsv that are numbers (the rest are text).
NUMERIC = {"hidden", "layers", "chunk", "lr", "batch_size", "dropout", "params", "best_epoch", "val_loss",
           "test_loss", "test_bits", "epochs_trained", "train_seconds"}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- evaluate ---------------------------------------------------------------------------------------

def evaluate_checkpoint(checkpoint, data_path, batch_size: int = 32, chunk: int = 200, device: str = "auto",
                        threads: int = 2) -> dict:
    """The test.tsv row of one checkpoint on one encoded split."""
    if batch_size < 1 or chunk < 1 or threads < 1:
        raise AbcrnnError("--batch-size, --chunk and --threads: must be at least 1")
    dev = setup_torch(threads, device)
    model, vocab, payload = load_checkpoint(checkpoint, dev)
    data = load_split(data_path, len(vocab), "test")
    loss = stream_loss(model, data, batch_size, chunk, dev)
    s, extra = payload["settings"], payload.get("extra", {})
    return {
        "run": s.get("run") or Path(checkpoint).parent.name,
        **{k: s.get(k, "") for k in ("model", "hidden", "layers", "chunk", "lr", "batch_size", "dropout", "input")},
        "params": model.num_params(),
        "best_epoch": extra.get("best_epoch", payload.get("epoch", "")),
        "val_loss": extra.get("best_val_loss", ""),
        "test_loss": loss,
        "test_bits": loss / LN2,
        "epochs_trained": extra.get("epochs_trained", ""),
        "train_seconds": extra.get("train_seconds", ""),
    }


def main_evaluate(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="abcrnn evaluate", description="Test loss (nats/char) of a trained model.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="e.g. results/models/RUN/best.pt")
    p.add_argument("--data", default="results/data/test.pt", help="encoded split to score")
    p.add_argument("--out", required=True, help="one-row TSV, e.g. results/models/RUN/test.tsv")
    p.add_argument("--batch-size", type=int, default=32, help="parallel streams")
    p.add_argument("--chunk", type=int, default=200, help="characters per forward call")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    row = evaluate_checkpoint(args.checkpoint, args.data, args.batch_size, args.chunk, args.device, args.threads)
    write_tsv(args.out, [row], TEST_COLUMNS)
    log(f"{row['run']}: test loss {row['test_loss']:.4f} nats/char ({row['test_bits']:.3f} bits/char)")
    return 0


# --- tables -------------------------------------------------------------------------------------------

def read_run(run_dir: Path) -> tuple[dict, list[dict]]:
    """(test.tsv row with numbers parsed, metrics.tsv rows with numbers parsed) of one run folder."""
    rows = {}
    for name in ("test.tsv", "metrics.tsv"):
        path = run_dir / name
        try:
            rows[name] = read_tsv(path)
        except OSError as exc:
            raise AbcrnnError(f"{path}: cannot read ({exc.strerror}); evaluate the run first") from None
        if not rows[name]:
            raise AbcrnnError(f"{path}: no rows")
    for name, columns in (("test.tsv", TEST_COLUMNS), ("metrics.tsv", METRICS_COLUMNS)):
        missing = [c for c in columns if c not in rows[name][0]]
        if missing:
            raise AbcrnnError(f"{run_dir / name}: missing columns {', '.join(missing)}")
    try:
        test = {k: _number(v) if k in NUMERIC else v for k, v in rows["test.tsv"][0].items()}
        metrics = [{k: _number(v) for k, v in r.items()} for r in rows["metrics.tsv"]]
    except ValueError as exc:
        raise AbcrnnError(f"{run_dir}: unreadable number in test.tsv or metrics.tsv ({exc})") from None
    return test, metrics


def _number(text: str):
    if text == "":
        return math.nan
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def best_row(rows: list[dict]) -> dict:
    """The run with the lowest validation loss (ties: the first by run name; unknown losses last)."""
    return min(rows, key=lambda r: (r["val_loss"] if r["val_loss"] == r["val_loss"] else math.inf, r["run"]))


def main_tables(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="abcrnn tables",
                                description="Collect runs into test_loss.tsv, best_run.tsv and loss plots.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--runs", nargs="+", required=True, help="run folders holding test.tsv and metrics.tsv")
    p.add_argument("--out-dir", default="results/tables")
    p.add_argument("--plots-dir", default="results/plots")
    args = p.parse_args(argv)
    from . import plots

    runs = {}
    for run_dir in map(Path, args.runs):
        test, metrics = read_run(run_dir)
        if test["run"] in runs:
            raise AbcrnnError(f"{run_dir}: run name {test['run']!r} appears twice in --runs")
        runs[test["run"]] = (test, metrics)
    rows = [runs[name][0] for name in sorted(runs)]
    curves = {name: runs[name][1] for name in sorted(runs)}
    out, plot_dir = Path(args.out_dir), Path(args.plots_dir)
    write_tsv(out / "test_loss.tsv", rows, TEST_COLUMNS)
    best = best_row(rows)
    write_tsv(out / "best_run.tsv", [best], TEST_COLUMNS)
    log(f"{len(rows)} runs; best by validation loss: {best['run']} (val {best['val_loss']:.4f}, "
        f"test {best['test_loss']:.4f} nats/char)")
    for note in plots.all_plots(rows, curves, plot_dir, best["run"]):
        log(note)
    return 0


main = main_evaluate
