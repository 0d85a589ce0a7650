"""The cluster profiles on a real single-node Slurm (scripts/slurm-local.sh brings one up on localhost).

Needs root on Debian (the script installs slurmctld, slurmd, slurm-client and munge with apt-get); skipped
elsewhere, but with CI=true a missing requirement fails the test instead. The machine is left as it was
found: Slurm running stays running, installed but stopped is stopped again, absent is uninstalled
(tests/conftest.py runs this file last). Started at once, in the background: the tiny pipeline through
profiles/slurm + profiles/slurm-ci and locally (the tables must be equal), and a training run that needs
about twice its Slurm time limit, through Slurm and locally (it must be resubmitted, resume, and give the
uninterrupted run's tables); while they run, the failure tests and the generic-cluster profile use the
same Slurm.
"""

import csv
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "slurm-local.sh"
SLURM = ["--workflow-profile", str(ROOT / "profiles" / "slurm"), "--profile", str(ROOT / "profiles" / "slurm-ci")]
GENERIC = ["--workflow-profile", str(ROOT / "profiles" / "cluster-generic")]
CI = os.environ.get("CI", "").lower() == "true"
RUN_TIMEOUT_S = 900
# Training's memory and wall time come from these config keys (not the profile): checked on the jobs.
TRAIN_MEM_MB, TRAIN_RUNTIME_MIN = 1500, 9
# The run that Slurm stops at its time limit (1 minute; Slurm checks limits every 30 s, so it ends 60 to
# 90 s into the job): an LSTM with as many epochs of the tiny corpus as take RESUME_NEEDS_S here, so
# two jobs. Every job trains at least one epoch, so more retries only let a busy machine finish in more.
RESUME_HIDDEN, RESUME_NEEDS_S, RESUME_RETRIES = 256, 100, 8
# What Slurm runs for the tiny config; everything else runs on the submitting host (localrule).
SLURM_JOBS = {"train": 2, "evaluate": 2, "activations": 1, "sample": 2, "assess": 1}
pytestmark = pytest.mark.slow


def need(ok, reason: str) -> None:
    """Skip when the machine can't run Slurm; on CI (CI=true) that's a failure, never a silent skip."""
    if not ok:
        (pytest.fail if CI else pytest.skip)(reason)


def tiny_config(workdir: Path, **changes) -> Path:
    """workdir/config.yaml: config/tiny.yaml on the test corpus, `changes` ({section: {key: value}}) applied."""
    config = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
    config["corpus"]["sources"] = [str(ROOT / "tests" / "data" / "tiny")]
    config["train"].update(mem_mb=TRAIN_MEM_MB, runtime_min=TRAIN_RUNTIME_MIN)
    for section, values in changes.items():
        config[section].update(values)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def snakemake_cmd(workdir: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
            f"--configfile={workdir / 'config.yaml'}", *args]  # "=": a target after it stays a target


def env() -> dict:
    # Jobs run `python -m abcrnn`: the venv first on PATH, here and in the Slurm jobs (--export=ALL).
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def jobs_by_rule(jobs: list[dict[str, str]]) -> dict[str, list[dict[str, str]]]:
    """Slurm jobs by rule, or by group for a group job (its comment: rule_GROUP_RULE1_RULE2...)."""
    out = {}
    for j in jobs:
        name = j["comment"].split("_wildcards_")[0].removeprefix("rule_")
        out.setdefault(name.split("_")[0] if name.startswith("assess_") else name, []).append(j)
    return out


def minutes(elapsed: str) -> float:
    """squeue's [[D-]H:]M:SS as minutes."""
    days, _, clock = elapsed.rpartition("-")
    parts = [int(x) for x in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return int(days or 0) * 1440 + parts[0] * 60 + parts[1] + parts[2] / 60


def start(workdir: Path, *args: str, nice: int = 0) -> subprocess.Popen:
    """Snakemake in the background; `nice` for the local reference runs, which fill the CPU time that the
    Slurm runs leave while they wait between status checks, rather than slow their jobs down."""
    with open(workdir / "snakemake.out", "w") as log:  # the child keeps its own copy of the file
        return subprocess.Popen(["nice", "-n", str(nice), *snakemake_cmd(workdir, *args)], stdout=log,
                                stderr=subprocess.STDOUT, text=True, env=env(), start_new_session=True)


def finish(proc: subprocess.Popen, workdir: Path, timeout: float = RUN_TIMEOUT_S) -> tuple[int, str]:
    """Wait for a run; past the timeout, stop it and its Slurm jobs, and report it as hung."""
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        cancel_jobs(workdir)
        rc = "timeout"
    out = (workdir / "snakemake.out").read_text()
    return rc, f"exit {rc}, output:\n{out[-6000:]}"


def run(workdir: Path, *args: str, timeout: float = RUN_TIMEOUT_S) -> tuple[int, str, float]:
    t0 = time.monotonic()
    rc, out = finish(start(workdir, *args), workdir, timeout)
    return rc, out, time.monotonic() - t0


def jobs_in(workdir: Path) -> list[dict[str, str]]:
    """Every Slurm job (running or ended within MinJobAge) submitted from `workdir`."""
    fields = {"id": "%i", "dir": "%Z", "comment": "%k", "name": "%j", "state": "%T", "cpus": "%C",
              "mem": "%m", "time_limit": "%l", "time": "%M"}
    out = subprocess.run(["squeue", "--noheader", "--states=all", "--format=" + "|".join(fields.values())],
                         capture_output=True, text=True, check=True).stdout
    rows = [dict(zip(fields, line.split("|"))) for line in out.splitlines()]
    return [r for r in rows if r["dir"] == str(workdir)]


def cancel_jobs(workdir: Path) -> None:
    ids = [r["id"] for r in jobs_in(workdir) if r["state"] in ("PENDING", "RUNNING", "CONFIGURING")]
    if ids:
        subprocess.run(["scancel", *ids], check=False)


TIMING = re.compile(r"second|time|duration|elapsed|date|_s$", re.IGNORECASE)


def read_rows(path: Path, timing: bool = False) -> list[dict[str, str]]:
    """A table's rows, without the columns that measure time (they differ from run to run) unless `timing`."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return rows if timing else [{k: v for k, v in r.items() if not TIMING.search(k)} for r in rows]


def tables(workdir: Path) -> dict[str, list[dict[str, str]]]:
    """results/tables/*.tsv without their timing columns."""
    return {path.name: read_rows(path) for path in sorted((workdir / "results" / "tables").glob("*.tsv"))}


@pytest.fixture(scope="module")
def slurm():
    need(os.geteuid() == 0, "needs root: scripts/slurm-local.sh installs and starts Slurm")
    need(Path("/etc/debian_version").exists(), "needs Debian (Debian's slurm-wlm packages)")
    need(shutil.which("apt-get") or shutil.which("slurmctld"), "needs apt-get to install Slurm")
    try:
        import snakemake_executor_plugin_cluster_generic  # noqa: F401
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        need(False, "executor plugins missing: pip install -r requirements-cluster.txt (make setup)")
    # As found, so as left: running stays running; installed but stopped is stopped again; absent is
    # uninstalled (installed and stopped, every `snakemake` start would wait 10 s for `scontrol`).
    installed = shutil.which("sinfo") is not None
    was_up = subprocess.run([str(SCRIPT), "status"], capture_output=True, check=False).returncode == 0
    up = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, timeout=900, check=False)
    if up.returncode == 3:  # a real Slurm setup that the script leaves alone
        need(False, up.stderr.strip())
    assert up.returncode == 0, up.stdout + up.stderr
    yield
    if not was_up:
        down = subprocess.run([str(SCRIPT), "stop" if installed else "uninstall"], capture_output=True,
                              text=True, timeout=300, check=False)
        assert down.returncode == 0, down.stdout + down.stderr
        assert installed or shutil.which("sinfo") is None, "Slurm is still installed"


@pytest.fixture(scope="module")
def full_runs(slurm, tmp_path_factory):
    """The tiny pipeline through Slurm, and locally for reference, both started now, in the background.

    The Slurm run mostly waits between status checks, so the tests below run meanwhile."""
    if not (shutil.which("abc2midi") and shutil.which("abcm2ps")):
        need(False, "abc2midi/abcm2ps not installed (make setup installs them)")
    on_slurm, local = tmp_path_factory.mktemp("slurm"), tmp_path_factory.mktemp("local")
    tiny_config(on_slurm), tiny_config(local)
    t0 = time.monotonic()
    # One CPU for the gallery (2 by its rule; the command line wins): the node has 2 CPUs and the
    # resume test's training job holds one of them most of the time.
    slurm_run = start(on_slurm, *SLURM, "--set-threads", "gallery=1", "--")
    procs = {"slurm": (slurm_run, on_slurm), "local": (start(local, "--cores", "2", nice=5), local)}
    yield procs, t0
    stop_all(procs)


def stop_all(procs: dict) -> None:
    for proc, workdir in procs.values():  # a test that failed early leaves nothing running
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            cancel_jobs(workdir)


def epoch_seconds(workdir: Path) -> float:
    """Wall seconds per epoch (checkpoints included) of the resume test's run on this machine, now."""
    data = workdir / "results" / "data" / "char"
    argv = [sys.executable, "-m", "abcrnn", "train", "--train", str(data / "train.pt"), "--val", str(data / "val.pt"),
            "--vocab", str(data / "vocab.json"), "--out-dir", str(workdir / "calibration"), "--model", "lstm",
            "--hidden", str(RESUME_HIDDEN), "--chunk", "50", "--batch-size", "4", "--lr", "0.01", "--epochs", "4",
            "--threads", "1", "--device", "cpu"]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**env(), "PYTHONPATH": str(ROOT / "src")})
    ends = [time.monotonic() for line in proc.stderr if re.search(r" epoch \d+/4: train ", line)]
    assert proc.wait() == 0 and len(ends) == 4, "the calibration run failed"
    return (ends[-1] - ends[0]) / 3


@pytest.fixture(scope="module")
def resume_runs(slurm, tmp_path_factory):
    """One LSTM run through Slurm with a 1-minute time limit that it needs about twice, and the same run
    locally, uninterrupted, for reference; both started now, in the background.

    Its epochs are set from a short calibration run, so that it needs RESUME_NEEDS_S on this machine."""
    on_slurm, local = tmp_path_factory.mktemp("resume-slurm"), tmp_path_factory.mktemp("resume-local")
    grid = {"model": ["lstm"], "hidden": [RESUME_HIDDEN], "lr": {"lstm": [0.01]}}
    tiny_config(local, grid=grid)
    rc, out, _ = run(local, "--cores", "2", *(f"results/data/char/{f}" for f in ("train.pt", "val.pt", "vocab.json")),
                     timeout=300)
    assert rc == 0, out
    per_epoch = epoch_seconds(local)
    epochs = max(8, math.ceil(RESUME_NEEDS_S / per_epoch))
    train = {"epochs": epochs, "patience": 0, "runtime_min": 1}  # patience 0: every epoch runs
    tiny_config(local, grid=grid, train=train), tiny_config(on_slurm, grid=grid, train=train)
    target = "results/tables/test_loss.tsv"
    procs = {"slurm": (start(on_slurm, *SLURM, "--retries", str(RESUME_RETRIES), target), on_slurm),
             "local": (start(local, "--cores", "2", target, nice=5), local)}
    yield procs, {"epochs": epochs, "per_epoch": per_epoch}
    stop_all(procs)


def test_no_accounting_database_here(resume_runs, full_runs):
    # (Starts the background runs: the resume test's first, the longer of the two.)
    # The premise of the status query: sacct does not work without slurmdbd, squeue does.
    sacct = subprocess.run(["sacct", "--noheader"], capture_output=True, text=True, check=False)
    assert sacct.returncode != 0 and "accounting storage is disabled" in sacct.stderr.lower()
    with open(ROOT / "profiles" / "slurm" / "config.yaml") as fh:
        assert yaml.safe_load(fh)["slurm-status-command"] == "squeue"


def lstm_run(workdir: Path) -> str:
    return next(p.name for p in (workdir / "results" / "models").glob("lstm-*"))


def test_a_job_slurm_refuses_fails_the_run_at_once(full_runs, tmp_path):
    tiny_config(tmp_path)
    # The local rules (corpus … encode) run first; the training job is the first Slurm job.
    rc, out, seconds = run(tmp_path, *SLURM, "--set-resources=train:mem_mb=100000000", "--until", "train",
                           timeout=180)
    assert rc not in (0, "timeout"), out
    assert "sbatch failed" in out and "Memory specification can not be satisfied" in out, out
    assert seconds < 60


def test_a_job_slurm_cancels_fails_the_run(full_runs, tmp_path):
    tiny_config(tmp_path)
    proc = start(tmp_path, *SLURM, "--retries", "0", "--until", "train")
    deadline = time.monotonic() + 120
    while not (ids := [r["id"] for r in jobs_in(tmp_path)]) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert ids, "no Slurm job was submitted"
    subprocess.run(["scancel", *ids], check=True)
    rc, out = finish(proc, tmp_path, timeout=180)
    assert rc not in (0, "timeout"), out
    assert "CANCELLED" in out, out


def test_generic_cluster_profile_dry_run(tmp_path):
    # Needs neither Slurm nor root: the profile parses, and every job has the resources its
    # submit command uses (mem_mb, runtime, gpu).
    try:
        import snakemake_executor_plugin_cluster_generic  # noqa: F401
    except ImportError:
        need(False, "pip install -r requirements-cluster.txt (make setup)")
    tiny_config(tmp_path)
    out = subprocess.run(snakemake_cmd(tmp_path, *GENERIC, "-n", "-p"), capture_output=True, text=True,
                         env=env(), timeout=300, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout + out.stderr
    assert "workflow specific profile" in text and "train" in text
    assert re.search(r"resources: .*mem_mb=2000.*runtime=30.*gpu=0", text), text[-3000:]
    assert re.search(rf"rule train:(.|\n)*?resources: .*mem_mb={TRAIN_MEM_MB}.*runtime={TRAIN_RUNTIME_MIN}", text)


def test_generic_cluster_profile_runs_jobs_on_slurm(full_runs, tmp_path):
    # Training through sbatch, sized from the config keys; the data rules before it run here.
    tiny_config(tmp_path)
    rc, out, _ = run(tmp_path, *GENERIC, "--seconds-between-status-checks", "1", "--until", "train", timeout=300)
    assert rc == 0, out
    jobs = jobs_in(tmp_path)
    assert [j["name"] for j in jobs] == ["abcrnn-train"] * 2, jobs
    assert all(j["state"] == "COMPLETED" and (j["cpus"], j["mem"], j["time_limit"])
               == ("1", f"{TRAIN_MEM_MB}M", f"{TRAIN_RUNTIME_MIN}:00") for j in jobs), jobs
    assert len(list((tmp_path / "results" / "models").glob("*/best.pt"))) == 2


def test_tiny_pipeline_on_slurm_gives_the_local_tables(full_runs):
    procs, t0 = full_runs
    (proc, on_slurm), (local_proc, local) = procs["slurm"], procs["local"]
    rc, out = finish(proc, on_slurm)
    slurm_seconds = time.monotonic() - t0
    assert rc == 0, out
    rc, local_out = finish(local_proc, local)
    assert rc == 0, local_out
    expected = tables(local)
    assert {"test_loss.tsv", "best_run.tsv", "sample_validity.tsv", "corpus_report.tsv"} <= set(expected)
    assert tables(on_slurm) == expected
    # Slurm ran the heavy jobs: training and evaluation, the heatmaps, sampling (a job per sample set)
    # and one job for quality and gallery; the rules that take seconds ran here. Each job sized by its
    # rule: CPUs = threads (the gallery's 1, from --set-threads), training's memory and wall time from
    # the config keys train.mem_mb / train.runtime_min, the profile's defaults elsewhere; a group job
    # has the most CPUs and memory of its rules and the sum of their runtimes.
    jobs = jobs_by_rule(jobs_in(on_slurm))
    assert {rule: len(js) for rule, js in jobs.items()} == SLURM_JOBS, jobs
    assert all(j["state"] == "COMPLETED" for js in jobs.values() for j in js), jobs
    sizes = {"train": ("1", f"{TRAIN_MEM_MB}M", f"{TRAIN_RUNTIME_MIN}:00"), "evaluate": ("1", "2000M", "30:00"),
             "activations": ("1", "2000M", "30:00"), "sample": ("1", "2000M", "30:00"),
             "assess": ("1", "2000M", "1:00:00")}
    for rule, size in sizes.items():
        assert all((j["cpus"], j["mem"], j["time_limit"]) == size for j in jobs[rule]), (rule, jobs[rule])
    print(f"tiny pipeline on Slurm: {slurm_seconds:.0f} s, {sum(SLURM_JOBS.values())} Slurm jobs")


def test_training_stopped_by_slurm_resumes_and_gives_the_uninterrupted_tables(resume_runs):
    procs, plan = resume_runs
    (proc, on_slurm), (local_proc, local) = procs["slurm"], procs["local"]
    rc, out = finish(proc, on_slurm)
    assert rc == 0, out
    rc, local_out = finish(local_proc, local)
    assert rc == 0, local_out
    # Slurm stopped the job at its time limit and Snakemake resubmitted it; the last one finished.
    attempts = sorted(jobs_by_rule(jobs_in(on_slurm))["train"], key=lambda j: int(j["id"]))
    states = [j["state"] for j in attempts]
    assert states[-1] == "COMPLETED" and set(states[:-1]) == {"TIMEOUT"}, (states, plan)
    assert "SLURM status is: 'TIMEOUT'" in (on_slurm / "snakemake.out").read_text()
    assert all(j["time_limit"] == "1:00" for j in attempts), attempts
    # It resumed after its last finished epoch, not from zero: the log says so, and the epochs in
    # metrics.tsv took longer than the last job ran.
    run_name = lstm_run(on_slurm)
    log = (on_slurm / "results" / "logs" / "train" / f"{run_name}.log").read_text()
    resumed = [int(n) for n in re.findall(r"resuming after epoch (\d+)", log)]
    assert resumed and 0 < resumed[0] < plan["epochs"], log[-2000:]
    metrics = read_rows(on_slurm / "results" / "models" / run_name / "metrics.tsv", timing=True)
    assert [int(r["epoch"]) for r in metrics] == list(range(1, plan["epochs"] + 1))
    trained_min = sum(float(r["seconds"]) for r in metrics) / 60
    assert trained_min > minutes(attempts[-1]["time"]), (trained_min, attempts[-1])
    # ... and gives exactly the uninterrupted run's epochs and test loss.
    reference = local / "results" / "models" / run_name / "metrics.tsv"
    assert read_rows(on_slurm / "results" / "models" / run_name / "metrics.tsv") == read_rows(reference)
    assert tables(on_slurm)["test_loss.tsv"] == tables(local)["test_loss.tsv"]
    print(f"resume: {plan['epochs']} epochs of {plan['per_epoch']:.1f} s, {len(attempts)} Slurm jobs "
          f"({', '.join(states)}), resumed after epoch {resumed[0]}")
