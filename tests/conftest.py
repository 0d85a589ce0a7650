import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
# Deterministic, quiet torch on 2 shared cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def tiny_dir() -> Path:
    return ROOT / "tests" / "data" / "tiny"
