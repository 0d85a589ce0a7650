"""Loss plots of the training runs, after the paper's figures 15-18 and 24."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from .fileio import atomic_path  # noqa: E402

UNIT = "cross-entropy loss (nats/char)"
# Settings that must agree for runs to count as one hidden-size sweep.
SWEEP_KEYS = ("model", "layers", "chunk", "lr", "batch_size", "dropout", "input")


def save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        # No software/date metadata, so that the same results give the same file.
        fig.savefig(tmp, format="png", dpi=120, metadata={"Software": None}, bbox_inches="tight")
    plt.close(fig)


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
        _curve(ax, metrics, "train_loss", color=color, linestyle="--")
        _curve(ax, metrics, "val_loss", color=color, marker="o", markersize=3, label=run)
    # One legend entry per run (its colour) and one per line style.
    ax.plot([], [], color="0.3", linestyle="--", label="training (dashed)")
    ax.plot([], [], color="0.3", marker="o", markersize=3, label="validation (solid)")
    _finish(ax, "Training and validation loss per epoch", outside=many)
    fig.tight_layout()
    save(fig, path)


def rnn_vs_lstm(rows: list[dict], curves: dict[str, list[dict]], path: Path) -> str | None:
    """One panel per model type on a shared loss axis (fig. 24); skipped with a single type."""
    kinds = sorted({r["model"] for r in rows})
    if len(kinds) < 2:
        path.unlink(missing_ok=True)  # a stale plot from an earlier set of runs would mislead
        return f"rnn_vs_lstm.png skipped: only one model type ({kinds[0]})"
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.5 * len(kinds), 4.5), sharey=True)
    for letter, kind, ax in zip("abcdefgh", kinds, axes):
        for i, r in enumerate(r for r in rows if r["model"] == kind):
            _curve(ax, curves[r["run"]], "train_loss", color=f"C{i % 10}", linestyle="--", label=f"{r['run']} train")
            _curve(ax, curves[r["run"]], "val_loss", color=f"C{i % 10}", label=f"{r['run']} validation")
        _finish(ax, f"({letter}) {kind.upper()}")
    fig.suptitle("Cross-entropy loss by model type")
    fig.tight_layout()
    save(fig, path)
    return None


def sweep_group(rows: list[dict], best: str) -> list[dict]:
    """The runs that differ only in hidden size (at least two sizes), else []: of several such sets,
    the one with most sizes, then the one holding the best run."""
    groups = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in SWEEP_KEYS)].append(r)
    group = max(groups.values(), default=[],
                key=lambda g: (len({r["hidden"] for r in g}), any(r["run"] == best for r in g),
                               min(r["run"] for r in g)))
    return sorted(group, key=lambda r: (r["hidden"], r["run"])) if len({r["hidden"] for r in group}) >= 2 else []


def hidden_sweep(rows: list[dict], curves: dict[str, list[dict]], path: Path, best: str) -> str | None:
    """Training and validation loss for each hidden size, side by side (fig. 17/18)."""
    group = sweep_group(rows, best)
    if not group:
        path.unlink(missing_ok=True)
        return "hidden_sweep.png skipped: no runs that differ only in hidden size"
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    for i, r in enumerate(group):
        for ax, key in zip(axes, ("train_loss", "val_loss")):
            _curve(ax, curves[r["run"]], key, color=f"C{i % 10}", label=f"hidden {r['hidden']}")
    _finish(axes[0], "Training loss by hidden size")
    _finish(axes[1], "Validation loss by hidden size")
    r = group[0]
    fig.suptitle(f"{r['model'].upper()}, {r['layers']} layer(s), chunk {r['chunk']}, lr {r['lr']}, "
                 f"batch {r['batch_size']}")
    fig.tight_layout()
    save(fig, path)
    return None


def test_loss_bars(rows: list[dict], path: Path, best: str) -> None:
    """Test loss per run, the best run by validation loss highlighted."""
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(rows) + 2), 4.5))
    names = [r["run"] for r in rows]
    values = [r["test_loss"] for r in rows]
    bars = ax.bar(range(len(rows)), values, color=["C1" if n == best else "C0" for n in names])
    ax.bar_label(bars, fmt="%.3f", fontsize="small")
    ax.set_xticks(range(len(rows)), names, rotation=30, ha="right", fontsize="small")
    ax.set_ylabel("test " + UNIT)
    ax.set_title("Test loss per run (orange: best by validation loss)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    save(fig, path)


def all_plots(rows: list[dict], curves: dict[str, list[dict]], out_dir: Path, best: str) -> list[str]:
    """Write every plot into out_dir; returns notes on the plots skipped."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    loss_curves(curves, out_dir / "loss_curves.png")
    test_loss_bars(rows, out_dir / "test_loss.png", best)
    notes = [rnn_vs_lstm(rows, curves, out_dir / "rnn_vs_lstm.png"),
             hidden_sweep(rows, curves, out_dir / "hidden_sweep.png", best)]
    return [n for n in notes if n]
