"""`abcrnn sample`, `baseline`, `render` and `validity`: sampling, the real tunes beside the samples, rendering and the validity table (workflow/rules/generate.smk)."""

from __future__ import annotations
from abcrnn.errors import AbcrnnError
from abcrnn.analysis.validity import BASELINE
from abcrnn.labels import CONSTRAINTS
from pathlib import Path
from abcrnn.generation.render import RENDER_COLUMNS
from abcrnn.analysis.validity import SampleSet
from abcrnn.generation.render import Settings
from abcrnn.generation.sample import check_options
from abcrnn.training.evaluate import best_run_name
from abcrnn.analysis.validity import SUMMARY_COLUMNS, TUNE_COLUMNS, tune_rows
from dataclasses import asdict
import argparse
from abcrnn.analysis.novelty import load_training
from abcrnn.generation.sample import make_primes
from abcrnn.labels import number_width
from abcrnn.labels import parse_sample_set
from abcrnn.labels import parse_temperature
from abcrnn.generation.sample import raw_block
from abcrnn.generation.render import render_files
from abcrnn.generation.sample import sample_batch
from abcrnn.labels import sample_folder
from abcrnn.generation.sample import split_sample
from abcrnn.analysis.validity import summarize
import sys
from abcrnn.labels import temperature_label
from abcrnn.generation.render import tune_files
from abcrnn.generation.baseline import write_baseline
from abcrnn.generation.sample import write_samples
from abcrnn.fileio import write_tsv


def best_checkpoint(best_run: str, models_dir: str, checkpoints: list[str] | None = None) -> Path:
    """The checkpoint of the run named in best_run.tsv's `run` column (see checkpoint.run_checkpoint)."""
    from abcrnn.models.checkpoint import run_checkpoint

    return run_checkpoint(best_run_name(best_run), checkpoints, models_dir)


def sample_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abcrnn sample", description="Generate tunes from a trained model.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", metavar="PATH", help="a checkpoint file (results/models/RUN/best.pt)")
    src.add_argument("--best-run", metavar="TSV", help="best_run.tsv: sample from the run named in its `run` column")
    p.add_argument("--models-dir", metavar="DIR", default="results/models", help="where --best-run finds RUN/best.pt")
    p.add_argument("--checkpoints", metavar="PATH", nargs="+",
                   help="or the checkpoints --best-run chooses from (the one in a folder named after the run)")
    p.add_argument("--temperature", metavar="T", default="1.0", help="a positive number, or 'argmax' (greedy)")
    p.add_argument("--prime", metavar="PRIME", default="test-header",
                   help="test-header (a test tune's header), start (just <start>), or ABC text (\\n allowed)")
    p.add_argument("--test", metavar="PATH", help="the test split, for --prime test-header")
    p.add_argument("-n", "--num", metavar="N", type=int, default=20, help="number of samples")
    p.add_argument("--max-chars", metavar="N", type=int, default=2000, help="stop a sample after this many characters")
    p.add_argument("--seed", metavar="N", type=int, default=0, help="sample i uses seed + i")
    p.add_argument("--top-k", metavar="K", type=int, default=0, help="sample among the k likeliest symbols (0 = off)")
    p.add_argument("--top-p", metavar="P", type=float, default=1.0, help="nucleus sampling mass (1.0 = off)")
    p.add_argument("--constrain", choices=CONSTRAINTS, default="none",
                   help="abc: allow only symbols after which the tune can still become valid ABC (every sign with "
                        "its note, ties, tuplets, repeats and endings closed); meter: also bars that fill M:; form: "
                        "also a form plan drawn from the training tunes of the header's rhythm and meter, ending on "
                        "the tonic")
    p.add_argument("--train", metavar="PATH", help="the training split, for --constrain form")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="where to run the model")
    p.add_argument("--threads", metavar="N", type=int, default=2, help="CPU threads for torch")
    p.add_argument("--out-dir", metavar="DIR",
                   help="write N.abc, raw.txt and samples.tsv here (default: print to stdout)")
    return p


def main_sample(argv: list[str] | None = None) -> int:
    from abcrnn.models.checkpoint import load_checkpoint, read_checkpoint
    from abcrnn.runtime import setup_torch

    args = sample_parser().parse_args(argv)
    temperature = parse_temperature(args.temperature)
    check_options(args.num, args.max_chars, args.top_k, args.top_p)
    path = Path(args.checkpoint) if args.checkpoint else best_checkpoint(args.best_run, args.models_dir, args.checkpoints)
    payload = read_checkpoint(path)  # its settings say whether to run in the deterministic mode
    device = setup_torch(max(1, args.threads), args.device, payload["settings"].deterministic)
    model, vocab, _ = load_checkpoint(path, device, payload)
    primes = make_primes(args.prime, args.num, args.seed, args.test)
    unknown = sum(vocab.count_unknown(p) for p in set(primes))
    if unknown:
        print(f"abcrnn sample: warning: the prime has {unknown} character(s) the model never saw", file=sys.stderr)
    stats: dict = {}
    plan_for = None
    if args.constrain == "form":
        if not args.train:
            raise AbcrnnError("--constrain form needs --train (the training split the form plans are drawn from)")
        plan_for = plan_drawer(args.train, args.seed, args.max_chars)
    texts = sample_batch(model, vocab, primes, args.num, temperature, args.max_chars, args.seed,
                         args.top_k, args.top_p, device, progress=True, constrain=args.constrain, stats=stats,
                         plan_for=plan_for)
    samples = [split_sample(t, p) for t, p in zip(texts, primes)]
    width = number_width(len(samples))
    if args.out_dir is None:
        for i, sample in enumerate(samples):
            sys.stdout.write(raw_block(i + 1, width, args.seed + i, temperature, sample))
        return 0
    write_samples(args.out_dir, samples, primes, args.seed, temperature, args.constrain, stats)
    ended = sum(s.ended for s in samples)
    decoding = "" if args.constrain == "none" else (
        f", {args.constrain}-aware ({sum(stats['fallbacks'])} fallbacks, "
        f"{sum(stats['masked']) / len(samples):.1%} of the probability masked per step)")
    print(f"abcrnn sample: {len(samples)} samples from {path} at temperature {temperature_label(temperature)}"
          f"{decoding} ({ended} ended with <end>) -> {args.out_dir}", file=sys.stderr)
    return 0




def main_baseline(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="abcrnn baseline",
                                description="Write a seeded choice of real test-set tunes as {n}.abc, to be rendered "
                                            "and measured like generated ones.")
    p.add_argument("--test", metavar="PATH", required=True, help="a <start>/<end> file, e.g. results/data/test.txt")
    p.add_argument("--count", metavar="N", type=int, default=100, help="tunes to choose")
    p.add_argument("--seed", metavar="N", type=int, default=0, help="seed of the choice")
    p.add_argument("--out", metavar="TSV", required=True, help="tunes.tsv to write; the tunes go beside it")
    args = p.parse_args(argv)
    files = write_baseline(args.test, args.out, args.count, args.seed)
    print(f"abcrnn baseline: {len(files)} tunes of {args.test} -> {Path(args.out).parent}", file=sys.stderr)
    return 0


def render_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abcrnn render",
                                description="Render ABC tunes to MIDI (abc2midi), SVG scores (abcm2ps) and WAV audio.")
    tunes = p.add_mutually_exclusive_group(required=True)
    tunes.add_argument("--tunes", metavar="ABC", nargs="+", help=".abc files to render")
    tunes.add_argument("--dir", metavar="DIR", help="render every *.abc in this directory")
    p.add_argument("--out-dir", metavar="DIR", help="where the renderings go (default: a folder `rendered` beside "
                                                    "the first tune)")
    p.add_argument("--out", metavar="TSV", required=True, help="per-tune table to write (e.g. render.tsv)")
    p.add_argument("--midi", action=argparse.BooleanOptionalAction, default=True, help="MIDI with abc2midi")
    p.add_argument("--score", action=argparse.BooleanOptionalAction, default=True, help="SVG score with abcm2ps")
    p.add_argument("--audio", action=argparse.BooleanOptionalAction, default=False, help="WAV with fluidsynth")
    p.add_argument("--timeout", metavar="SECONDS", type=float, default=20.0,
                   help="seconds each program may run per tune")
    p.add_argument("--threads", metavar="N", type=int, default=1, help="tunes rendered at the same time")
    return p


def main_render(argv: list[str] | None = None) -> int:
    args = render_parser().parse_args(argv)
    if not args.timeout > 0:
        raise AbcrnnError(f"--timeout: must be positive, got {args.timeout}")
    settings = Settings(args.midi, args.score, args.audio, args.timeout)
    if args.dir is not None:
        if not Path(args.dir).is_dir():
            raise AbcrnnError(f"{args.dir}: no such directory of .abc tunes")
        files = tune_files(Path(args.dir))
    else:
        files = [Path(f) for f in args.tunes]
    if not files:
        raise AbcrnnError(f"{args.dir}: no .abc tunes in it")
    out_dir = Path(args.out_dir) if args.out_dir else files[0].parent / "rendered"
    results = render_files(files, settings, out_dir, args.threads, progress=True)
    write_tsv(args.out, [asdict(r) for r in results], RENDER_COLUMNS)
    valid = sum(r.midi_ok is True for r in results)
    print(f"abcrnn render: {len(results)} tunes, {valid} rendered to MIDI without errors -> {args.out}",
          file=sys.stderr)
    return 0


def default_run(args) -> str:
    """The run of LABEL=DIR samples: --run, or the `run` of --best-run's first row."""
    if args.run or not args.best_run:
        return args.run
    return best_run_name(args.best_run)


def validity_parser() -> argparse.ArgumentParser:
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
    args = validity_parser().parse_args(argv)
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
        from abcrnn.report.plots import plot_validity  # matplotlib only when a plot is asked for

        plot_validity(summary, args.plot)
    print(f"abcrnn validity: {len(rows)} tunes in {len(groups)} groups -> {args.out}, {tunes_out}", file=sys.stderr)
    return 0


def plan_drawer(train: str, seed: int, max_chars: int):
    """plan_for(i, header) for sample i: a form plan drawn (with seed + i) among the training tunes'
    plans of the header's rhythm and meter, that fits the header's meter and unit and, at about 16
    characters a bar, max_chars."""
    from abcrnn.generation.constrain.forms import PlanBook, feasible
    from abcrnn.notation.tunes import header_fields, meter_length, split_tagged, unit_length

    try:
        tunes = split_tagged(Path(train).read_text(encoding="utf-8"))
    except OSError as exc:
        raise AbcrnnError(f"{train}: cannot read the training split ({exc.strerror})") from None
    book = PlanBook(tunes)

    def plan_for(i: int, header: str):
        fields = header_fields(header)
        meter = meter_length(fields.get("M"))
        if meter is None:
            return None
        unit = unit_length(fields.get("L"), meter)
        return book.draw(header, seed + i, lambda plan: plan.bars * 16 <= max_chars and feasible(plan, meter, unit))

    return plan_for
