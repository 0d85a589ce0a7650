"""Shared fixtures: the repository root, the tiny ABC corpus, and a small encoded data set with a trained run."""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))  # shared helpers: abc_examples.py
# Deterministic, quiet torch on 2 shared cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from abcrnn.notation.tunes import join_tagged  # noqa: E402
from abcrnn.data.vocab import Vocab  # noqa: E402

BODIES = ["|:GAB c2d|e2f g2e|dcB A2G|F2G A3:|", "|:dfa afd|cea aec|dfa afd|e2c d3:|", "ABc dcB|AGF G3|]",
          "|:g2e dBG|A2B cBA|G2E DEG|A3 A2B:|"]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture
def tiny_dir() -> Path:
    return ROOT / "tests" / "data" / "tiny"


LOSSES = ["epoch", "train_loss", "val_loss", "train_bits", "val_bits", "grad_norm"]


def oneills() -> list[str]:
    """The tiny corpus's tunes (a sample of O'Neill's), as the reader gives them."""
    from abcrnn.data.reader import read_abc_text

    tunes = []
    for path in sorted((ROOT / "tests" / "data" / "tiny").glob("*.abc")):
        tunes += [t.text for t in read_abc_text(path.read_text(encoding="utf-8"), str(path))[0]]
    return tunes


def losses(out_dir: Path) -> list[dict]:
    """The loss columns of a run's metrics.tsv (the rest are timings and the machine)."""
    from abcrnn.fileio import read_tsv

    return [{k: row[k] for k in LOSSES} for row in read_tsv(out_dir / "metrics.tsv")]


def write_tiny_data(folder: Path, tunes: int = 24) -> dict:
    """train/val/test .pt and vocab.json for a small corpus of made-up jigs; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    text = [f"X:{i}\nT:Tune {i}\nR:jig\nM:6/8\nL:1/8\nK:{'GDAE'[i % 4]}\n{BODIES[i % 4]}\n{BODIES[(i * 3 + 1) % 4]}"
            for i in range(tunes)]
    train_end, val_end = tunes * 3 // 4, tunes * 7 // 8
    splits = {"train": text[:train_end], "val": text[train_end:val_end], "test": text[val_end:]}
    vocab = Vocab.build(join_tagged(splits["train"]))
    vocab.save(folder / "vocab.json")
    paths = {"vocab": folder / "vocab.json"}
    for name, tunes_ in splits.items():
        paths[name] = folder / f"{name}.pt"
        torch.save(torch.tensor(vocab.encode(join_tagged(tunes_)), dtype=torch.long), paths[name])
    return paths


def tiny_train_argv(paths: dict, out_dir: Path, *extra: str) -> list[str]:
    """`abcrnn train` flags for a seconds-long run on `paths` (later flags in `extra` win)."""
    return ["--train", str(paths["train"]), "--val", str(paths["val"]), "--vocab", str(paths["vocab"]),
            "--out-dir", str(out_dir), "--hidden", "16", "--chunk", "20", "--batch-size", "4", "--epochs", "3",
            "--threads", "1", "--device", "cpu", *extra]


@pytest.fixture
def make_tiny_data():
    """The function that writes a small encoded data set into a folder: make_tiny_data(folder, tunes=24)."""
    return write_tiny_data


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> dict:
    """Paths of a small encoded data set (train/val/test .pt, vocab.json), written once per session."""
    return write_tiny_data(tmp_path_factory.mktemp("data"))


@pytest.fixture
def train_argv():
    """The function that builds `abcrnn train` flags: train_argv(paths, out_dir, *extra)."""
    return tiny_train_argv


@pytest.fixture(scope="session")
def trained_run(tiny_data, tmp_path_factory) -> tuple[Path, dict]:
    """(run folder, data paths) of an LSTM trained 2 epochs on tiny_data; read it, do not change it."""
    from abcrnn.commands.train import build_parser
    from abcrnn.training.train import train

    out = tmp_path_factory.mktemp("models") / "lstm-h16"
    train(build_parser().parse_args(tiny_train_argv(tiny_data, out, "--epochs", "2")), log=lambda m: None)
    return out, tiny_data


class Workflow:
    """The Snakemake workflow run on the tiny corpus in a working directory, as a user runs it."""

    def config(self, workdir: Path, **changes) -> Path:
        """Write workdir/config.yaml: config/tiny.yaml with `changes` ({section: {key: value}}) applied."""
        config = yaml.safe_load((ROOT / "config" / "tiny.yaml").read_text())
        config["corpus"]["sources"] = [str(ROOT / "tests" / "data" / "tiny")]
        for section, values in changes.items():
            config.setdefault(section, {}).update(values)
        path = workdir / "config.yaml"  # the working directory's own config, as a user's checkout has
        path.write_text(yaml.safe_dump(config))
        return path

    def run(self, workdir: Path, *args: str, timeout: int = 900, env: dict | None = None) -> subprocess.CompletedProcess:
        """snakemake ARGS in workdir; `env`: variables to add to (or, where None, remove from) its environment."""
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", **(env or {})}
        env = {k: v for k, v in env.items() if v is not None}
        cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
               "--configfile", str(workdir / "config.yaml"), "--cores", "2", *args]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)

    def planned(self, workdir: Path, *targets: str) -> dict[str, int]:
        """Jobs a dry run would run, by rule (empty when everything is up to date)."""
        out = self.run(workdir, "-n", *targets)
        assert out.returncode == 0, out.stderr + out.stdout
        text = out.stdout + out.stderr
        if "Job stats:" not in text:
            return {}
        table = text.split("Job stats:")[1].split("\n\n")[0]
        return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M) if m[1] not in ("total", "all")}


@pytest.fixture(scope="session")
def workflow() -> Workflow:
    return Workflow()


@pytest.fixture
def alarm():
    """Fail a test that would hang (a walk that never ends, a read of a pipe) after 60 s instead."""
    import signal

    def stop(*_):
        raise TimeoutError("hung")

    old = signal.signal(signal.SIGALRM, stop)
    signal.alarm(60)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


@pytest.fixture
def looped_dir(tmp_path):
    """A source folder with links to itself and to its parent: walks that follow links never end."""
    d = tmp_path / "looped"
    (d / "sub").mkdir(parents=True)
    messy = ROOT / "tests" / "data" / "messy"
    shutil.copy(messy / "crlf.abc", d / "crlf.abc")
    shutil.copy(messy / "no_blank_lines.abc", d / "sub" / "no_blank_lines.abc")
    (d / "self").symlink_to(".")
    (d / "sub" / "up").symlink_to("..")
    return d


LAST = ("test_slurm.py",)  # brings up (and afterwards stops or uninstalls) a local Slurm


def pytest_collection_modifyitems(session, config, items):
    """The Slurm tests run last, and put the machine back as they found it (Slurm absent, stopped or
    running). No other test runs while Slurm is installed but its daemons are stopped: then every
    `snakemake` start waits 10 s (the Slurm executor plugin asks `scontrol show config`)."""
    items[:] = [i for i in items if i.path.name not in LAST] + [i for i in items if i.path.name in LAST]
