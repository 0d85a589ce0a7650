import os
import stat

import pytest

from abcrnn.fileio import atomic_path, read_tsv, write_text, write_tsv


def test_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out.txt"
    write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temporary file left


def test_outputs_get_ordinary_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644


def test_tsv_round_trip_keeps_header_and_values(tmp_path):
    write_tsv(tmp_path / "t.tsv", [{"run": "a", "loss": 1.23456789}, {"run": "b", "loss": float("nan")}], ["run", "loss"])
    assert read_tsv(tmp_path / "t.tsv") == [{"run": "a", "loss": "1.234568"}, {"run": "b", "loss": "nan"}]
