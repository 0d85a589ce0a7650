"""The cluster profiles on a real single-node Slurm (scripts/slurm-local.sh brings one up on localhost).

Needs root on Debian (the script installs slurmctld, slurmd, slurm-client and munge with apt-get); skipped
elsewhere, but with CI=true a missing requirement fails the test instead. The tiny pipeline runs once
through profiles/slurm + profiles/slurm-ci and once locally, side by side, and must give the same tables;
while it runs, the failure tests and the generic-cluster profile use the same Slurm.
"""

import csv
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
pytestmark = pytest.mark.slow


def need(ok, reason: str) -> None:
    """Skip when the machine can't run Slurm; on CI (CI=true) that's a failure, never a silent skip."""
    if not ok:
        (pytest.fail if CI else pytest.skip)(reason)


def tiny_config(workdir: Path) -> Path:
    config = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
    config["corpus"]["sources"] = [str(ROOT / "tests" / "data" / "tiny")]
    config["train"].update(mem_mb=TRAIN_MEM_MB, runtime_min=TRAIN_RUNTIME_MIN)
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


def start(workdir: Path, *args: str) -> subprocess.Popen:
    with open(workdir / "snakemake.out", "w") as log:  # the child keeps its own copy of the file
        return subprocess.Popen(snakemake_cmd(workdir, *args), stdout=log, stderr=subprocess.STDOUT, text=True,
                                env=env(), start_new_session=True)


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
              "mem": "%m", "time_limit": "%l"}
    out = subprocess.run(["squeue", "--noheader", "--states=all", "--format=" + "|".join(fields.values())],
                         capture_output=True, text=True, check=True).stdout
    rows = [dict(zip(fields, line.split("|"))) for line in out.splitlines()]
    return [r for r in rows if r["dir"] == str(workdir)]


def cancel_jobs(workdir: Path) -> None:
    ids = [r["id"] for r in jobs_in(workdir) if r["state"] in ("PENDING", "RUNNING", "CONFIGURING")]
    if ids:
        subprocess.run(["scancel", *ids], check=False)


def tables(workdir: Path) -> dict[str, list[dict[str, str]]]:
    """results/tables/*.tsv without the columns that measure time (they differ from run to run)."""
    timing = re.compile(r"second|time|duration|elapsed|date|_s$", re.IGNORECASE)
    out = {}
    for path in sorted((workdir / "results" / "tables").glob("*.tsv")):
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        out[path.name] = [{k: v for k, v in r.items() if not timing.search(k)} for r in rows]
    return out


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
    was_up = subprocess.run([str(SCRIPT), "status"], capture_output=True, check=False).returncode == 0
    up = subprocess.run([str(SCRIPT), "start"], capture_output=True, text=True, timeout=900, check=False)
    if up.returncode == 3:  # a real Slurm setup that the script leaves alone
        need(False, up.stderr.strip())
    assert up.returncode == 0, up.stdout + up.stderr
    yield
    if not was_up:
        subprocess.run([str(SCRIPT), "stop"], capture_output=True, check=False)


@pytest.fixture(scope="module")
def full_runs(slurm, tmp_path_factory):
    """The tiny pipeline through Slurm, and locally for reference, both started now, in the background.

    The Slurm run mostly waits between status checks, so the tests below run meanwhile."""
    if not (shutil.which("abc2midi") and shutil.which("abcm2ps")):
        need(False, "abc2midi/abcm2ps not installed (make setup installs them)")
    on_slurm, local = tmp_path_factory.mktemp("slurm"), tmp_path_factory.mktemp("local")
    tiny_config(on_slurm), tiny_config(local)
    t0 = time.monotonic()
    procs = {"slurm": (start(on_slurm, *SLURM), on_slurm), "local": (start(local, "--cores", "2"), local)}
    yield procs, t0
    for proc, workdir in procs.values():  # a test that failed early leaves nothing running
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            cancel_jobs(workdir)


def test_no_accounting_database_here(full_runs):
    # The premise of the status query: sacct does not work without slurmdbd, squeue does.
    sacct = subprocess.run(["sacct", "--noheader"], capture_output=True, text=True, check=False)
    assert sacct.returncode != 0 and "accounting storage is disabled" in sacct.stderr.lower()
    with open(ROOT / "profiles" / "slurm" / "config.yaml") as fh:
        assert yaml.safe_load(fh)["slurm-status-command"] == "squeue"


def test_a_job_slurm_refuses_fails_the_run_at_once(full_runs, tmp_path):
    tiny_config(tmp_path)
    rc, out, seconds = run(tmp_path, *SLURM, "--set-resources=corpus:mem_mb=100000000", "results/data/corpus.txt",
                           timeout=180)
    assert rc not in (0, "timeout"), out
    assert "sbatch failed" in out and "Memory specification can not be satisfied" in out, out
    assert seconds < 60


def test_a_job_slurm_cancels_fails_the_run(full_runs, tmp_path):
    tiny_config(tmp_path)
    proc = start(tmp_path, *SLURM, "--retries", "0", "results/data/corpus.txt")
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
    tiny_config(tmp_path)
    rc, out, _ = run(tmp_path, *GENERIC, "--seconds-between-status-checks", "1", "results/data/char/vocab.json",
                     timeout=300)
    assert rc == 0, out
    jobs = jobs_in(tmp_path)
    assert sorted(j["name"] for j in jobs) == ["abcrnn-corpus", "abcrnn-split", "abcrnn-vocab"]
    assert all(j["state"] == "COMPLETED" and j["mem"] == "2000M" and j["time_limit"] == "30:00" for j in jobs), jobs
    assert (tmp_path / "results" / "data" / "char" / "vocab.json").stat().st_size > 0


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
    # Every job went through Slurm, sized by its rule: CPUs = threads, training's memory and wall
    # time from the config keys train.mem_mb / train.runtime_min, the profile's defaults elsewhere.
    jobs = {}
    for j in jobs_in(on_slurm):
        jobs.setdefault(j["comment"].split("_wildcards_")[0].removeprefix("rule_"), []).append(j)
    assert len(jobs["train"]) == 2 and len(jobs["render"]) == 3, jobs
    assert all(j["state"] == "COMPLETED" for js in jobs.values() for j in js), jobs
    for j in jobs["train"]:
        assert (j["cpus"], j["mem"], j["time_limit"]) == ("1", f"{TRAIN_MEM_MB}M", f"{TRAIN_RUNTIME_MIN}:00")
    for j in jobs["render"]:
        assert (j["cpus"], j["mem"], j["time_limit"]) == ("2", "2000M", "30:00")  # render: threads 2
    print(f"tiny pipeline on Slurm: {slurm_seconds:.0f} s")
