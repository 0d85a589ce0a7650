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

from .abc import START, is_key_line
from .errors import AbcrnnError
from .settings import RECURRENT
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


def neuron_rows(path: Path, plots: dict[str, Path], a, device) -> list[dict]:
    """Generate from one checkpoint, draw the heatmap of each state in `plots`; rows of neurons.tsv."""
    from .checkpoint import load_checkpoint
    from .sample import parse_temperature, sample_batch

    torch.manual_seed(a.seed)
    model, vocab, _ = load_checkpoint(path, device)
    # Sampling stops at <end>; keep writing further tunes until the grid is full, as the paper did.
    text, temperature = START + "\n", parse_temperature(a.temperature)
    for round_ in range(a.length):
        missing = a.length - len(vocab.tokenize(text))
        if missing <= 0:
            break
        text = sample_batch(model, vocab, text, 1, temperature, missing, a.seed + round_, device=device)[0]
    pieces = vocab.tokenize(text)[: a.length]
    states = record_states(model, [vocab.id(s) for s in pieces], device)
    absent = sorted(set(plots) - set(states))
    if absent:
        raise AbcrnnError(f"{path}: a {model.kind} model has no {absent[0]} state (only {', '.join(states)})")
    mask = header_mask(pieces)

    rows = []
    run = path.parent.name
    separable = 2 <= int(mask.sum()) <= len(mask) - 2
    if not separable:  # e.g. a barely trained model that never writes a K: line
        print("activations: the generated text has no header/music boundary; ranking neurons by variance",
              file=sys.stderr)
    for name, plot in plots.items():
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
        plot_heatmap(plot, acts[:, k], pieces, title)
    print(f"activations: {run}: {len(pieces)} symbols, header {int(mask.sum())}, music {int((~mask).sum())}; "
          f"states drawn: {', '.join(plots)}", file=sys.stderr)
    return rows


def chosen_runs(runs_table: str, models_dir: str, checkpoints: list[str] | None,
                plots: dict[str, Path]) -> dict[Path, dict[str, Path]]:
    """{checkpoint: {state: plot}}: the hidden state of the best recurrent run by validation loss, the
    cell state of the best LSTM run (the same run when the best is an LSTM). Transformers have no
    recurrent state to show."""
    from .checkpoint import run_checkpoint
    from .evaluate import best_row
    from .fileio import read_tsv

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


def main_activations(argv=None) -> int:
    from .runtime import setup_torch

    p = argparse.ArgumentParser(prog="abcrnn activations",
                                description="Heatmaps of the neurons that tell a tune's header from its music.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="one run's checkpoint: draws the states asked for from it")
    src.add_argument("--runs", help="test_loss.tsv: the best run's hidden state, the best LSTM run's cell state")
    p.add_argument("--models-dir", default="results/models", help="where --runs finds RUN/best.pt")
    p.add_argument("--checkpoints", nargs="+", help="or the checkpoints --runs chooses from (by folder name)")
    p.add_argument("--length", type=int, default=SIDE * SIDE, help="symbols to generate and show (paper: 400)")
    p.add_argument("--temperature", default="1.0")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cpu")
    p.add_argument("--hidden-plot", required=True, help="heatmap of the hidden state's best-separating neuron")
    p.add_argument("--cell-plot", help="heatmap of the LSTM cell state's best-separating neuron")
    p.add_argument("--table", required=True, help="neurons.tsv: the best-separating neurons per state")
    a = p.parse_args(argv)
    if a.length < 10:
        raise AbcrnnError(f"--length: must be at least 10, got {a.length}")
    plots = {"hidden": Path(a.hidden_plot), **({"cell": Path(a.cell_plot)} if a.cell_plot else {})}
    chosen = {Path(a.checkpoint): plots} if a.checkpoint else chosen_runs(a.runs, a.models_dir, a.checkpoints, plots)
    device = setup_torch(1, a.device)
    rows = [row for path, wanted in chosen.items() for row in neuron_rows(path, wanted, a, device)]
    write_tsv(a.table, rows, ["run", "state", "rank", "neuron", "criterion", "score", "mean_header", "mean_music"])
    return 0


