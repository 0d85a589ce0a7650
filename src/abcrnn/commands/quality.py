"""`abcrnn quality`, `gallery` and `models`: musical quality against real tunes, the listening gallery and the models comparison (workflow/rules/quality.smk)."""

from __future__ import annotations
from abcrnn.errors import AbcrnnError
from pathlib import Path
from abcrnn.analysis.comparison import NEEDED_QUALITY
from abcrnn.analysis.comparison import NEEDED_VALIDITY
from abcrnn.analysis.quality import SUMMARY_COLUMNS, TUNE_COLUMNS
import argparse
from abcrnn.report.gallery import build
from abcrnn.commands.generate import default_run
from abcrnn.analysis.comparison import headline_labels
from abcrnn.analysis.quality import measure
from abcrnn.analysis.comparison import model_rows
from abcrnn.labels import parse_sample_set
from abcrnn.report.plots import plot_models
from abcrnn.analysis.quality import read_sample_set
from abcrnn.analysis.quality import read_split
from abcrnn.labels import sample_folder
import sys
from abcrnn.fileio import write_tsv
from abcrnn.fileio import read_tsv


def quality_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abcrnn quality",
                                description="Musical quality of generated tunes against real ones: distributions, "
                                            "form, melodic novelty and diversity (quality.tsv, quality_tunes.tsv).")
    p.add_argument("--samples", nargs="+", action="extend", required=True, metavar="[RUN:]LABEL=DIR",
                   help="sample sets (a folder with samples.tsv, or its samples.tsv), labelled by temperature and "
                        "optionally by run (else --run / --best-run); one row each, in this order")
    p.add_argument("--test", metavar="TXT", required=True, help="the test split (<start>…<end> tunes)")
    p.add_argument("--train", metavar="TXT", required=True, help="the training split (<start>…<end> tunes)")
    p.add_argument("--copied", metavar="SIMILARITY", type=float, default=0.5,
                   help="a tune this similar to a training tune, or more, counts as a copy")
    p.add_argument("--draws", metavar="N", type=int, default=20,
                   help="seeded draws of the sample sets' size for the reference rows' distributions")
    p.add_argument("--seed", metavar="N", type=int, default=0, help="seed of the draws and the shuffling")
    p.add_argument("--run", metavar="NAME", default="", help="run name for LABEL=DIR samples")
    p.add_argument("--best-run", metavar="TSV", help="or take that run name from best_run.tsv")
    p.add_argument("--out", metavar="TSV", required=True, help="summary table (quality.tsv)")
    p.add_argument("--tunes-out", metavar="TSV", required=True, help="per-tune table (quality_tunes.tsv)")
    for family in ("distributions", "form", "novelty", "diversity"):
        p.add_argument(f"--plot-{family}", metavar="PNG", help=f"histograms of the {family} of samples and real tunes")
    return p


def main_quality(argv: list[str] | None = None) -> int:
    args = quality_parser().parse_args(argv)
    if not 0 < args.copied <= 1:
        raise AbcrnnError(f"--copied: must be in (0, 1], got {args.copied}")
    if args.draws < 1:
        raise AbcrnnError(f"--draws: must be at least 1, got {args.draws}")
    specs = [parse_sample_set(s) for s in args.samples]
    run = default_run(args) if any(r is None for r, _, _ in specs) else args.run
    sets = [read_sample_set(sample_folder(str(d)), label, run if r is None else r) for r, label, d in specs]
    train, test = read_split(args.train, "train"), read_split(args.test, "test")
    measured = measure(sets, train, test, args.copied, args.draws, args.seed, test_source=args.test)
    write_tsv(args.out, measured.summary, SUMMARY_COLUMNS)
    write_tsv(args.tunes_out, measured.tunes, TUNE_COLUMNS)
    plots = {f: getattr(args, f"plot_{f}") for f in ("distributions", "form", "novelty", "diversity")}
    if any(plots.values()):
        from abcrnn.report.quality_plots import plot_quality  # matplotlib only when a plot is asked for

        plot_quality(measured, args.copied, plots)
    print(f"abcrnn quality: {len(sets)} sample sets, {len(test)} test and {len(train)} training tunes -> "
          f"{args.out}, {args.tunes_out}", file=sys.stderr)
    return 0




def gallery_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abcrnn gallery",
                                description="A static HTML gallery of generated tunes: scores, audio, MIDI, ABC and "
                                            "metrics, and each tune beside the real tune that primed it.")
    p.add_argument("--samples", nargs="+", action="extend", required=True, metavar="[RUN:]LABEL=DIR",
                   help="sample sets (a folder with samples.tsv and a rendered/ folder, or its samples.tsv)")
    p.add_argument("--test", metavar="TXT", required=True, help="the test split, for the tunes that primed samples")
    p.add_argument("--validity", metavar="TSV", help="per-tune validity (sample_tunes.tsv)")
    p.add_argument("--quality", metavar="TSV", help="per-tune quality (quality_tunes.tsv)")
    p.add_argument("--summary", metavar="TSV", help="the quality table (quality.tsv), shown on the index")
    p.add_argument("--run", metavar="NAME", default="", help="run name for LABEL=DIR samples")
    p.add_argument("--best-run", metavar="TSV", help="or take that run name from best_run.tsv")
    p.add_argument("--audio", action=argparse.BooleanOptionalAction, default=True,
                   help="Ogg Vorbis audio of each tune with fluidsynth")
    p.add_argument("--timeout", metavar="SECONDS", type=float, default=20.0, help="per program and tune")
    p.add_argument("--threads", metavar="N", type=int, default=1, help="tunes rendered at the same time")
    p.add_argument("--out-dir", metavar="DIR", required=True, help="the gallery folder (results/gallery)")
    return p


def main_gallery(argv: list[str] | None = None) -> int:
    args = gallery_parser().parse_args(argv)
    specs = [parse_sample_set(s) for s in args.samples]
    run = default_run(args) if any(r is None for r, _, _ in specs) else args.run
    specs = [(run if r is None else r, label, sample_folder(str(d))) for r, label, d in specs]
    index = build(specs, args.test, Path(args.out_dir), args.validity, args.quality, args.summary, args.audio,
                  args.timeout, args.threads)
    print(f"abcrnn gallery: {len(specs)} sample sets -> {index}", file=sys.stderr)
    return 0




def main_models(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="abcrnn models", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--test-loss", required=True, help="test_loss.tsv from abcrnn tables")
    p.add_argument("--validity", required=True, help="sample_validity.tsv from abcrnn validity")
    p.add_argument("--quality", required=True, help="quality.tsv from abcrnn quality")
    p.add_argument("--out", required=True, help="models.tsv to write")
    p.add_argument("--plot", help="models.png to write")
    a = p.parse_args(argv)
    runs = read_tsv(a.test_loss, ["run", "model", "val_loss", "test_loss_char"], "test-loss table")
    validity = read_tsv(a.validity, ["temperature", "run", *NEEDED_VALIDITY], "validity table")
    quality = read_tsv(a.quality, ["temperature", "run", *NEEDED_QUALITY], "quality table")
    if not runs:
        raise AbcrnnError(f"{a.test_loss}: no runs")
    rows, columns = model_rows(runs, validity, quality)
    if a.plot:
        plot_models(rows, headline_labels(validity), Path(a.plot))
    write_tsv(a.out, rows, columns)
    print(f"abcrnn models: {len(rows)} rows -> {a.out}", file=sys.stderr)
    return 0
