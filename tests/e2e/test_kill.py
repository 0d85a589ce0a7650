"""Training killed hard (kill -9) in its own process, then rerun: it continues where it stopped."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import losses

from abcrnn.commands.train import build_parser
from abcrnn.training.train import train


@pytest.fixture
def data(tiny_data):
    return tiny_data


def test_kill_9_then_rerun_continues_where_it_stopped(data, train_argv, tmp_path):
    argv = train_argv(data, tmp_path / "killed", "--epochs", "40", "--patience", "0", "--model", "rnn")
    cmd = [sys.executable, "-m", "abcrnn", "train", *argv]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    resume = tmp_path / "killed" / "resume.pt"
    deadline = time.monotonic() + 60
    while not resume.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if not resume.exists():
        pytest.skip("the run finished before it could be killed")
    done = len(torch.load(resume, weights_only=True)["rows"])
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert f"resuming after epoch {done}" in rerun.stderr
    train(build_parser().parse_args(train_argv(data, tmp_path / "whole", "--epochs", "40", "--patience", "0",
                                               "--model", "rnn")), log=lambda m: None)
    assert losses(tmp_path / "killed") == losses(tmp_path / "whole")
