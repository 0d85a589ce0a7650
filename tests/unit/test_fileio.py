import errno
import os
import shutil
import stat
from pathlib import Path

import pytest

from abcrnn import fileio
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import atomic_path, read_tsv, torch_save, write_text, write_tsv


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


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_full_disk_names_the_output_and_leaves_nothing(tmp_path, monkeypatch):
    target = tmp_path / "out.txt"
    write_text(target, "old")
    monkeypatch.setattr(Path, "write_text", no_space)
    with pytest.raises(AbcrnnError, match=f"^{target}: no space left on the device$") as info:
        write_text(target, "new")
    assert info.value.__cause__ is None and info.value.__suppress_context__  # one error, not a chain
    monkeypatch.setattr("builtins.open", no_space)
    with pytest.raises(AbcrnnError, match=f"^{tmp_path / 't.tsv'}: no space left on the device$"):
        write_tsv(tmp_path / "t.tsv", [{"a": 1}], ["a"])
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]  # no temporary files left


def test_torch_save_on_a_full_disk_is_one_line(tmp_path, monkeypatch):
    from collections import namedtuple

    import torch

    shutil_usage = namedtuple("usage", "total used free")

    def iostream_error(obj, f):
        Path(f).write_bytes(b"PK")  # half a file, then torch's error
        raise RuntimeError("[enforce fail at inline_container.cc:595] . unexpected pos 64 vs 0\nbasic_ios::clear: iostream error")

    monkeypatch.setattr(torch, "save", iostream_error)
    free = {"bytes": 10 << 30}
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil_usage(1 << 40, 0, free["bytes"]))
    with pytest.raises(RuntimeError, match="iostream"):  # room left: not the disk, torch's own error
        torch_save({"x": 1}, tmp_path / "a.pt")
    free["bytes"] = 4096
    with pytest.raises(AbcrnnError, match=f"^{tmp_path / 'a.pt'}: no space left on the device$"):
        torch_save({"x": 1}, tmp_path / "a.pt")
    assert list(tmp_path.iterdir()) == []


def test_unwritable_folder_names_the_output_not_the_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "ro" / "out.txt"
    target.parent.mkdir()
    if os.geteuid() == 0:  # root writes into read-only folders: make mkstemp answer as it would
        def refused(*args, dir=None, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied", str(Path(dir) / ".out.txt.x1y2.tmp"))

        monkeypatch.setattr(fileio.tempfile, "mkstemp", refused)
    else:
        target.parent.chmod(0o555)
    try:
        with pytest.raises(AbcrnnError, match=f"^{target}: cannot write \\(Permission denied\\)$"):
            write_text(target, "x")
    finally:
        target.parent.chmod(0o755)


def test_other_failures_inside_the_block_pass_through(tmp_path):
    with pytest.raises(ValueError):
        with atomic_path(tmp_path / "x.txt"):
            raise ValueError("not a write error")
    with pytest.raises(FileNotFoundError):  # an error about another file is not this output's
        with atomic_path(tmp_path / "x.txt"):
            open(tmp_path / "no-such-input.txt")
    assert list(tmp_path.iterdir()) == []
