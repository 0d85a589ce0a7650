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

import math

from abcrnn.training.evaluate import best_row
from abcrnn.analysis.validity import BASELINE
from abcrnn.fileio import number

HEADLINE = ("0.7", "1.0")  # temperatures whose quality models.tsv shows
VALIDITY = ("valid", "body_ok", "bars_match_meter", "renders_ok")
QUALITY = ("distribution", "two_part", "four_bar_parts", "ends_on_tonic", "final_bar_complete", "copies")
NEEDED_VALIDITY, NEEDED_QUALITY = ("bars_match_meter", "renders_ok"), ("distribution", "copies")  # (others: blank)
DECODINGS = ("", "-abc", "-meter", "-form")  # unconstrained, then grammar-, meter- and form-aware
BASE_COLUMNS = ["model", "unit", "run", "corpus", "params", "epochs_trained", "train_seconds", "chars_per_s",
                "test_loss_char", "test_bits_char", "test_loss", "runs_of_kind"]


def headline_labels(validity: list[dict]) -> list[str]:
    """The sample-set labels to show: T = 0.7 and 1.0, each also with every decoding it was sampled with."""
    present = {r["temperature"] for r in validity}
    return [label for t in HEADLINE for label in (f"{t}{d}" for d in DECODINGS) if label in present]


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
                row[f"{column}_{label}"] = v.get(column, "") if v else ""
            for column in QUALITY:
                row[f"{column}_{label}"] = q.get(column, "") if q else ""
        rows.append(row)
    reference = [r for r in validity if r["temperature"] == BASELINE][:1]
    real = [r for r in quality if r["temperature"] == BASELINE][:1]
    if reference or real:  # the real test tunes, for comparison
        row = {"model": "test-set", "unit": "", "run": "(real tunes)"}
        for label in labels:
            for column in VALIDITY:
                row[f"{column}_{label}"] = reference[0].get(column, "") if reference else ""
            for column in QUALITY:
                row[f"{column}_{label}"] = real[0].get(column, "") if real else ""
        rows.append(row)
    columns = BASE_COLUMNS + [f"{c}_{label}" for label in labels for c in (*VALIDITY, *QUALITY)]
    return rows, columns
