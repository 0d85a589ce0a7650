"""`abcrnn models`: what each model kind and vocabulary buys, side by side (models.tsv and models.png).

One row per model kind and vocabulary unit: its best run by validation loss per character (from
test_loss.tsv), with its size, training time and speed, test loss per character of ABC text (the
scale on which character and token models compare), and the headline quality of its samples at
T = 0.7 and 1.0 (with and without meter-aware decoding, where the config samples both): bars that
fit the meter and renders without abc2midi errors (sample_validity.tsv), the distribution overlap
with real tunes and the share of copies (quality.tsv). A run that was not sampled (`sample.runs:
best` samples the best run only) has blank quality cells; `sample.runs: all` fills every row.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from .errors import AbcrnnError
from .evaluate import best_row
from .fileio import read_tsv, write_tsv
from .validity import BASELINE, number

HEADLINE = ("0.7", "1.0")  # temperatures whose quality models.tsv shows
VALIDITY = ("bars_match_meter", "renders_ok")
QUALITY = ("distribution", "copies")
BASE_COLUMNS = ["model", "unit", "run", "corpus", "params", "epochs_trained", "train_seconds", "chars_per_s",
                "test_loss_char", "test_bits_char", "test_loss", "runs_of_kind"]


def _read(path: str | Path, needed: list[str], what: str) -> list[dict]:
    try:
        rows = read_tsv(path)
    except OSError as exc:
        raise AbcrnnError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    missing = [c for c in needed if rows and c not in rows[0]]
    if missing:
        raise AbcrnnError(f"{path}: not a {what} (missing columns {', '.join(missing)})")
    return rows


def headline_labels(validity: list[dict]) -> list[str]:
    """The sample-set labels to show: T = 0.7 and 1.0, each also meter-aware where it was sampled so."""
    present = {r["temperature"] for r in validity}
    return [label for t in HEADLINE for label in (t, f"{t}-meter") if label in present]


def _first(rows: list[dict], run: str, label: str) -> dict | None:
    return next((r for r in rows if r["run"] == run and r["temperature"] == label), None)


def model_rows(runs: list[dict], validity: list[dict], quality: list[dict]) -> tuple[list[dict], list[str]]:
    """(rows, their column names): one row per (model kind, unit), in the order the kinds first appear."""
    labels = headline_labels(validity)
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        groups.setdefault((r["model"], r.get("unit", "char")), []).append(r)
    rows = []
    for (model, unit), members in groups.items():
        best = best_row([{**r, "val_loss": number(r["val_loss"], math.nan),
                          "val_loss_char": number(r.get("val_loss_char", ""), math.nan)} for r in members])
        row = {"model": model, "unit": unit, "runs_of_kind": len(members),
               **{c: best.get(c, "") for c in BASE_COLUMNS if c not in ("model", "unit", "runs_of_kind")}}
        for label in labels:
            v, q = _first(validity, best["run"], label), _first(quality, best["run"], label)
            for column in VALIDITY:
                row[f"{column}_{label}"] = v[column] if v else ""
            for column in QUALITY:
                row[f"{column}_{label}"] = q[column] if q else ""
        rows.append(row)
    reference = [r for r in validity if r["temperature"] == BASELINE][:1]
    real = [r for r in quality if r["temperature"] == BASELINE][:1]
    if reference or real:  # the real test tunes, for comparison
        row = {"model": "test-set", "unit": "", "run": "(real tunes)"}
        for label in labels:
            for column in VALIDITY:
                row[f"{column}_{label}"] = reference[0][column] if reference else ""
            for column in QUALITY:
                row[f"{column}_{label}"] = real[0][column] if real else ""
        rows.append(row)
    columns = BASE_COLUMNS + [f"{c}_{label}" for label in labels for c in (*VALIDITY, *QUALITY)]
    return rows, columns


def plot_models(rows: list[dict], labels: list[str], path: Path) -> None:
    """Three panels: test loss per character, training speed, and bar fit / distribution overlap."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plots import save

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
    series = [(f"{c}_{label}", f"{'bar fit' if c == 'bars_match_meter' else 'overlap'} T={label}")
              for label in labels for c in ("bars_match_meter", "distribution")]
    width = 0.8 / max(1, len(series))
    for k, (column, name) in enumerate(series):
        values = [number(r.get(column, ""), 0.0) for r in models]
        ax.bar([i + (k - (len(series) - 1) / 2) * width for i in x], values, width, label=name)
    real = next((r for r in rows if r["model"] == "test-set"), None)
    if real and labels:
        ax.axhline(number(real.get(f"bars_match_meter_{labels[0]}", ""), math.nan), color="k", linestyle=":",
                   linewidth=1, label="bar fit of real tunes")
    ax.set_xticks(list(x), names, fontsize="small")
    ax.set_ylim(0, 1.05)
    ax.set_title("Samples: bars fitting the meter, note-distribution overlap")
    ax.grid(axis="y", alpha=0.3)
    if series:  # below the panel, where it hides no bar
        ax.legend(fontsize="x-small", loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    else:
        ax.text(0.5, 0.5, "no samples at T = 0.7 or 1.0", ha="center", transform=ax.transAxes)
    fig.suptitle("Model kinds and vocabularies side by side (the best run of each)")
    fig.tight_layout()
    save(fig, path)


def main_models(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="abcrnn models", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--test-loss", required=True, help="test_loss.tsv from abcrnn tables")
    p.add_argument("--validity", required=True, help="sample_validity.tsv from abcrnn validity")
    p.add_argument("--quality", required=True, help="quality.tsv from abcrnn quality")
    p.add_argument("--out", required=True, help="models.tsv to write")
    p.add_argument("--plot", help="models.png to write")
    a = p.parse_args(argv)
    runs = _read(a.test_loss, ["run", "model", "val_loss", "test_loss_char"], "test-loss table")
    validity = _read(a.validity, ["temperature", "run", *VALIDITY], "validity table")
    quality = _read(a.quality, ["temperature", "run", *QUALITY], "quality table")
    if not runs:
        raise AbcrnnError(f"{a.test_loss}: no runs")
    rows, columns = model_rows(runs, validity, quality)
    if a.plot:
        plot_models(rows, headline_labels(validity), Path(a.plot))
    write_tsv(a.out, rows, columns)
    print(f"abcrnn models: {len(rows)} rows -> {a.out}", file=sys.stderr)
    return 0
