import math

import pytest
import torch
import torch.nn.functional as F

from abcrnn.cli import main
from abcrnn.evaluate import TEST_COLUMNS
from abcrnn.fileio import read_tsv, write_tsv
from abcrnn.models import CharRNN
from abcrnn.train import METRICS_COLUMNS, build_parser, stream_loss, train
from test_train import train_argv, write_tiny_data


def full_cross_entropy(model, ids):
    """Mean next-character cross-entropy of one pass over ids from a zero state."""
    logits, _ = model(ids[:-1][None])
    return F.cross_entropy(logits[0], ids[1:], reduction="sum").item(), ids.numel() - 1


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_stream_loss_equals_direct_cross_entropy(cell):
    torch.manual_seed(0)
    model = CharRNN(13, cell, hidden=10).eval()
    ids = torch.randint(0, 13, (301,))
    with torch.no_grad():
        total, count = full_cross_entropy(model, ids)
        assert stream_loss(model, ids, batch=1, chunk=37, device="cpu") == pytest.approx(total / count, rel=1e-5)
        # three streams: each a contiguous third of the 300 pairs, each from a zero state
        parts = [full_cross_entropy(model, ids[i * 100: i * 100 + 101]) for i in range(3)]
        direct = sum(p[0] for p in parts) / 300
        assert stream_loss(model, ids, batch=3, chunk=37, device="cpu") == pytest.approx(direct, rel=1e-5)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    data = write_tiny_data(root / "data")
    out = root / "models" / "lstm-h16"
    train(build_parser().parse_args(train_argv(data, out, "--epochs", "2")), log=lambda m: None)
    return data, out


def test_evaluate_writes_one_row_with_the_test_loss(trained, tmp_path):
    data, run = trained
    out = tmp_path / "test.tsv"
    argv = ["evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(data["test"]), "--out", str(out),
            "--batch-size", "2", "--chunk", "15", "--threads", "1", "--device", "cpu"]
    assert main(argv) == 0
    rows = read_tsv(out)
    assert len(rows) == 1 and list(rows[0]) == TEST_COLUMNS
    row = rows[0]
    assert row["run"] == "lstm-h16" and row["model"] == "lstm" and row["hidden"] == "16"
    from abcrnn.checkpoint import load_checkpoint

    model, _, payload = load_checkpoint(run / "best.pt")
    expected = stream_loss(model, torch.load(data["test"], weights_only=True), 2, 15, "cpu")
    assert float(row["test_loss"]) == pytest.approx(expected, abs=1e-6)
    assert float(row["test_bits"]) == pytest.approx(expected / math.log(2), abs=1e-5)
    assert int(row["params"]) == model.num_params()
    assert int(row["best_epoch"]) == payload["extra"]["best_epoch"]


def test_evaluate_missing_checkpoint_is_one_line(tmp_path, capsys):
    assert main(["evaluate", "--checkpoint", str(tmp_path / "none.pt"), "--out", str(tmp_path / "t.tsv")]) == 1
    assert "checkpoint not found" in capsys.readouterr().err


def fake_run(folder, name, model, hidden, val, test, epochs=4):
    folder.mkdir(parents=True)
    row = {"run": name, "model": model, "hidden": hidden, "layers": 1, "chunk": 200, "lr": 0.01, "batch_size": 32,
           "dropout": 0.0, "input": "onehot", "params": 1000 + hidden, "best_epoch": epochs, "val_loss": val,
           "test_loss": test, "test_bits": test / math.log(2), "epochs_trained": epochs, "train_seconds": 12.5}
    write_tsv(folder / "test.tsv", [row], TEST_COLUMNS)
    metrics = [{"epoch": e, "train_loss": 3 - 0.3 * e, "val_loss": 3.1 - 0.25 * e, "train_bits": 1, "val_bits": 1,
                "lr": 0.01, "grad_norm": 1.0, "seconds": 1.0, "chars_per_s": 1000} for e in range(1, epochs + 1)]
    write_tsv(folder / "metrics.tsv", metrics, METRICS_COLUMNS)
    return folder


def test_tables_collects_runs_and_draws_every_plot(tmp_path):
    runs = [fake_run(tmp_path / "m" / "rnn-h150", "rnn-h150", "rnn", 150, 1.9, 1.95),
            fake_run(tmp_path / "m" / "lstm-h50", "lstm-h50", "lstm", 50, 1.6, 1.65),
            fake_run(tmp_path / "m" / "lstm-h150", "lstm-h150", "lstm", 150, 1.4, 1.45)]
    tables, plots = tmp_path / "tables", tmp_path / "plots"
    assert main(["tables", "--runs", *map(str, runs), "--out-dir", str(tables), "--plots-dir", str(plots)]) == 0
    rows = read_tsv(tables / "test_loss.tsv")
    assert [r["run"] for r in rows] == ["lstm-h150", "lstm-h50", "rnn-h150"]
    assert list(rows[0]) == TEST_COLUMNS
    best = read_tsv(tables / "best_run.tsv")
    assert len(best) == 1 and best[0]["run"] == "lstm-h150"
    for name in ("loss_curves", "rnn_vs_lstm", "hidden_sweep", "test_loss"):
        assert (plots / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    first = (tables / "test_loss.tsv").read_bytes()
    main(["tables", "--runs", *map(str, runs), "--out-dir", str(tables), "--plots-dir", str(plots)])
    assert (tables / "test_loss.tsv").read_bytes() == first  # reruns give identical tables


def test_tables_skips_comparisons_that_have_nothing_to_compare(tmp_path, capsys):
    run = fake_run(tmp_path / "m" / "only", "only", "lstm", 150, 1.4, 1.45)
    plots = tmp_path / "plots"
    assert main(["tables", "--runs", str(run), "--out-dir", str(tmp_path / "t"), "--plots-dir", str(plots)]) == 0
    assert (plots / "loss_curves.png").exists() and (plots / "test_loss.png").exists()
    assert not (plots / "rnn_vs_lstm.png").exists() and not (plots / "hidden_sweep.png").exists()
    err = capsys.readouterr().err
    assert "rnn_vs_lstm.png skipped" in err and "hidden_sweep.png skipped" in err


def test_tables_names_a_run_without_test_results(tmp_path, capsys):
    (tmp_path / "untested").mkdir()
    assert main(["tables", "--runs", str(tmp_path / "untested"), "--out-dir", str(tmp_path / "t")]) == 1
    assert "untested/test.tsv" in capsys.readouterr().err
