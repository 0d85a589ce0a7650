# Config checking, the grid → run names, and the input functions every other rule file uses.
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

from abcrnn.config import check_config, coerce_strings, expand_grid, load_schema, temperature_label  # noqa: E402
from abcrnn.errors import AbcrnnError  # noqa: E402

SCHEMA = os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml")
try:
    config.update(coerce_strings(config, load_schema(SCHEMA)))
    check_config(config, load_schema(SCHEMA))
except AbcrnnError as exc:
    sys.exit(f"abcrnn: {exc}")
validate(config, SCHEMA)  # fills in the schema's defaults for keys the config leaves out

DATA = "results/data"
TABLES = "results/tables"
PLOTS = "results/plots"
LOGS = "results/logs"
BENCH = "results/benchmarks"
SPLITS = ["train", "val", "test"]

RUNS = expand_grid(config["grid"])
TEMPERATURES = [temperature_label(t) for t in config["sample"]["temperatures"]]


wildcard_constraints:
    run="|".join(re.escape(r) for r in RUNS),
    temperature="argmax|[0-9]+(\\.[0-9]+)?",
    split="train|val|test",


def check_sources():
    """A missing local source must stop the run, even where an older corpus exists (Snakemake would reuse it)."""
    for source in config["corpus"]["sources"]:
        if source.startswith("music21:") or glob.has_magic(source):
            continue  # checked by the corpus stage itself
        if not os.path.exists(source):
            sys.exit(f"abcrnn: config key corpus.sources: {source} does not exist")


check_sources()


def corpus_files():
    """The local files behind the corpus sources, so that editing one reruns the corpus stage."""
    files = []
    for source in config["corpus"]["sources"]:
        if source.startswith("music21:"):
            continue  # ships inside the installed music21 package
        if os.path.isdir(source):
            files += sorted(glob.glob(os.path.join(source, "**", "*.abc"), recursive=True))
        elif glob.has_magic(source):
            files += sorted(glob.glob(source, recursive=True))
        else:
            files.append(source)  # a missing file is reported by Snakemake as a missing input
    return files


def corpus_args():
    c = config["corpus"]
    sources = " ".join(f"--source {shlex.quote(s)}" for s in c["sources"])
    dedupe = "--dedupe" if c["dedupe"] else "--no-dedupe"
    return f"{sources} --comments {c['comments']} {dedupe} --near-duplicates {c['near_duplicates']}"


def train_args(run):
    """Command-line flags for one grid point plus the shared training settings."""
    point, t = RUNS[run], config["train"]
    flags = {
        "model": point["model"], "hidden": point["hidden"], "layers": point["layers"],
        "dropout": point["dropout"], "chunk": point["chunk"], "batch-size": point["batch_size"],
        "lr": point["lr"], "input": t["input"], "embedding-dim": t["embedding_dim"], "init": t["init"],
        "optimizer": t["optimizer"], "clip": t["clip"], "epochs": t["epochs"], "patience": t["patience"],
        "seed": t["seed"], "device": t["device"], "precision": t["precision"],
    }
    return " ".join(f"--{k} {v}" for k, v in flags.items())


def sample_args():
    s = config["sample"]
    return (f"--num {s['per_temperature']} --max-chars {s['max_chars']} --prime {shlex.quote(s['prime'])}"
            f" --top-k {s['top_k']} --top-p {s['top_p']} --seed {s['seed']}")


def render_args():
    r = config["render"]
    flags = [f"--{'' if r[k] else 'no-'}{k}" for k in ("midi", "score", "audio")]
    return " ".join(flags) + f" --timeout {r['timeout_s']}"


def all_outputs():
    return [
        f"{TABLES}/corpus_report.tsv",
        f"{TABLES}/corpus_stats.tsv",
        f"{TABLES}/test_loss.tsv",
        f"{TABLES}/best_run.tsv",
        f"{TABLES}/sample_validity.tsv",
        f"{TABLES}/neurons.tsv",
    ]
