"""What single neurons learn (the paper's section 4.4): activation heatmaps over a generated tune.

The best model writes a tune from `<start>`; the tune is fed back one character at a time and the
hidden state (and, for an LSTM, the cell state) recorded at every step. The neurons that best tell
the header (`<start>` up to the K: line) from the music are found by effect size (difference of means
over the pooled standard deviation) and drawn as 20×20 heatmaps with the characters written in.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from abcrnn.notation.tunes import START, is_key_line
from abcrnn.errors import AbcrnnError
from abcrnn.settings import RECURRENT

SIDE = 20  # the paper reshapes 400 characters into a 20×20 grid
TOP = 5    # neurons listed per state in neurons.tsv


@torch.no_grad()
def record_states(model, ids: list[int], device="cpu") -> dict[str, np.ndarray]:
    """Top-layer hidden (and LSTM cell) state after each symbol: {"hidden": (T, H), "cell": (T, H)}."""
    state = None
    hidden, cell = [], []
    for i in ids:
        _, state = model(torch.tensor([[i]], device=device), state)
        h = state[0] if isinstance(state, tuple) else state
        hidden.append(h[-1, 0].float().cpu().numpy())
        if isinstance(state, tuple):
            cell.append(state[1][-1, 0].float().cpu().numpy())
    out = {"hidden": np.stack(hidden)}
    if cell:
        out["cell"] = np.stack(cell)
    return out


def header_mask(pieces: list[str]) -> np.ndarray:
    """True for symbols of a header: from <start> through the end of its K: line."""
    mask, in_header, line = [], True, ""
    for p in pieces:
        mask.append(in_header)
        if p == "\n":
            if in_header and is_key_line(line):
                in_header = False
            line = ""
        else:
            line += p
            in_header = in_header or line.endswith(START)  # a second tune begins
    return np.array(mask)


def effect_sizes(acts: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per neuron: (mean over the music − mean over the header) / pooled standard deviation."""
    a, b = acts[~mask], acts[mask]
    if len(a) < 2 or len(b) < 2:
        return np.zeros(acts.shape[1])
    pooled = np.sqrt((a.var(axis=0, ddof=1) * (len(a) - 1) + b.var(axis=0, ddof=1) * (len(b) - 1)) / (len(a) + len(b) - 2))
    return (a.mean(axis=0) - b.mean(axis=0)) / np.maximum(pooled, 1e-8)


@dataclass(frozen=True)
class Heatmap:
    """One neuron's activation over the generated symbols, for report.heatmaps to draw."""
    state: str
    values: np.ndarray
    pieces: list[str]
    title: str


def neuron_rows(path: Path, states_wanted, device, seed: int = 0, temperature="1.0",
                length: int = SIDE * SIDE) -> tuple[list[dict], list[Heatmap]]:
    """Generate from one checkpoint; rows of neurons.tsv and the heatmap of each state in `states_wanted`."""
    from abcrnn.models.checkpoint import load_checkpoint
    from abcrnn.generation.sample import parse_temperature, sample_batch

    torch.manual_seed(seed)
    model, vocab, _ = load_checkpoint(path, device)
    # Sampling stops at <end>; keep writing further tunes until the grid is full, as the paper did.
    text, temperature = START + "\n", parse_temperature(temperature)
    for round_ in range(length):
        missing = length - len(vocab.tokenize(text))
        if missing <= 0:
            break
        text = sample_batch(model, vocab, text, 1, temperature, missing, seed + round_, device=device)[0]
    pieces = vocab.tokenize(text)[: length]
    states = record_states(model, [vocab.id(s) for s in pieces], device)
    absent = sorted(set(states_wanted) - set(states))
    if absent:
        raise AbcrnnError(f"{path}: a {model.kind} model has no {absent[0]} state (only {', '.join(states)})")
    mask = header_mask(pieces)

    rows, heatmaps = [], []
    run = path.parent.name
    separable = 2 <= int(mask.sum()) <= len(mask) - 2
    if not separable:  # e.g. a barely trained model that never writes a K: line
        print("activations: the generated text has no header/music boundary; ranking neurons by variance",
              file=sys.stderr)
    for name in states_wanted:
        acts = states[name]
        score = effect_sizes(acts, mask) if separable else acts.std(axis=0)
        order = np.argsort(-np.abs(score), kind="stable")[:TOP]
        for rank, k in enumerate(order, 1):
            rows.append({"run": run, "state": name, "rank": rank, "neuron": int(k),
                         "criterion": "header-vs-music" if separable else "variance", "score": float(score[k]),
                         "mean_header": float(acts[mask, k].mean()) if mask.any() else "",
                         "mean_music": float(acts[~mask, k].mean()) if (~mask).any() else ""})
        k = int(order[0])
        if separable:
            title = f"{run}: {name} unit {k} (fires for the {'music' if score[k] > 0 else 'header'}, effect size {score[k]:+.2f})"
        else:
            title = f"{run}: {name} unit {k} (most variable)"
        heatmaps.append(Heatmap(name, acts[:, k], pieces, title))
    print(f"activations: {run}: {len(pieces)} symbols, header {int(mask.sum())}, music {int((~mask).sum())}; "
          f"states drawn: {', '.join(states_wanted)}", file=sys.stderr)
    return rows, heatmaps


def chosen_runs(runs_table: str, models_dir: str, checkpoints: list[str] | None,
                plots: dict[str, Path]) -> dict[Path, dict[str, Path]]:
    """{checkpoint: {state: plot}}: the hidden state of the best recurrent run by validation loss, the
    cell state of the best LSTM run (the same run when the best is an LSTM). Transformers have no
    recurrent state to show."""
    from abcrnn.models.checkpoint import run_checkpoint
    from abcrnn.training.evaluate import best_row
    from abcrnn.fileio import read_tsv

    try:
        rows = [{**r, "val_loss": float(r["val_loss"] or "nan")} for r in read_tsv(runs_table)]
    except (OSError, KeyError, ValueError) as exc:
        raise AbcrnnError(f"{runs_table}: not a readable test_loss.tsv ({exc})") from None
    chosen: dict[Path, dict[str, Path]] = {}
    for state, plot in plots.items():
        pool = [r for r in rows if (r.get("model") == "lstm" if state == "cell" else r.get("model") in RECURRENT)]
        if not pool:
            raise AbcrnnError(f"{runs_table}: no {'LSTM' if state == 'cell' else 'recurrent'} run for the "
                              f"{state}-state heatmap")
        chosen.setdefault(run_checkpoint(best_row(pool)["run"], checkpoints, models_dir), {})[state] = plot
    return chosen
