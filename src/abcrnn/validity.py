"""The `abcrnn validity` stage: how valid are generated tunes, per run and temperature?

Per tune: a complete header, a MIDI rendering without abc2midi errors, enough notes, the share of
bars whose length matches the meter, whether the sample reached <end>, a repetition score that
catches the "dead loops" of argmax sampling, and (given the training split) the longest run of
the tune's music copied verbatim from a training tune. One summary row per sample directory (a
run's samples at one temperature), in the order given, then the same measures on test-set tunes.
The measures are abc.py's (header, bars) and novelty.py's (repetition, copying); the chart is
plots.plot_validity.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .abc import bar_check, header_complete
from .errors import AbcrnnError
from .fileio import read_tsv, write_tsv
from .novelty import CopyFinder, load_training, novelty, repetition

BASELINE = "test-set"
# `samples` is the directory the tunes came from: it tells apart two groups of one run and temperature
# (the best run's samples and the same run's among all runs) and locates each tune's `file`
TUNE_COLUMNS = ["temperature", "run", "file", "header_complete", "renders_ok", "notes", "has_notes", "errors",
                "warnings", "bars", "bars_match_meter", "ended", "repetition", "message", "longest_copy", "copied",
                "samples"]
SUMMARY_COLUMNS = ["temperature", "run", "tunes", "header_complete", "renders_ok", "has_notes", "mean_errors",
                   "mean_warnings", "bars_match_meter", "ended", "repetition", "mean_notes", "longest_copy", "copied",
                   "samples"]
NOVELTY_COLUMNS = ("longest_copy", "copied")  # blank unless --train is given


def _flag(value: str) -> bool | None:
    return {"True": True, "False": False, "1": True, "0": False}.get(str(value).strip())


def number(value, default=0.0) -> float:
    """A table cell as a float; `default` for a blank or unreadable one."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _read_table(path: Path, needed: list[str], hint: str) -> list[dict[str, str]]:
    if not path.exists():
        raise AbcrnnError(f"{path}: not found ({hint})")
    rows = read_tsv(path)
    missing = [c for c in needed if rows and c not in rows[0]]
    if missing:
        raise AbcrnnError(f"{path}: missing column(s) {', '.join(missing)}")
    return rows


def tune_rows(directory, label: str, run: str, min_notes: int, baseline: bool = False,
              finder: CopyFinder | None = None) -> list[dict]:
    """One row per rendered tune in a directory (render.tsv, and samples.tsv for generated tunes);
    longest_copy and copied are measured against `finder` and left blank without one."""
    directory = Path(directory)
    renders = _read_table(directory / "render.tsv", ["file", "midi_ok", "notes", "errors", "warnings"],
                          f"run `abcrnn render --dir {directory}` first")
    ended = {}
    if not baseline:
        samples = _read_table(directory / "samples.tsv", ["file", "ended"], "not an `abcrnn sample` directory")
        ended = {r["file"]: _flag(r["ended"]) for r in samples}
    rows = []
    for r in renders:
        if _flag(r["midi_ok"]) is None:
            raise AbcrnnError(f"{directory / 'render.tsv'}: {r['file']} has no MIDI result (rendered with --no-midi?)")
        try:
            tune = (directory / r["file"]).read_text(encoding="utf-8")
        except OSError as exc:
            raise AbcrnnError(f"{directory / r['file']}: cannot read the tune ({exc.strerror})") from None
        bars, share = bar_check(tune)
        longest, copied = novelty(tune, finder) if finder else (None, None)
        notes = int(number(r["notes"]))
        rows.append({
            "temperature": label, "run": run, "file": r["file"],
            "header_complete": header_complete(tune),
            "renders_ok": bool(_flag(r["midi_ok"])),
            "notes": notes, "has_notes": notes >= min_notes,
            "errors": int(number(r["errors"])), "warnings": int(number(r["warnings"])),
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


def parse_sample_set(spec: str) -> tuple[str | None, str, Path]:
    """'RUN:LABEL=DIR' or 'LABEL=DIR' → (run or None, label, directory)."""
    head, sep, directory = spec.partition("=")
    run, colon, label = head.rpartition(":")
    if not sep or not label or not directory or (colon and not run):
        raise AbcrnnError(f"--samples: expected [RUN:]LABEL=DIR (e.g. 0.5=results/samples/0.5 or "
                          f"lstm-h150:0.5=results/samples/runs/lstm-h150/0.5), got {spec!r}")
    return (run if colon else None), label, sample_folder(directory)


def sample_folder(path: str) -> Path:
    """The folder of a sample set, given as the folder or as its render.tsv."""
    path = Path(path)
    return path.parent if path.suffix == ".tsv" else path


def default_run(args) -> str:
    """The run of LABEL=DIR samples: --run, or the `run` of --best-run's first row."""
    if args.run or not args.best_run:
        return args.run
    best = _read_table(Path(args.best_run), ["run"], "the best-run table, e.g. results/tables/best_run.tsv")
    return best[0]["run"] if best else ""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abcrnn validity",
                                description="Validity table and plot of generated tunes per run and temperature.")
    p.add_argument("--samples", nargs="+", action="extend", required=True, metavar="[RUN:]LABEL=DIR",
                   help="sample sets (a folder with samples.tsv and render.tsv, or its render.tsv), labelled by "
                        "temperature and "
                        "optionally by run (else --run / --best-run); one table row each, in this order")
    p.add_argument("--baseline", metavar="DIR",
                   help="rendered test-set tunes (abcrnn baseline, then abcrnn render): the folder or its "
                        "render.tsv; row 'test-set'")
    p.add_argument("--train", metavar="TXT",
                   help="training split (<start>…<end> tunes): adds longest_copy and copied, the longest run of "
                        "each tune's body found verbatim in a training tune's body")
    p.add_argument("--min-notes", metavar="N", type=int, default=8,
                   help="a tune has music with at least this many notes")
    p.add_argument("--run", metavar="NAME", default="", help="run name for LABEL=DIR samples")
    p.add_argument("--best-run", metavar="TSV", help="or take that run name from best_run.tsv")
    p.add_argument("--out", metavar="TSV", default="results/tables/sample_validity.tsv", help="summary table")
    p.add_argument("--tunes-out", metavar="TSV", help="per-tune table (default: beside --out, sample_tunes.tsv)")
    p.add_argument("--plot", metavar="PNG", help="bar chart of the summary, one panel per run (PNG)")
    return p


def main_validity(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    specs = [parse_sample_set(s) for s in args.samples]
    run = default_run(args) if any(r is None for r, _, _ in specs) else args.run
    groups = [SampleSet(run if r is None else r, label, str(directory)) for r, label, directory in specs]
    if BASELINE in [g.label for g in groups]:
        raise AbcrnnError(f"--samples: {BASELINE!r} is the baseline's label; label samples by temperature")
    repeated = sorted({f"{g.run}:{g.label}={g.directory}" for g in groups if groups.count(g) > 1})
    if repeated:
        raise AbcrnnError(f"--samples: given more than once: {', '.join(repeated)}")
    finder = load_training(args.train) if args.train else None
    rows = []
    for g in groups:
        rows += tune_rows(g.directory, g.label, g.run, args.min_notes, finder=finder)
    if args.baseline:
        baseline = sample_folder(args.baseline)
        rows += tune_rows(baseline, BASELINE, "", args.min_notes, baseline=True, finder=finder)
        groups.append(SampleSet("", BASELINE, str(baseline)))
    summary = summarize(rows, groups)
    write_tsv(args.out, summary, SUMMARY_COLUMNS)
    tunes_out = Path(args.tunes_out) if args.tunes_out else Path(args.out).with_name("sample_tunes.tsv")
    write_tsv(tunes_out, rows, TUNE_COLUMNS)
    if args.plot:
        from .plots import plot_validity  # matplotlib only when a plot is asked for

        plot_validity(summary, args.plot)
    print(f"abcrnn validity: {len(rows)} tunes in {len(groups)} groups -> {args.out}, {tunes_out}", file=sys.stderr)
    return 0


main = main_validity
