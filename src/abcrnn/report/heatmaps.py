"""The neuron heatmap of the paper's section 4.4: one neuron's activation over 400 generated symbols."""

from __future__ import annotations
from abcrnn.analysis.activations import SIDE
from abcrnn.report.figures import plt, save
import numpy as np


def plot_heatmap(path, values: np.ndarray, pieces: list[str], title: str) -> None:
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
    save(fig, path, dpi=110)
