"""`abcrnn evaluate`: test loss of a trained model; `abcrnn tables`: all runs side by side, with plots.

The test loss is the mean cross-entropy of predicting every next symbol of the test split, scored as
training's validation scores (train.stream_loss: stateful streams with the run's own stream count and
chunk, read from the checkpoint; a sliding window for Transformers). `test_loss` is nats per symbol
(a character, or an ABC token); `test_loss_char` divides the same total by the characters of ABC text
the symbols spell, the scale on which character and token models compare. Losses compare only on the
same text: `corpus` names the corpus variant (corpus.header_fields) the vocabulary was built from.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import fields
from pathlib import Path

from .checkpoint import load_checkpoint
from .errors import AbcrnnError
from .fileio import read_tsv, write_tsv
from .runtime import setup_torch
from .settings import RunSettings, kind
from .train import LN2, MACHINE_COLUMNS, METRICS_COLUMNS, load_split, stream_loss

RESULT_COLUMNS = ["params", "best_epoch", "val_loss", "val_loss_char", "test_loss", "test_bits", "test_loss_char",
                  "test_bits_char", "test_symbols", "test_chars", "epochs_trained", "train_seconds", "chars_per_s"]
TEST_COLUMNS = ["run", *RunSettings.column_keys(), "corpus", *RESULT_COLUMNS]
# Columns of test.tsv that are numbers (the rest are text).
NUMERIC = {*RESULT_COLUMNS} | {f.name for f in fields(RunSettings) if f.metadata["column"] and kind(f) is not str}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- evaluate ---------------------------------------------------------------------------------------

def evaluate_checkpoint(checkpoint, data_path, device: str = "auto", threads: int = 2) -> dict:
    """The test.tsv row of one checkpoint on one encoded split, scored with the run's stream layout."""
    if threads < 1:
        raise AbcrnnError("--threads: must be at least 1")
    dev = setup_torch(threads, device)
    model, vocab, payload = load_checkpoint(checkpoint, dev)
    data = load_split(data_path, len(vocab), "test")
    s, extra = payload["settings"], payload.get("extra", {})
    loss = stream_loss(model, data, s.batch_size, s.chunk, dev)
    symbols = data.numel() - 1
    chars = vocab.chars_of(data[1:].tolist())
    per_char = loss * symbols / chars
    return {
        "run": payload.get("run") or Path(checkpoint).parent.name,
        **{k: getattr(s, k) if s.applies(k) else "" for k in RunSettings.column_keys()},
        "corpus": vocab.corpus,
        "params": model.num_params(),
        "best_epoch": extra.get("best_epoch", payload.get("epoch", "")),
        "val_loss": extra.get("best_val_loss", ""),
        "val_loss_char": extra.get("best_val_loss_char", ""),
        "test_loss": loss,
        "test_bits": loss / LN2,
        "test_loss_char": per_char,
        "test_bits_char": per_char / LN2,
        "test_symbols": symbols,
        "test_chars": chars,
        "epochs_trained": extra.get("epochs_trained", ""),
        "train_seconds": extra.get("train_seconds", ""),
        "chars_per_s": extra.get("chars_per_s", ""),
    }


def main_evaluate(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="abcrnn evaluate", description="Test loss (nats/char) of a trained model.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="e.g. results/models/RUN/best.pt")
    p.add_argument("--data", default="results/data/char/test.pt", help="encoded split to score")
    p.add_argument("--out", required=True, help="one-row TSV, e.g. results/models/RUN/test.tsv")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    row = evaluate_checkpoint(args.checkpoint, args.data, args.device, args.threads)
    write_tsv(args.out, [row], TEST_COLUMNS)
    log(f"{row['run']}: test loss {row['test_loss_char']:.4f} nats/char ({row['test_bits_char']:.3f} bits/char)"
        + (f", {row['test_loss']:.4f} nats/{row['unit']}" if row["unit"] != "char" else ""))
    return 0


# --- tables -------------------------------------------------------------------------------------------

def read_run(test_path: Path, metrics_path: Path) -> tuple[dict, list[dict]]:
    """(test.tsv row with numbers parsed, metrics.tsv rows with numbers parsed) of one run."""
    rows = {}
    for name, path, columns in (("test.tsv", test_path, TEST_COLUMNS), ("metrics.tsv", metrics_path, METRICS_COLUMNS)):
        try:
            rows[name] = read_tsv(path)
        except OSError as exc:
            raise AbcrnnError(f"{path}: cannot read ({exc.strerror}); evaluate the run first") from None
        if not rows[name]:
            raise AbcrnnError(f"{path}: no rows")
        missing = [c for c in columns if c not in rows[name][0]]
        if missing:
            raise AbcrnnError(f"{path}: missing columns {', '.join(missing)}")
    try:
        test = {k: _number(v) if k in NUMERIC and v != "" else v for k, v in rows["test.tsv"][0].items()}
        metrics = [{k: v if k in MACHINE_COLUMNS else _number(v) for k, v in r.items()} for r in rows["metrics.tsv"]]
    except ValueError as exc:
        raise AbcrnnError(f"{test_path.parent}: unreadable number in test.tsv or metrics.tsv ({exc})") from None
    return test, metrics


def _number(text: str):
    if text == "":
        return math.nan
    value = float(text)
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _shown(value) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "unknown"


def best_row(rows: list[dict]) -> dict:
    """The run with the lowest validation loss per character (ties: the first by run name; unknown
    losses last). Per character, so that runs over characters and over ABC tokens compare."""
    def loss(r):
        for key in ("val_loss_char", "val_loss"):
            try:
                value = float(r.get(key, ""))
            except (TypeError, ValueError):
                continue
            if value == value:
                return value
        return math.inf

    return min(rows, key=lambda r: (loss(r), r["run"]))


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
    from . import plots

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


main = main_evaluate
