"""The pipeline's plots: loss plots of the training runs, after the paper's figures 15-18 and 24,
and the validity chart of generated tunes (plot_validity, from `abcrnn validity`'s summary rows)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from abcrnn.report.figures import plt, save

from abcrnn.errors import AbcrnnError
from abcrnn.fileio import atomic_path
from abcrnn.analysis.validity import BASELINE
from abcrnn.fileio import number
from abcrnn.settings import sweep_group

UNIT = "cross-entropy loss (nats/char)"  # per character of ABC text, for character and token runs alike
PLOTTED = {  # column: legend label
    "header_complete": "complete header",
    "renders_ok": "renders without errors",
    "has_notes": "has notes",
    "bars_match_meter": "bars match meter",
    "ended": "reached <end>",
    "repetition": "repeated-loop share (lower is better)",
    "copied": "longest copied run (share of body; lower = more novel)",
}
LOWER_IS_BETTER = {"repetition", "copied"}  # hatched in the plot


def _curve(ax, metrics: list[dict], key: str, **style):
    ax.plot([m["epoch"] for m in metrics], [m[key] for m in metrics], **style)


def _finish(ax, title: str, outside: bool = False) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(UNIT)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if outside:  # many runs: a legend beside the plot hides no curve
        ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.legend(fontsize="small")


def loss_curves(curves: dict[str, list[dict]], path: Path) -> None:
    """Training (dashed) and validation (solid) loss per epoch, one colour per run (fig. 15/16)."""
    many = len(curves) > 6
    fig, ax = plt.subplots(figsize=(11 if many else 8, 5))
    colors = plt.get_cmap("tab20" if len(curves) > 10 else "tab10")
    for i, (run, metrics) in enumerate(curves.items()):
        color = colors(i % colors.N)
        _curve(ax, metrics, "train_loss_char", color=color, linestyle="--")
        _curve(ax, metrics, "val_loss_char", color=color, marker="o", markersize=3, label=run)
    # One legend entry per run (its colour) and one per line style.
    ax.plot([], [], color="0.3", linestyle="--", label="training (dashed)")
    ax.plot([], [], color="0.3", marker="o", markersize=3, label="validation (solid)")
    _finish(ax, "Training and validation loss per epoch", outside=many)
    fig.tight_layout()
    save(fig, path)


def rnn_vs_lstm(rows: list[dict], curves: dict[str, list[dict]], path: Path) -> None:
    """One panel per model type on a shared loss axis (fig. 24); needs two types or more."""
    kinds = sorted({r["model"] for r in rows})
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 4.5), sharey=True)
    for letter, kind, ax in zip("abcdefgh", kinds, axes):
        for i, r in enumerate(r for r in rows if r["model"] == kind):
            _curve(ax, curves[r["run"]], "train_loss_char", color=f"C{i % 10}", linestyle="--", label=f"{r['run']} train")
            _curve(ax, curves[r["run"]], "val_loss_char", color=f"C{i % 10}", label=f"{r['run']} validation")
        _finish(ax, f"({letter}) {kind.upper()}")
    fig.suptitle("Cross-entropy loss by model type")
    fig.tight_layout()
    save(fig, path)


def hidden_sweep(rows: list[dict], curves: dict[str, list[dict]], path: Path, best: str) -> None:
    """Training and validation loss for each hidden size, side by side (fig. 17/18)."""
    group = sweep_group(rows, best)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for i, r in enumerate(group):
        for ax, key in zip(axes, ("train_loss_char", "val_loss_char")):
            _curve(ax, curves[r["run"]], key, color=f"C{i % 10}", label=f"hidden {r['hidden']}")
    _finish(axes[0], "Training loss by hidden size")
    _finish(axes[1], "Validation loss by hidden size")
    r = group[0]
    fig.suptitle(f"{r['model'].upper()}, {r['layers']} layer(s), chunk {r['chunk']}, lr {r['lr']}, "
                 f"batch {r['batch_size']}")
    fig.tight_layout()
    save(fig, path)


def test_loss_bars(rows: list[dict], path: Path, best: str) -> None:
    """Test loss per run, the best run by validation loss highlighted."""
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(rows) + 2), 4.5))
    names = [r["run"] for r in rows]
    values = [r["test_loss_char"] for r in rows]
    bars = ax.bar(range(len(rows)), values, color=["C1" if n == best else "C0" for n in names])
    ax.bar_label(bars, fmt="%.3f", fontsize="small")
    ax.set_xticks(range(len(rows)), names, rotation=30, ha="right", fontsize="small")
    ax.set_ylabel("test " + UNIT)
    ax.set_title("Test loss per run (orange: best by validation loss)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save(fig, path)


def check_requests(rows: list[dict], paths: dict[str, Path | None], best: str) -> None:
    """Refuse, before anything is written, a comparison plot the runs cannot fill."""
    kinds = sorted({r["model"] for r in rows})
    if paths.get("rnn_vs_lstm") and len(kinds) < 2:
        raise AbcrnnError(f"{paths['rnn_vs_lstm']}: the model-type comparison needs runs of two model types, "
                          f"got only {kinds[0]}")
    if paths.get("hidden_sweep") and not sweep_group(rows, best):
        raise AbcrnnError(f"{paths['hidden_sweep']}: the hidden-size sweep needs runs that differ only in hidden size")


def run_plots(rows: list[dict], curves: dict[str, list[dict]], paths: dict[str, Path | None], best: str) -> None:
    """The loss plots asked for: paths has loss_curves and test_loss, and rnn_vs_lstm and hidden_sweep
    where the grid has two model types or two hidden sizes (None or absent: not drawn)."""
    loss_curves(curves, Path(paths["loss_curves"]))
    test_loss_bars(rows, Path(paths["test_loss"]), best)
    if paths.get("rnn_vs_lstm"):
        rnn_vs_lstm(rows, curves, Path(paths["rnn_vs_lstm"]))
    if paths.get("hidden_sweep"):
        hidden_sweep(rows, curves, Path(paths["hidden_sweep"]), best)


# --- validity of generated tunes -------------------------------------------------------------

def plot_blocks(summary: list[dict]) -> list[list[dict]]:
    """The summary rows split into one block per run's set of temperatures, the test-set rows
    appended to each block so that every block is read beside the baseline.

    A block ends where the run changes or a temperature comes back (the best run's samples
    followed by the same run's samples among all runs)."""
    baseline = [row for row in summary if row["temperature"] == BASELINE]
    blocks: list[list[dict]] = []
    for row in summary:
        if row["temperature"] == BASELINE:
            continue
        block = blocks[-1] if blocks else []
        if not block or row["run"] != block[0]["run"] or any(r["temperature"] == row["temperature"] for r in block):
            blocks.append([row])
        else:
            block.append(row)
    return [block + baseline for block in blocks] or [baseline]


def _block_title(block: list[dict], repeated: bool) -> str:
    """The run's name; where the run has several blocks, also where its samples are."""
    run = block[0]["run"]
    return f"{run}\nsamples in {Path(block[0]['samples']).parent}/" if repeated else run


def plot_validity(summary: list[dict], path) -> None:
    """Grouped bars: each validity measure per temperature, the test-set tunes last for comparison;
    one panel per run when the summary holds several runs."""
    blocks = plot_blocks(summary)
    # a measure that was not taken (novelty without --train) is blank in every row: no bar for it
    plotted = {c: name for c, name in PLOTTED.items() if any(row.get(c, "") != "" for row in summary)}
    width = max(7.0 if len(blocks) == 1 else 9.0, 1.6 * max(len(block) for block in blocks) + 3)
    fig, axes = plt.subplots(len(blocks), 1, squeeze=False, sharey=True, layout="constrained",
                             figsize=(width, 1.6 + 3.0 * len(blocks)))
    runs = [block[0]["run"] for block in blocks]
    for ax, block in zip(axes[:, 0], blocks):
        _plot_block(ax, block, plotted)
        if len(blocks) > 1:
            ax.set_title(_block_title(block, runs.count(block[0]["run"]) > 1), fontsize="medium", loc="left")
    if len(blocks) == 1:
        run = blocks[0][0]["run"]
        axes[0, 0].set_title("Validity of generated tunes" + (f" ({run})" if run else ""))
    else:
        fig.suptitle("Validity of generated tunes per run")
    axes[-1, 0].set_xlabel("sampling temperature")
    handles, names = axes[0, 0].get_legend_handles_labels()
    # the longest legend entries need about 11 inches in four columns
    fig.legend(handles, names, fontsize="small", ncol=min(4 if width >= 11 else 2, len(plotted)),
               loc="outside lower center", frameon=False)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def _plot_block(ax, block: list[dict], plotted: dict[str, str]) -> None:
    labels = [row["temperature"] for row in block]
    x = np.arange(len(labels))
    width = 0.8 / len(plotted)
    for k, (column, name) in enumerate(plotted.items()):
        values = [number(row.get(column, ""), math.nan) for row in block]
        ax.bar(x + (k - (len(plotted) - 1) / 2) * width, np.nan_to_num(values, nan=0.0), width, label=name,
               hatch="///" if column in LOWER_IS_BETTER else None, edgecolor="white", linewidth=0)
    ax.set_xticks(x, [("test-set\n(baseline)" if lab == BASELINE else f"T = {lab}" if lab != "argmax" else "argmax")
                      for lab in labels])
    ax.set_xlim(-0.5, len(labels) - 0.5)
    if BASELINE in labels:
        ax.axvline(labels.index(BASELINE) - 0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("mean over tunes (0–1)")
    ax.grid(axis="y", alpha=0.3)


def plot_models(rows: list[dict], labels: list[str], path: Path) -> None:
    """Three panels: test loss per character, training speed, and for the first headline temperature
    with each decoding the share of valid tunes and the note-distribution overlap."""
    models = [r for r in rows if r["model"] != "test-set"]
    names = [f"{r['model']}\n{r['unit']}" for r in models]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    x = range(len(models))
    for ax, key, title, fmt in ((axes[0], "test_loss_char", "Test loss (nats per character of ABC)", "%.3f"),
                                (axes[1], "chars_per_s", "Training speed (characters/s)", "%.0f")):
        bars = ax.bar(x, [number(r[key], 0.0) for r in models], color=[f"C{i % 10}" for i in x])
        ax.bar_label(bars, fmt=fmt, fontsize="small")
        ax.set_xticks(list(x), names, fontsize="small")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    ax = axes[2]
    shown = [label for label in labels if label.split("-")[0] == labels[0].split("-")[0]] if labels else []
    series = [(f"{c}_{label}", f"{'valid' if c == 'valid' else 'overlap'} {label}")
              for label in shown for c in ("valid", "distribution")]
    width = 0.8 / max(1, len(series))
    for k, (column, name) in enumerate(series):
        values = [number(r.get(column, ""), 0.0) for r in models]
        ax.bar([i + (k - (len(series) - 1) / 2) * width for i in x], values, width, label=name)
    real = next((r for r in rows if r["model"] == "test-set"), None)
    if real and labels:
        ax.axhline(number(real.get(f"valid_{labels[0]}", ""), math.nan), color="k", linestyle=":",
                   linewidth=1, label="valid share of real tunes")
    ax.set_xticks(list(x), names, fontsize="small")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"Samples at T = {shown[0].split('-')[0] if shown else '?'}: valid tunes, note-distribution overlap")
    ax.grid(axis="y", alpha=0.3)
    if series:  # below the panel, where it hides no bar
        ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    else:
        ax.text(0.5, 0.5, "no samples at T = 0.7 or 1.0", ha="center", transform=ax.transAxes)
    fig.suptitle("Model kinds and vocabularies side by side (the best run of each)")
    fig.tight_layout()
    save(fig, path)
