"""scripts/gpu-check.sh, the prepared check of the CUDA path: here only that it is valid bash and stops
with one line, before any job, where there is no CUDA device (it runs on GPU machines)."""

import os
import subprocess

SCRIPT = "scripts/gpu-check.sh"


def test_gpu_check_is_bash_that_fails_on_errors(root):
    text = (root / SCRIPT).read_text()
    assert text.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in text
    assert "config/tiny.yaml" in text and "config/best.yaml" in text and "test_loss.tsv" in text
    assert subprocess.run(["bash", "-n", str(root / SCRIPT)]).returncode == 0


def test_gpu_check_stops_in_one_line_without_a_cuda_device(root, tmp_path):
    env = {**os.environ, "ABCRNN_GPU_CHECK_NVIDIA_SMI": "no-such-nvidia-smi", "GPU_CHECK_OUT": str(tmp_path / "out.txt"),
           "GPU_CHECK_DIR": str(tmp_path / "scratch")}
    out = subprocess.run(["bash", str(root / SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "gpu-check: no CUDA device: no-such-nvidia-smi not found (no NVIDIA driver on this machine); "
        "run this on a GPU machine"]
    assert not (tmp_path / "out.txt").exists() and not (tmp_path / "scratch").exists()
