"""The conda environment (envs/abcrnn.yaml, for `--sdm conda`) pins what the venv pins.

Conda can't be reached here, so the env is never built: this checks the file itself."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!-]+)$")
# Snakemake runs the jobs from outside the environment (it activates the env for each job's command).
NOT_IN_ENV = {"snakemake"}


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lines) -> dict[str, str]:
    out = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-r"):
            continue
        m = PIN.match(line)
        assert m, f"not an exact pin (name==version): {line!r}"
        out[norm(m[1])] = m[2]
    return out


def requirements(name: str) -> dict[str, str]:
    return pins((ROOT / name).read_text().splitlines())


def conda_env() -> dict:
    return yaml.safe_load((ROOT / "envs" / "abcrnn.yaml").read_text())


def env_pip_pins() -> dict[str, str]:
    deps = conda_env()["dependencies"]
    pip = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert len(pip) == 1, "envs/abcrnn.yaml needs one pip: section"
    return pins(pip[0])


def test_env_pins_are_requirements_pins():
    want = {k: v for k, v in requirements("requirements.txt").items() if k not in NOT_IN_ENV}
    assert env_pip_pins() == want


def test_env_python_is_one_the_package_supports():
    deps = [d for d in conda_env()["dependencies"] if isinstance(d, str)]
    python = [d for d in deps if d.startswith("python=")]
    assert python, "envs/abcrnn.yaml pins no python"
    need = re.search(r'requires-python\s*=\s*">=\s*(\d+)\.(\d+)"', (ROOT / "pyproject.toml").read_text())
    major, minor = (int(x) for x in python[0].split("=")[1].split(".")[:2])
    assert (major, minor) >= (int(need[1]), int(need[2]))
    assert "pip" in deps


def test_cluster_requirements_are_exact_pins():
    cluster = requirements("requirements-cluster.txt")
    assert {"snakemake-executor-plugin-slurm", "snakemake-executor-plugin-cluster-generic"} <= set(cluster)
    assert not set(cluster) & set(requirements("requirements.txt"))  # no second pin of the same package
