"""The `abcrnn validity` stage: how valid are generated tunes, per run and temperature?

Per tune: a complete header, a MIDI rendering without abc2midi errors (and whether the errors are
the primed header's or in the body the model wrote, abcm2ps's counted too), marks that write no
note (signs without their note, runs without notes: notation/defects.py), valid (no error in the
body, no such marks), enough notes, the share of bars whose length matches the meter (a bar holding
a mark that writes no note does not), whether the sample reached <end>, a repetition score that
catches the "dead loops" of argmax sampling, and (given the training split) the longest run of
the tune's music copied verbatim from a training tune. One summary row per sample directory (a
run's samples at one temperature), in the order given, then the same measures on test-set tunes.
The measures are abc.py's (header, bars) and novelty.py's (repetition, copying); the chart is
plots.plot_validity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from abcrnn.notation.bars import bar_check
from abcrnn.notation.defects import defects
from abcrnn.notation.tunes import header_complete
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import number, read_tsv
from abcrnn.analysis.novelty import CopyFinder, novelty, repetition

BASELINE = "test-set"
# `samples` is the directory the tunes came from: it tells apart two groups of one run and temperature
# (the best run's samples and the same run's among all runs) and locates each tune's `file`
# renders_ok: abc2midi reports no error; header_errors: the errors of the header it was primed with;
# body_ok: neither abc2midi nor abcm2ps reports an error in the body (the text the model wrote);
# stray_signs, noteless_run: marks that write no note (notation/defects.py); valid: body_ok and neither
TUNE_COLUMNS = ["temperature", "run", "file", "header_complete", "renders_ok", "header_errors", "body_ok",
                "stray_signs", "noteless_run", "valid", "notes", "has_notes", "errors", "warnings", "bars",
                "bars_match_meter", "ended", "repetition", "message", "longest_copy", "copied", "samples"]
SUMMARY_COLUMNS = ["temperature", "run", "tunes", "header_complete", "renders_ok", "header_errors", "body_ok",
                   "stray_signs", "noteless_run", "valid", "has_notes", "mean_errors", "mean_warnings",
                   "bars_match_meter", "ended", "repetition", "mean_notes", "longest_copy", "copied", "samples"]
NOVELTY_COLUMNS = ("longest_copy", "copied")  # blank unless --train is given


def _flag(value: str) -> bool | None:
    return {"True": True, "False": False, "1": True, "0": False}.get(str(value).strip())


def tune_rows(directory, label: str, run: str, min_notes: int, baseline: bool = False,
              finder: CopyFinder | None = None) -> list[dict]:
    """One row per rendered tune in a directory (render.tsv, and samples.tsv for generated tunes);
    longest_copy and copied are measured against `finder` and left blank without one."""
    directory = Path(directory)
    renders = read_tsv(directory / "render.tsv", ["file", "midi_ok", "notes", "errors", "warnings"],
                       f"render table (run `abcrnn render --dir {directory}` first)")
    ended = {}
    if not baseline:
        samples = read_tsv(directory / "samples.tsv", ["file", "ended"], "sample table of `abcrnn sample`")
        ended = {r["file"]: _flag(r["ended"]) for r in samples}
    rows = []
    for r in renders:
        if _flag(r["midi_ok"]) is None:
            raise AbcrnnError(f"{directory / 'render.tsv'}: {r['file']} has no MIDI result (rendered with --no-midi?)")
        try:
            tune = (directory / r["file"]).read_text(encoding="utf-8")
        except OSError as exc:
            raise AbcrnnError(f"{directory / r['file']}: cannot read the tune ({exc.strerror})") from None
        flaws = defects(tune)
        bars, share = bar_check(tune, flaws.bars)  # a bar holding a mark that writes no note does not fit
        body_ok = int(number(r.get("body_errors", ""), 0)) == 0 and bool(_flag(r["midi_ok"]) or
                                                                         int(number(r.get("header_errors"), 0)))
        longest, copied = novelty(tune, finder) if finder else (None, None)
        notes = int(number(r["notes"], 0))
        rows.append({
            "temperature": label, "run": run, "file": r["file"],
            "header_complete": header_complete(tune),
            "renders_ok": bool(_flag(r["midi_ok"])),
            "header_errors": int(number(r.get("header_errors", ""), 0)) > 0,
            "body_ok": body_ok, "stray_signs": flaws.stray_signs > 0, "noteless_run": flaws.noteless_run,
            "valid": body_ok and not flaws.any,
            "notes": notes, "has_notes": notes >= min_notes,
            "errors": int(number(r["errors"], 0)), "warnings": int(number(r["warnings"], 0)),
            "bars": bars, "bars_match_meter": share,
            "ended": True if baseline else bool(ended.get(r["file"], False)),
            "repetition": repetition(tune),
            "message": r.get("message", ""),
            "longest_copy": longest, "copied": copied,
            "samples": str(directory),
        })
    return rows


@dataclass(frozen=True)
class SampleSet:
    """One group of the table: a run's tunes at one temperature label, or the test-set baseline."""
    run: str
    label: str
    directory: str


def summarize(rows: list[dict], groups: list[SampleSet]) -> list[dict]:
    """One row per group (in the given order): fractions and means over its tunes."""
    frame = pd.DataFrame(rows, columns=TUNE_COLUMNS)
    out = []
    for group in groups:
        part = frame[(frame["temperature"] == group.label) & (frame["run"] == group.run)
                     & (frame["samples"] == group.directory)]
        out.append({
            "temperature": group.label, "run": group.run, "tunes": len(part),
            "header_complete": _mean(part["header_complete"]),
            "renders_ok": _mean(part["renders_ok"]),
            **{c: _mean(part[c]) for c in ("header_errors", "body_ok", "stray_signs", "noteless_run", "valid")},
            "has_notes": _mean(part["has_notes"]),
            "mean_errors": _mean(part["errors"]),
            "mean_warnings": _mean(part["warnings"]),
            "bars_match_meter": _mean(part["bars_match_meter"]),
            "ended": _mean(part["ended"]),
            "repetition": _mean(part["repetition"]),
            "mean_notes": _mean(part["notes"]),
            **{c: _mean(part[c]) if part[c].notna().any() else "" for c in NOVELTY_COLUMNS},
            "samples": group.directory,
        })
    return out


def _mean(column: pd.Series) -> float:
    values = pd.to_numeric(column, errors="coerce").astype(float).dropna()
    return float(values.mean()) if len(values) else math.nan

