"""What the workflow sees of its inputs before any job runs: source folders with links to themselves,
named pipes, temperatures and rates that print oddly (snakemake -n on the tiny config)."""
import os
import subprocess
from pathlib import Path

import yaml


def dry_run(workflow, workdir: Path, sources: list[str]) -> subprocess.CompletedProcess:
    """`snakemake -n` on the tiny config with these corpus sources (a hang fails after 120 s)."""
    path = workflow.config(workdir)
    config = yaml.safe_load(path.read_text())
    config["corpus"]["sources"] = sources
    path.write_text(yaml.safe_dump(config))
    return workflow.run(workdir, "-n", "results/data/corpus.txt", timeout=120)


def test_workflow_sees_a_looped_folder_once_and_refuses_a_pipe(tmp_path, looped_dir, workflow):
    work = tmp_path / "work"
    work.mkdir()
    out = dry_run(workflow, work, [str(looped_dir)])
    assert out.returncode == 0, out.stderr[-2000:]
    assert "corpus" in out.stdout + out.stderr
    pipe = tmp_path / "pipe.abc"
    os.mkfifo(pipe)
    out = dry_run(workflow, work, [str(looped_dir), str(pipe)])
    assert out.returncode != 0
    lines = [line for line in (out.stderr + out.stdout).splitlines() if line.startswith("abcrnn:")]
    assert lines == [f"abcrnn: config key corpus.sources: {pipe}: not a regular file (a named pipe)"]


def test_tiny_temperatures_and_exponent_rates_run(root, tmp_path):
    """A temperature like 1e-05 names a folder the workflow accepts (dry run)."""
    import subprocess
    import sys
    from pathlib import Path

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"corpus: {{sources: ['{root}/tests/data/tiny']}}\nsample: {{temperatures: [0.00001]}}\n"
                   "grid: {model: [lstm], lr: [1e-3]}\n")
    env_path = f"{Path(sys.executable).parent}:" + __import__("os").environ["PATH"]
    out = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(root / "Snakefile"), "-d", str(tmp_path),
                          "--configfile", str(root / "config/tiny.yaml"), str(cfg), "-n", "--cores", "1"],
                         capture_output=True, text=True, env={**__import__("os").environ, "PATH": env_path})
    assert out.returncode == 0, out.stderr[-2000:] + out.stdout[-2000:]
    assert "results/samples/1e-05/samples.tsv" in out.stdout
    assert "lr0.001" in out.stdout
