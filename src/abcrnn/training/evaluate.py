"""`abcrnn evaluate`: test loss of a trained model; `abcrnn tables`: all runs side by side, with plots.

The test loss is the mean cross-entropy of predicting every next symbol of the test split, scored as
training's validation scores (train.stream_loss: stateful streams with the run's own stream count and
chunk, read from the checkpoint; a sliding window for Transformers). `test_loss` is nats per symbol
(a character, or an ABC token); `test_loss_char` divides the same total by the characters of ABC text
the symbols spell, the scale on which character and token models compare. Losses compare only on the
same text: `corpus` names the corpus variant (corpus.header_fields) the vocabulary was built from.
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path

from abcrnn.data.vocab import Vocab
from abcrnn.models.checkpoint import load_checkpoint, read_checkpoint
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import number, read_tsv
from abcrnn.runtime import setup_torch
from abcrnn.settings import RunSettings, kind
from abcrnn.training.train import LN2, MACHINE_COLUMNS, METRICS_COLUMNS, load_split, stream_loss

RESULT_COLUMNS = ["params", "best_epoch", "val_loss", "val_loss_char", "test_loss", "test_bits", "test_loss_char",
                  "test_bits_char", "test_symbols", "test_chars", "epochs_trained", "train_seconds", "chars_per_s"]
TEST_COLUMNS = ["run", *RunSettings.column_keys(), "corpus", *RESULT_COLUMNS]
# Switches (True/False settings) that test.tsv files written before them lack: they had the default.
LATER_COLUMNS = {f.name: str(f.default) for f in fields(RunSettings) if f.metadata["column"] and kind(f) is bool}
# Columns of test.tsv that are numbers (the rest are text, True/False included).
NUMERIC = {*RESULT_COLUMNS} | {f.name for f in fields(RunSettings) if f.metadata["column"] and kind(f) in (int, float)}


# --- evaluate ---------------------------------------------------------------------------------------

def check_data_vocab(checkpoint, vocab: Vocab, data_path, vocab_path=None) -> None:
    """The encoded split must be in the checkpoint's vocabulary, as training checks its data: the
    vocab.json it was encoded with (vocab_path, else the one beside it) must be the checkpoint's. An
    encoded split holds only numbers, and a token model scores character data without a word."""
    path = Path(vocab_path) if vocab_path else Path(data_path).with_name("vocab.json")
    if not path.is_file():
        raise AbcrnnError(f"{data_path}: no vocab.json beside it, so it cannot be checked against the "
                          f"checkpoint's vocabulary; pass --vocab (the vocab.json it was encoded with)"
                          if not vocab_path else f"{path}: vocabulary not found (--vocab)")
    data_vocab = Vocab.load(path)
    if (data_vocab.unit, data_vocab.tags, data_vocab.symbols) != (vocab.unit, vocab.tags, vocab.symbols):
        raise AbcrnnError(f"{data_path}: was encoded with {path} ({data_vocab.unit} vocabulary, {len(data_vocab)} "
                          f"symbols), but {checkpoint} was trained on a {vocab.unit} vocabulary of {len(vocab)} symbols"
                          f"{'' if data_vocab.unit != vocab.unit else ' built from other text'}; score it on the split "
                          f"encoded with its own vocabulary (e.g. results/data/{vocab.unit}/test.pt)")


def evaluate_checkpoint(checkpoint, data_path, device: str = "auto", threads: int = 2, vocab_path=None) -> dict:
    """The test.tsv row of one checkpoint on one encoded split, scored with the run's stream layout;
    the split's vocabulary (vocab_path, else the vocab.json beside it) must be the checkpoint's."""
    if threads < 1:
        raise AbcrnnError("--threads: must be at least 1")
    payload = read_checkpoint(checkpoint)  # its settings say whether to run in the deterministic mode
    dev = setup_torch(threads, device, payload["settings"].deterministic)
    model, vocab, payload = load_checkpoint(checkpoint, dev, payload)
    check_data_vocab(checkpoint, vocab, data_path, vocab_path)
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


# --- tables -------------------------------------------------------------------------------------------

def read_run(test_path: Path, metrics_path: Path) -> tuple[dict, list[dict]]:
    """(test.tsv row with numbers parsed, metrics.tsv rows with numbers parsed) of one run."""
    rows = {}
    needed = [c for c in TEST_COLUMNS if c not in LATER_COLUMNS]
    for name, path, columns in (("test.tsv", test_path, needed), ("metrics.tsv", metrics_path, METRICS_COLUMNS)):
        rows[name] = read_tsv(path, columns, f"run's {name} (evaluate the run first)")
        if not rows[name]:
            raise AbcrnnError(f"{path}: no rows")
    for key, default in LATER_COLUMNS.items():
        rows["test.tsv"][0].setdefault(key, default)
    try:
        test = {k: number(v) if k in NUMERIC and v != "" else v for k, v in rows["test.tsv"][0].items()}
        metrics = [{k: v if k in MACHINE_COLUMNS else number(v) for k, v in r.items()} for r in rows["metrics.tsv"]]
    except ValueError as exc:
        raise AbcrnnError(f"{test_path.parent}: unreadable number in test.tsv or metrics.tsv ({exc})") from None
    return test, metrics


def best_run_name(path) -> str:
    """The run named in best_run.tsv (written by `abcrnn tables`)."""
    rows = read_tsv(path, ["run"], "best-run table, e.g. results/tables/best_run.tsv")
    if not rows or not rows[0]["run"]:
        raise AbcrnnError(f"{path}: needs a `run` column with at least one row")
    return rows[0]["run"]


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
