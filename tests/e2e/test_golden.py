"""The deterministic mode's promise, checked on whatever CPU runs the tests: the tiny config trained with
`train: {deterministic: true}` (the Snakemake workflow in a fresh process, as a user runs it) must give
the digits of test_loss.tsv, the weights and the samples stored in tests/data/golden/, which were made on
another CPU (tests/data/golden/README.md says which). A failure names this CPU and the first value
that differs, with both values; the README's "Deterministic mode" says what to do then.

    ABCRNN_GOLDEN_UPDATE=1 pytest tests/e2e/test_golden.py   # rewrite the golden files (read the README first)
    python tests/e2e/test_golden.py [--fast]                   # the run under emulated CPU differences, a table
"""

from __future__ import annotations

import hashlib
import os
import platform
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "golden"
# test_loss.tsv's columns that time the run: they differ from run to run on any machine
TIMING = ("train_seconds", "chars_per_s")
SAMPLE_SET = "1.0"  # the best run's samples at temperature 1.0
TARGETS = ("results/tables/test_loss.tsv", f"results/samples/{SAMPLE_SET}/raw.txt")
# Environment variables that make torch, MKL and oneDNN choose other kernels, as other CPUs would
# (the mode must override or outlast them all), and glibc's libm without its FMA code paths.
EMULATED = {
    "native": {},
    "aten=default": {"ATEN_CPU_CAPABILITY": "default"},
    "mkl=SSE4_2": {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    "mkl-cbwr=AVX2": {"MKL_CBWR": "AVX2"},
    "onednn=SSE41": {"ONEDNN_MAX_CPU_ISA": "SSE41", "DNNL_MAX_CPU_ISA": "SSE41"},
    "libm=noFMA": {"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA"},
    "all-low": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                "ONEDNN_MAX_CPU_ISA": "SSE41", "DNNL_MAX_CPU_ISA": "SSE41",
                "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2,-FMA,-AVX"},
}
CLEAN = {k: None for env in EMULATED.values() for k in env} | {"MKL_CBWR": None}


# --- what a run gave --------------------------------------------------------------------------------

def cpu_description() -> str:
    """The CPU (model name, the ISA extensions that decide kernels) and what torch makes of it."""
    import torch

    model, flags = "", set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile") if f in flags]
    return (f"CPU {model or platform.processor() or platform.machine()} ({' '.join(isa) or 'no AVX2'}), "
            f"torch {torch.__version__} CPU capability {torch.backends.cpu.get_cpu_capability()}")


def weights_hash(checkpoint: Path) -> str:
    """sha256 of a checkpoint's weights: the state_dict's tensors' bytes in sorted key order (the file
    itself holds timings)."""
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["model_state"]
    h = hashlib.sha256()
    for key in sorted(state):
        h.update(key.encode())
        h.update(state[key].contiguous().numpy().tobytes())
    return h.hexdigest()


def results(workdir: Path) -> dict[str, dict[str, dict[str, str]]]:
    """{table: {row: {column: value}}} of a finished run: test_loss.tsv without its timing columns,
    each run's weight hash, and the sampled text line by line."""
    from abcrnn.fileio import read_tsv

    rows = read_tsv(workdir / "results/tables/test_loss.tsv")
    loss = {r["run"]: {k: v for k, v in r.items() if k not in TIMING and k != "run"} for r in rows}
    weights = {run: {"sha256": weights_hash(workdir / "results/models" / run / "best.pt")} for run in loss}
    raw = (workdir / "results/samples" / SAMPLE_SET / "raw.txt").read_text(encoding="utf-8").splitlines()
    return {"test_loss.tsv": loss, "weights.tsv": weights,
            f"samples-{SAMPLE_SET}.txt": {f"line {i}": {"text": line} for i, line in enumerate(raw, 1)}}


def first_difference(expected: dict, got: dict) -> str | None:
    """The first table, row and column where `got` differs from `expected`, both values; None if equal."""
    for table, rows in expected.items():
        mine = got.get(table, {})
        for row in list(rows) + [r for r in mine if r not in rows]:
            if row not in rows or row not in mine:
                return f"{table}: row {row} is {'missing' if row not in mine else 'not in the golden copy'}"
            for column in list(rows[row]) + [c for c in mine[row] if c not in rows[row]]:
                want, have = rows[row].get(column, "(no column)"), mine[row].get(column, "(no column)")
                if want != have:
                    return f"{table}: run/row {row}, column {column}: golden {want!r}, this CPU {have!r}"
    return None


# --- the golden files ------------------------------------------------------------------------------

def write_golden(found: dict) -> None:
    from abcrnn.fileio import write_tsv

    GOLDEN.mkdir(parents=True, exist_ok=True)
    loss = found["test_loss.tsv"]
    columns = ["run", *next(iter(loss.values()))]
    write_tsv(GOLDEN / "test_loss.tsv", [{"run": run, **row} for run, row in loss.items()], columns)
    write_tsv(GOLDEN / "weights.tsv", [{"run": run, **row} for run, row in found["weights.tsv"].items()],
              ["run", "sha256"])
    samples = found[f"samples-{SAMPLE_SET}.txt"]
    (GOLDEN / f"samples-{SAMPLE_SET}.txt").write_text("".join(r["text"] + "\n" for r in samples.values()),
                                                      encoding="utf-8")
    (GOLDEN / "machine.txt").write_text(cpu_description() + "\n", encoding="utf-8")


def read_golden() -> dict:
    from abcrnn.fileio import read_tsv

    loss = {r.pop("run"): r for r in read_tsv(GOLDEN / "test_loss.tsv")}
    weights = {r.pop("run"): r for r in read_tsv(GOLDEN / "weights.tsv")}
    raw = (GOLDEN / f"samples-{SAMPLE_SET}.txt").read_text(encoding="utf-8").splitlines()
    return {"test_loss.tsv": loss, "weights.tsv": weights,
            f"samples-{SAMPLE_SET}.txt": {f"line {i}": {"text": line} for i, line in enumerate(raw, 1)}}


def run_tiny(workflow, workdir: Path, deterministic: bool = True, env: dict | None = None) -> dict:
    workflow.config(workdir, train={"deterministic": deterministic})
    out = workflow.run(workdir, *TARGETS, env={**CLEAN, **(env or {})})
    assert out.returncode == 0, out.stderr[-3000:]
    return results(workdir)


# --- the test --------------------------------------------------------------------------------------

@pytest.mark.slow
def test_deterministic_mode_gives_the_golden_digits_on_this_cpu(tmp_path, workflow, record_property):
    cpu = cpu_description()
    record_property("cpu", cpu)  # in the JUnit report: the CPUs the golden values held on, over time
    print(f"golden test on {cpu}")
    found = run_tiny(workflow, tmp_path)
    assert all(row["deterministic"] == "True" for row in found["test_loss.tsv"].values())
    assert all(run.endswith("-det") for run in found["test_loss.tsv"])
    if os.environ.get("ABCRNN_GOLDEN_UPDATE"):
        write_golden(found)
        pytest.skip(f"golden files rewritten in {GOLDEN} on {cpu}")
    difference = first_difference(read_golden(), found)
    made_on = (GOLDEN / "machine.txt").read_text(encoding="utf-8").strip()
    assert difference is None, (
        f"deterministic mode: not the golden digits on this CPU.\n  this machine: {cpu}\n"
        f"  golden made on: {made_on}\n  first difference: {difference}\n"
        "  (README, 'Deterministic mode': what to do when a CPU breaks the golden test)")


def test_a_difference_names_the_table_row_column_and_both_values():
    golden = {"test_loss.tsv": {"lstm-det": {"test_loss": "2.058629", "val_loss": "2.27013"}},
              "weights.tsv": {"lstm-det": {"sha256": "ab"}}}
    assert first_difference(golden, golden) is None
    changed = {**golden, "test_loss.tsv": {"lstm-det": {"test_loss": "2.058629", "val_loss": "2.270131"}}}
    assert first_difference(golden, changed) == ("test_loss.tsv: run/row lstm-det, column val_loss: golden "
                                                 "'2.27013', this CPU '2.270131'")
    assert "row rnn-det is not in the golden copy" in first_difference(
        golden, {**golden, "weights.tsv": {"lstm-det": {"sha256": "ab"}, "rnn-det": {"sha256": "cd"}}})
    assert "CPU capability" in cpu_description()


# --- the emulated-CPU table (README evidence) ------------------------------------------------------

def matrix(fast: bool = False, names=tuple(EMULATED)) -> None:
    """Print, per emulated CPU, the weight hashes and test losses of the tiny config in the deterministic
    mode (and with --fast in the fast mode), and whether they match the golden files."""
    import tempfile

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import Workflow

    golden = read_golden()
    modes = [True, False] if fast else [True]
    for deterministic in modes:
        print(f"\n## {'deterministic' if deterministic else 'fast'} mode, {cpu_description()}")
        for name in names:
            with tempfile.TemporaryDirectory() as tmp:
                found = run_tiny(Workflow(), Path(tmp), deterministic, EMULATED[name])
            runs = sorted(found["weights.tsv"])
            hashes = " ".join(found["weights.tsv"][r]["sha256"][:12] for r in runs)
            losses = " ".join(found["test_loss.tsv"][r]["test_loss"] for r in runs)
            samples = hashlib.sha256(repr(found[f"samples-{SAMPLE_SET}.txt"]).encode()).hexdigest()[:12]
            same = ("golden" if first_difference(golden, found) is None else "differs") if deterministic else ""
            print(f"{name:14s} weights {hashes}  test_loss {losses}  samples {samples}  {same}", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    matrix(fast="--fast" in sys.argv)
