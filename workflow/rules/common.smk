# Config checking, the grid → runs, every path the rules share, and the input functions that
# decide at parse time which files the workflow makes.
import csv
import glob
import os
import re
import shlex
import sys

SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
# Jobs run `python -m abcrnn`; this makes the package importable in any environment (venv or conda).
shell.prefix(f"set -euo pipefail; export PYTHONPATH={shlex.quote(SRC)}; ")

from snakemake.utils import validate  # noqa: E402

# Nothing imported here may import torch, matplotlib or pandas: every snakemake call pays for it.
from abcrnn.config import (  # noqa: E402
    check_config,
    coerce_strings,
    expand_grid,
    load_schema,
)
from abcrnn.errors import AbcrnnError  # noqa: E402
from abcrnn.labels import (  # noqa: E402
    number_width,
    sample_label,
    temperature_label,
)
from abcrnn.settings import (  # noqa: E402
    RECURRENT,
    UNITS as UNIT_CHOICES,
    RunSettings,
    cli_flags,
    sweep_group,
)


def as_list(value):
    return value if isinstance(value, list) else [value]


SCHEMA = os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml")
try:
    config.update(coerce_strings(config, load_schema(SCHEMA)))
    check_config(config, load_schema(SCHEMA))
    validate(
        config, SCHEMA
    )  # fills in the schema's defaults for keys the config leaves out
    RUNS = expand_grid(config["grid"], config["train"], config["vocab"])
except AbcrnnError as exc:
    sys.exit(f"abcrnn: {exc}")

# --- where things go --------------------------------------------------------------------------------
DATA = "results/data"
MODELS = "results/models"
SAMPLES = "results/samples"
BASELINE = "results/baseline"
TABLES = "results/tables"
PLOTS = "results/plots"
LOGS = "results/logs"
GALLERY = "results/gallery"
QUALITY_PLOTS = ["distributions", "form", "novelty", "diversity"]
BENCH = "results/benchmarks"
SPLITS = ["train", "val", "test"]
TEMPERATURES = [temperature_label(t) for t in config["sample"]["temperatures"]]
CONSTRAINTS = as_list(config["sample"]["constrain"])
# A sample set's label: the temperature, with "-meter" when sampled with meter-aware decoding.
LABELS = [sample_label(t, c) for c in CONSTRAINTS for t in TEMPERATURES]
MODEL_KINDS = sorted({s.model for s in RUNS.values()})
COLUMNS = RunSettings.column_keys()
RECURRENT_KINDS = [m for m in MODEL_KINDS if m in RECURRENT]
UNITS = [u for u in UNIT_CHOICES if any(s.unit == u for s in RUNS.values())]


wildcard_constraints:
    run="|".join(re.escape(r) for r in RUNS),
    split="train|val|test",
    unit="|".join(UNITS),


def split_files(ext, unit=None):
    """The three split texts (DATA/train.txt …), or a unit's encoded splits (DATA/char/train.pt …)."""
    folder = DATA if unit is None else f"{DATA}/{unit}"
    return [f"{folder}/{split}.{ext}" for split in SPLITS]


def run_data(*splits):
    """An input function: the run's vocabulary and encoded `splits` (of its vocabulary unit)."""

    def files(wildcards):
        folder = f"{DATA}/{RUNS[wildcards.run].unit}"
        return {
            "vocab": f"{folder}/vocab.json",
            **{s: f"{folder}/{s}.pt" for s in splits},
        }

    return files


def numbered(folder, count, ext):
    """folder/01.ext … the files `abcrnn sample` and the baseline write for `count` tunes."""
    width = number_width(count)
    return [f"{folder}/{n:0{width}d}.{ext}" for n in range(1, count + 1)]


# --- the corpus sources -----------------------------------------------------------------------------
def check_sources():
    """A missing local source must stop the run, even where an older corpus exists (Snakemake would reuse it)."""
    for source in config["corpus"]["sources"]:
        if source.startswith("music21:") or glob.has_magic(source):
            continue  # checked by the corpus stage itself
        if not os.path.exists(source):
            sys.exit(f"abcrnn: config key corpus.sources: {source} does not exist")


check_sources()


def corpus_files():
    """The local files behind the corpus sources, so that editing one reruns the corpus stage: the
    files the stage reads (abcrnn.sources.local_files: links to folders are not followed, so a link
    to its own folder cannot make this endless; a missing file is left for Snakemake to report as a
    missing input). A named pipe or other special file stops the run with one line: reading it
    would wait for ever."""
    from abcrnn.data.sources import local_files

    files = []
    for source in config["corpus"]["sources"]:
        try:
            files += local_files(source)
        except AbcrnnError as exc:
            sys.exit(f"abcrnn: config key corpus.sources: {exc}")
    return files


# --- settings handed to the command lines (always through cli_flags: quoted) -----------------------
def corpus_flags():
    c = config["corpus"]
    return cli_flags(
        {
            "source": c["sources"],
            "comments": c["comments"],
            "dedupe": c["dedupe"],
            "near_duplicates": c["near_duplicates"],
            "header_fields": header_fields(),
        }
    )


def header_fields():
    """corpus.header_fields as `abcrnn corpus --header-fields` takes it: all, or X,T,M,L,K."""
    fields = config["corpus"]["header_fields"]
    return fields if fields == "all" else ",".join(fields)


def train_flags(wildcards):
    """The run's settings; threads come from the job (Snakemake may give it fewer than asked)."""
    return RUNS[wildcards.run].to_flags(exclude=("threads",))


def sample_flags():
    s = config["sample"]
    keys = ("max_chars", "prime", "top_k", "top_p", "seed")
    return cli_flags({"num": s["per_temperature"], **{k: s[k] for k in keys}})


def render_flags():
    r = config["render"]
    return cli_flags(
        {
            "midi": r["midi"],
            "score": r["score"],
            "audio": r["audio"],
            "timeout": r["timeout_s"],
        }
    )


# --- sample sets: (run label, temperature, folder) --------------------------------------------------
# The best run's sets are results/samples/LABEL; another run's, results/samples/runs/RUN/LABEL.
SAMPLE_SET = (
    f"{re.escape(SAMPLES)}/(runs/({'|'.join(map(re.escape, RUNS))})/)?"
    f"({'|'.join(map(re.escape, LABELS))})"
)


def best_run():
    """The best run's name, from best_run.tsv: known once `tables` (a checkpoint) has run."""
    with open(checkpoints.tables.get().output.best_run, newline="") as fh:
        return next(csv.DictReader(fh, delimiter="\t"))["run"]


def sample_sets():
    """The best run's samples per temperature and decoding, then with `sample.runs: all` every other
    run's, in grid order (the best run's are not sampled twice)."""
    sets = [("", t, f"{SAMPLES}/{t}") for t in LABELS]
    if config["sample"]["runs"] == "all":
        best = best_run()
        sets += [
            (run, t, f"{SAMPLES}/runs/{run}/{t}")
            for run in RUNS
            if run != best
            for t in LABELS
        ]
    return sets


def sample_set_files(*names):
    """An input function: the files `names` (samples.tsv, render.tsv, rendered) of every sample set."""

    def files(wildcards):
        return [f"{folder}/{name}" for _, _, folder in sample_sets() for name in names]

    return files


def sample_specs(table):
    """A params function: `[RUN:]LABEL=FOLDER/table` for each sample set, as `abcrnn validity`,
    `quality` and `gallery` take them."""

    def specs(wildcards):
        return cli_flags(
            {
                "samples": [
                    f"{run}:{t}={folder}/{table}" if run else f"{t}={folder}/{table}"
                    for run, t, folder in sample_sets()
                ]
            }
        )

    return specs


def sample_checkpoint(wildcards):
    """The checkpoint a sample set is drawn from: the run its folder names, else the best run."""
    head, runs, run, _ = (["", "", "", ""] + wildcards.set.split("/"))[-4:]
    return f"{MODELS}/{run if runs == 'runs' else best_run()}/best.pt"


def sample_flags_of(wildcards):
    """--temperature and --constrain of a sample set's label (`0.7`, `0.7-meter`)."""
    label = wildcards.set.rsplit("/", 1)[-1]
    temperature, _, constrain = label.partition("-")
    return cli_flags({"temperature": temperature, "constrain": constrain or "none"})


def tunes_of(wildcards):
    """The numbered .abc files of a sample set or of the baseline."""
    if wildcards.set == BASELINE:
        return numbered(BASELINE, config["sample"]["baseline_tunes"], "abc")
    return numbered(wildcards.set, config["sample"]["per_temperature"], "abc")


# --- plots whose existence the grid decides ---------------------------------------------------------
def grid_plots():
    """rnn_vs_lstm.png with two or more model kinds, hidden_sweep.png when runs differ only in
    hidden size (settings.sweep_group decides, on the settings the tables will hold)."""
    plots = {}
    if len(MODEL_KINDS) > 1:
        plots["rnn_vs_lstm"] = f"{PLOTS}/rnn_vs_lstm.png"
    rows = [
        {"run": name, **{k: getattr(s, k) if s.applies(k) else "" for k in COLUMNS}}
        for name, s in RUNS.items()
    ]
    if sweep_group(rows, ""):
        plots["hidden_sweep"] = f"{PLOTS}/hidden_sweep.png"
    return plots


def activation_plots():
    """The hidden state's heatmap of the best recurrent run; the cell state's of the best LSTM run
    (none when the grid has only Transformers)."""
    plots = {}
    if RECURRENT_KINDS:
        plots["hidden"] = f"{PLOTS}/activations_hidden.png"
    if "lstm" in MODEL_KINDS:
        plots["cell"] = f"{PLOTS}/activations_cell.png"
    return plots


def all_outputs():
    return [
        f"{TABLES}/corpus_report.tsv",
        *(f"{TABLES}/corpus_stats_{unit}.tsv" for unit in UNITS),
        f"{TABLES}/models.tsv",
        f"{PLOTS}/models.png",
        f"{TABLES}/test_loss.tsv",
        f"{TABLES}/best_run.tsv",
        f"{TABLES}/sample_validity.tsv",
        *([f"{TABLES}/neurons.tsv"] if RECURRENT_KINDS else []),
        f"{TABLES}/quality.tsv",
        *(f"{PLOTS}/quality_{family}.png" for family in QUALITY_PLOTS),
        GALLERY,
        *grid_plots().values(),
        *activation_plots().values(),
    ]
