"""What single neurons learn (the paper's section 4.4): activation heatmaps over a generated tune.

The best model writes a tune from `<start>`; the tune is fed back one character at a time and the
hidden state (and, for an LSTM, the cell state) recorded at every step. The neurons that best tell
the header (`<start>` up to the K: line) from the music are found by effect size (difference of means
over the pooled standard deviation) and drawn as 20×20 heatmaps with the characters written in.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from .abc import START
from .errors import AbcrnnError
from .fileio import atomic_path, write_tsv

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
            if in_header and line.startswith("K:"):
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


def plot_heatmap(path, values: np.ndarray, pieces: list[str], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = SIDE * SIDE
    grid = np.full(n, np.nan)
    grid[: min(n, len(values))] = values[:n]
    fig, ax = plt.subplots(figsize=(9, 8.2))
    lim = max(1.0, float(np.nanmax(np.abs(grid))))  # hidden states lie in [-1, 1]; cell states can exceed it
    image = ax.imshow(grid.reshape(SIDE, SIDE), cmap="coolwarm", vmin=-lim, vmax=lim)
    for k, p in enumerate(pieces[:n]):
        label = {"\n": "↵", " ": "␣"}.get(p, p if len(p) == 1 else p[1])
        ax.text(k % SIDE, k // SIDE, label, ha="center", va="center", fontsize=8, family="monospace")
    ax.set_xticks([]), ax.set_yticks([])
    ax.set_title(title, fontsize=11)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03, label="activation")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def main_activations(argv=None) -> int:
    from .checkpoint import load_checkpoint
    from .runtime import setup_torch
    from .sample import best_checkpoint, parse_temperature, sample_batch

    p = argparse.ArgumentParser(prog="abcrnn activations",
                                description="Heatmaps of the neurons that tell a tune's header from its music.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint")
    src.add_argument("--best-run", help="best_run.tsv: use the run named in its `run` column")
    p.add_argument("--models-dir", default="results/models")
    p.add_argument("--length", type=int, default=SIDE * SIDE, help="symbols to generate and show (paper: 400)")
    p.add_argument("--temperature", default="1.0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    p.add_argument("--plots-dir", required=True, help="writes activations_hidden.png (and activations_cell.png)")
    p.add_argument("--table", required=True, help="neurons.tsv: the best-separating neurons per state")
    a = p.parse_args(argv)
    if a.length < 10:
        raise AbcrnnError(f"--length: must be at least 10, got {a.length}")

    torch.manual_seed(a.seed)
    device = setup_torch(1, a.device)
    path = Path(a.checkpoint) if a.checkpoint else best_checkpoint(a.best_run, a.models_dir)
    model, vocab, payload = load_checkpoint(path, device)
    # Sampling stops at <end>; keep writing further tunes until the grid is full, as the paper did.
    text, temperature = START + "\n", parse_temperature(a.temperature)
    for round_ in range(a.length):
        missing = a.length - len(vocab.tokenize(text))
        if missing <= 0:
            break
        text = sample_batch(model, vocab, text, 1, temperature, missing, a.seed + round_, device=device)[0]
    pieces = vocab.tokenize(text)[: a.length]
    states = record_states(model, [vocab.id(s) for s in pieces], device)
    mask = header_mask(pieces)

    rows = []
    run = path.parent.name
    separable = 2 <= int(mask.sum()) <= len(mask) - 2
    if not separable:  # e.g. a barely trained model that never writes a K: line
        print("activations: the generated text has no header/music boundary; ranking neurons by variance",
              file=sys.stderr)
    for name, acts in states.items():
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
        plot_heatmap(Path(a.plots_dir) / f"activations_{name}.png", acts[:, k], pieces, title)
    write_tsv(a.table, rows, ["run", "state", "rank", "neuron", "criterion", "score", "mean_header", "mean_music"])
    print(f"activations: {len(pieces)} symbols, header {int(mask.sum())}, music {int((~mask).sum())}; "
          f"states: {', '.join(states)}", file=sys.stderr)
    return 0
