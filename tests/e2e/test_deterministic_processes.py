"""The deterministic mode across processes: each chooses its kernels when it starts, so these run fresh
Python processes, with environment variables that make torch and MKL run the kernels other CPUs would."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EMULATION = ("ATEN_CPU_CAPABILITY", "MKL_CBWR", "MKL_ENABLE_INSTRUCTIONS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA")


def python(code: str, **env) -> subprocess.CompletedProcess:
    """`code` in a fresh Python process (the mode is chosen per process), this checkout's abcrnn first."""
    clean = {k: v for k, v in os.environ.items() if k not in EMULATION}
    clean["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")])
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**clean, **env})


def test_importing_every_stage_runs_no_tensor_operation():
    """setup_torch may set the mode's environment variables because nothing the commands import runs a
    tensor operation or a matrix product first: set afterwards, they still take effect."""
    out = python("""
import importlib, os, pkgutil, abcrnn
for m in pkgutil.walk_packages(abcrnn.__path__, 'abcrnn.'):
    # generation.constrain: sampling's constraints, work in progress elsewhere and imported only with --constrain
    if m.name != 'abcrnn.__main__' and not m.name.startswith('abcrnn.generation.constrain'):
        importlib.import_module(m.name)
os.environ.update(ATEN_CPU_CAPABILITY='default', MKL_CBWR='COMPATIBLE')
import torch
from abcrnn.runtime import mkl_cbwr_branch
print(torch.backends.cpu.get_cpu_capability(), mkl_cbwr_branch())
""")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["DEFAULT", "3"]


def test_setup_pins_the_kernels_over_other_settings():
    out = python("""
from abcrnn.runtime import setup_torch, mkl_cbwr_branch
import torch
setup_torch(1, 'auto', deterministic=True)
print(torch.backends.cpu.get_cpu_capability(), mkl_cbwr_branch(), torch.backends.mkldnn.enabled)
""", ATEN_CPU_CAPABILITY="default", MKL_CBWR="AUTO")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["AVX2", "3", "False"]


@pytest.mark.parametrize("first, message", [
    ("a = torch.ones(8, 8); a @ a", "MKL's reproducibility branch is OFF"),
    ("import os; os.environ['ATEN_CPU_CAPABILITY'] = 'default'; torch.ones(3) + 1",
     "torch's kernels were already chosen for DEFAULT"),
])
def test_too_late_is_refused_in_one_line(first, message):
    out = python(f"""
import sys, torch
{first}
from abcrnn.errors import AbcrnnError
from abcrnn.runtime import setup_torch
try:
    setup_torch(1, 'cpu', deterministic=True)
except AbcrnnError as exc:
    sys.exit(str(exc))
""")
    assert out.returncode == 1 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1


TRAIN = """
import hashlib, json, sys
from pathlib import Path
from conftest import write_tiny_data, tiny_train_argv
from abcrnn.commands.train import build_parser
from abcrnn.training.train import train
tmp = Path(sys.argv[1])
paths = write_tiny_data(tmp / 'data', tunes=16)
args = build_parser().parse_args(tiny_train_argv(paths, tmp / 'run', '--epochs', '1', *sys.argv[2:]))
train(args, log=lambda m: None)
import torch
state = torch.load(tmp / 'run' / 'best.pt', weights_only=True)['model_state']
h = hashlib.sha256()
for k in sorted(state):
    h.update(state[k].contiguous().numpy().tobytes())
print(json.dumps({'weights': h.hexdigest(), 'capability': torch.backends.cpu.get_cpu_capability()}))
"""


# Environment variables that make torch and MKL run other kernels, as other CPUs would.
VARIANTS = {"native": {}, "aten=default,onednn=sse41": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41"},
            "mkl-compatible": {"MKL_CBWR": "COMPATIBLE"}}


def train_hash(tmp_path, name, *flags) -> str:
    folder = tmp_path / f"{name}{'-det' if '--deterministic' in flags else ''}"
    out = subprocess.run([sys.executable, "-c", TRAIN, str(folder), *flags], capture_output=True, text=True,
                         timeout=300, env={**{k: v for k, v in os.environ.items() if k not in EMULATION},
                                           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests")]),
                                           **VARIANTS[name]})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.splitlines()[-1])["weights"]


@pytest.mark.slow
def test_emulated_cpus_train_to_the_same_bits_only_in_the_mode(tmp_path):
    """The LSTM (the other kinds: tests/e2e/test_golden.py and the README's table)."""
    fast = {name: train_hash(tmp_path, name) for name in VARIANTS}
    det = {name: train_hash(tmp_path, name, "--deterministic") for name in VARIANTS}
    assert len(set(det.values())) == 1, det
    assert len(set(fast.values())) > 1, fast  # the emulation does change the fast mode's bits
