"""Bad input on the command line gives one clear line on stderr and exit status 1, never a traceback."""

import json

import pytest
import torch

from abcrnn.models.checkpoint import FORMAT, load_checkpoint
from abcrnn.commands.cli import main
from abcrnn.data.vocab import Vocab


def run(capsys, *argv):
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err


@pytest.mark.parametrize("argv, expected", [
    (["vocab", "--train", "no/such/train.txt", "--out", "v.json"], "no/such/train.txt: No such file or directory"),
    (["encode", "--vocab", "no/vocab.json", "--data-dir", "no", "--out-dir", "x"], "no/vocab.json: not a readable abcrnn vocabulary"),
    (["evaluate", "--checkpoint", "no/best.pt", "--data", "no/test.pt", "--out", "t.tsv"], "no/best.pt: checkpoint not found"),
])
def test_missing_files_are_named(tmp_path, monkeypatch, capsys, argv, expected):
    monkeypatch.chdir(tmp_path)
    code, err = run(capsys, *argv)
    assert code == 1 and len(err.splitlines()) == 1 and expected in err, err


def test_non_utf8_text_is_one_line(tmp_path, capsys):
    (tmp_path / "corpus.txt").write_bytes("<start>\nX:1\nT:Caf\xe9\nK:G\nABc|\n<end>\n".encode("latin-1"))
    code, err = run(capsys, "split", "--corpus", str(tmp_path / "corpus.txt"), "--out-dir", str(tmp_path / "d"))
    assert code == 1 and len(err.splitlines()) == 1 and "not UTF-8" in err


def test_damaged_checkpoints_and_vocabularies(tmp_path, capsys):
    torch.save({"format": FORMAT, "settings": {}}, tmp_path / "nov.pt")
    (tmp_path / "junk.pt").write_text("not a checkpoint\nat all\n")
    (tmp_path / "list.json").write_text(json.dumps(["a", "b"]))
    for path, expected in ((tmp_path / "nov.pt", "damaged abcrnn checkpoint"),
                           (tmp_path / "junk.pt", "not a readable abcrnn checkpoint")):
        code, err = run(capsys, "sample", "--checkpoint", str(path), "--prime", "start", "-n", "1")
        assert code == 1 and len(err.splitlines()) == 1 and expected in err, err
    code, err = run(capsys, "encode", "--vocab", str(tmp_path / "list.json"), "--data-dir", str(tmp_path), "--out-dir", str(tmp_path))
    assert code == 1 and "not a readable abcrnn vocabulary" in err and len(err.splitlines()) == 1


def test_best_checkpoint_keeps_the_optimizer_state_of_its_epoch(tmp_path):
    vocab = Vocab.build("<start>\nX:1\nK:G\nABcd efga|\n<end>\n" * 20)
    ids = torch.tensor(vocab.encode("<start>\nX:1\nK:G\nABcd efga|\n<end>\n" * 20))
    torch.save(ids, tmp_path / "train.pt")
    torch.save(ids[:200], tmp_path / "val.pt")
    vocab.save(tmp_path / "vocab.json")
    assert main(["train", "--train", str(tmp_path / "train.pt"), "--val", str(tmp_path / "val.pt"),
                 "--vocab", str(tmp_path / "vocab.json"), "--out-dir", str(tmp_path / "run"), "--hidden", "8",
                 "--chunk", "20", "--batch-size", "4", "--epochs", "2", "--threads", "1"]) == 0
    _, _, best = load_checkpoint(tmp_path / "run" / "best.pt")
    _, _, last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert best["optimizer_state"]["state"] and last["optimizer_state"]["state"]
    steps = best["optimizer_state"]["state"][0]["step"]
    assert int(steps) == best["epoch"] * len(range(0, -(-(ids.numel() - 1) // 4), 20))


def test_a_full_disk_or_a_refused_folder_is_one_line_naming_the_output(tmp_path, monkeypatch, capsys):
    import errno
    from pathlib import Path

    from abcrnn import fileio

    abc = tmp_path / "a.abc"
    abc.write_text("X:1\nT:One\nK:G\nGABc dedB|\n")
    out = tmp_path / "out" / "corpus.txt"
    argv = ["corpus", "--source", str(abc), "--out", str(out), "--tunes", str(tmp_path / "t.tsv"),
            "--report", str(tmp_path / "r.tsv")]

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(Path, "write_text", no_space)
        code, err = run(capsys, *argv)
    assert code == 1 and err == f"abcrnn corpus: error: {out}: no space left on the device"

    def refused(*args, dir=None, **kwargs):  # what mkstemp meets in a read-only folder (even as root)
        raise PermissionError(errno.EACCES, "Permission denied", str(Path(dir) / ".corpus.txt.abc123.tmp"))

    with monkeypatch.context() as m:
        m.setattr(fileio.tempfile, "mkstemp", refused)
        code, err = run(capsys, *argv)
    assert code == 1 and err == f"abcrnn corpus: error: {out}: cannot write (Permission denied)"
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


def test_torch_save_on_a_full_disk_is_one_line(tmp_path, monkeypatch, capsys):
    import shutil
    from collections import namedtuple

    shutil_usage = namedtuple("usage", "total used free")
    text = "<start>\nX:1\nK:G\nABcd efga|\n<end>\n"
    (tmp_path / "data").mkdir()
    for split in ("train", "val", "test"):
        (tmp_path / "data" / f"{split}.txt").write_text(text)
    Vocab.build(text).save(tmp_path / "data" / "vocab.json")

    def iostream_error(obj, f, *args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:595] . unexpected pos 64 vs 0\n"
                           "basic_ios::clear: iostream error")

    monkeypatch.setattr(torch, "save", iostream_error)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil_usage(1 << 40, 1 << 40, 0))
    code, err = run(capsys, "encode", "--vocab", str(tmp_path / "data" / "vocab.json"), "--data-dir",
                    str(tmp_path / "data"), "--out-dir", str(tmp_path / "enc"))
    assert code == 1 and len(err.splitlines()) == 1, err
    assert err.startswith("abcrnn encode: error: ") and err.endswith(".pt: no space left on the device"), err
