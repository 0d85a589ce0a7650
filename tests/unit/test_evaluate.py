import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from abcrnn.commands.cli import main
from abcrnn.training.evaluate import TEST_COLUMNS
from abcrnn.fileio import read_tsv, write_tsv
from abcrnn.models.recurrent import CharRNN
from abcrnn.training.train import METRICS_COLUMNS, stream_loss


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


def test_evaluate_writes_one_row_with_the_test_loss(trained_run, tmp_path):
    run, data = trained_run
    out = tmp_path / "test.tsv"
    argv = ["evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(data["test"]), "--out", str(out),
            "--threads", "1", "--device", "cpu"]
    assert main(argv) == 0
    rows = read_tsv(out)
    assert len(rows) == 1 and list(rows[0]) == TEST_COLUMNS
    row = rows[0]
    assert row["run"] == "lstm-h16" and row["model"] == "lstm" and row["hidden"] == "16"
    from abcrnn.models.checkpoint import load_checkpoint

    model, _, payload = load_checkpoint(run / "best.pt")
    # scored with the run's own layout (train_argv: 4 streams, chunk 20), read from the checkpoint
    assert (payload["settings"].batch_size, payload["settings"].chunk) == (4, 20)
    expected = stream_loss(model, torch.load(data["test"], weights_only=True), 4, 20, "cpu")
    other = stream_loss(model, torch.load(data["test"], weights_only=True), 2, 15, "cpu")
    assert expected != other
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
                "lr": 0.01, "grad_norm": 1.0, "seconds": 1.0, "chars_per_s": 1000,
                "cpu": "Some CPU", "cpu_capability": "AVX2", "threads": 2, "torch_version": "2.13.0"} for e in range(1, epochs + 1)]
    write_tsv(folder / "metrics.tsv", metrics, METRICS_COLUMNS)
    return folder


def tables_argv(runs, tables, plots, *extra) -> list[str]:
    return ["tables", "--tests", *(str(r / "test.tsv") for r in runs), "--metrics", *(str(r / "metrics.tsv") for r in runs),
            "--test-loss", str(tables / "test_loss.tsv"), "--best-run", str(tables / "best_run.tsv"),
            "--loss-curves", str(plots / "loss_curves.png"), "--test-loss-plot", str(plots / "test_loss.png"), *extra]


def test_tables_collects_runs_and_draws_every_plot(tmp_path):
    runs = [fake_run(tmp_path / "m" / "rnn-h150", "rnn-h150", "rnn", 150, 1.9, 1.95),
            fake_run(tmp_path / "m" / "lstm-h50", "lstm-h50", "lstm", 50, 1.6, 1.65),
            fake_run(tmp_path / "m" / "lstm-h150", "lstm-h150", "lstm", 150, 1.4, 1.45)]
    tables, plots = tmp_path / "tables", tmp_path / "plots"
    argv = tables_argv(runs, tables, plots, "--rnn-vs-lstm", str(plots / "rnn_vs_lstm.png"),
                       "--hidden-sweep", str(plots / "hidden_sweep.png"))
    assert main(argv) == 0
    rows = read_tsv(tables / "test_loss.tsv")
    assert [r["run"] for r in rows] == ["lstm-h150", "lstm-h50", "rnn-h150"]
    assert list(rows[0]) == TEST_COLUMNS
    best = read_tsv(tables / "best_run.tsv")
    assert len(best) == 1 and best[0]["run"] == "lstm-h150"
    assert sorted(p.name for p in plots.iterdir()) == ["hidden_sweep.png", "loss_curves.png", "rnn_vs_lstm.png",
                                                       "test_loss.png"]
    for path in plots.iterdir():
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    first = (tables / "test_loss.tsv").read_bytes()
    main(argv)
    assert (tables / "test_loss.tsv").read_bytes() == first  # reruns give identical tables


def test_tables_draws_only_the_plots_asked_for(tmp_path):
    runs = [fake_run(tmp_path / "m" / "rnn-h150", "rnn-h150", "rnn", 150, 1.9, 1.95),
            fake_run(tmp_path / "m" / "lstm-h150", "lstm-h150", "lstm", 150, 1.4, 1.45)]
    plots = tmp_path / "plots"
    assert main(tables_argv(runs, tmp_path / "t", plots)) == 0
    assert sorted(p.name for p in plots.iterdir()) == ["loss_curves.png", "test_loss.png"]


def test_a_comparison_with_nothing_to_compare_is_one_line(tmp_path, capsys):
    run = fake_run(tmp_path / "m" / "only", "only", "lstm", 150, 1.4, 1.45)
    plots = tmp_path / "plots"
    for flag_, name in (("--rnn-vs-lstm", "two model types"), ("--hidden-sweep", "differ only in hidden size")):
        assert main(tables_argv([run], tmp_path / "t", plots, flag_, str(plots / "x.png"))) == 1
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and name in err and "x.png" in err, err
    assert not (plots / "x.png").exists()


def test_tables_names_a_run_without_test_results(tmp_path, capsys):
    (tmp_path / "untested").mkdir()
    assert main(tables_argv([tmp_path / "untested"], tmp_path / "t", tmp_path / "p")) == 1
    assert "untested/test.tsv" in capsys.readouterr().err


def test_evaluate_refuses_data_encoded_with_another_vocabulary(trained_run, tmp_path, capsys):
    """A token checkpoint on character data (or the other way round) gave a number without a word:
    the split's vocabulary (--vocab, else the vocab.json beside --data) must be the checkpoint's."""
    from abcrnn.commands.train import build_parser
    from abcrnn.data.vocab import Vocab
    from abcrnn.training.train import train
    from conftest import tiny_train_argv

    run, chars = trained_run
    token = tmp_path / "token"
    token.mkdir()
    texts = {s: Vocab.load(chars["vocab"]).decode(torch.load(chars[s], weights_only=True).tolist())
             for s in ("train", "val", "test")}
    vocab = Vocab.build("".join(texts.values()), unit="token", min_count=1)
    vocab.save(token / "vocab.json")
    paths = {"vocab": token / "vocab.json"}
    for split in ("train", "val", "test"):
        paths[split] = token / f"{split}.pt"
        torch.save(torch.tensor(vocab.encode(texts[split]), dtype=torch.long), paths[split])
    assert len(vocab) > len(Vocab.load(chars["vocab"]))  # so character ids are all inside it
    train(build_parser().parse_args(tiny_train_argv(paths, token / "run", "--unit", "token", "--epochs", "1")),
          log=lambda m: None)
    capsys.readouterr()  # training's progress bar
    out = tmp_path / "test.tsv"
    argv = ["evaluate", "--checkpoint", str(token / "run" / "best.pt"), "--data", str(chars["test"]),
            "--out", str(out), "--threads", "1", "--device", "cpu"]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(chars["test"]) in err and "token" in err and "char" in err, err
    assert not out.exists()
    assert main([*argv[:4], str(paths["test"]), *argv[5:]]) == 0  # on its own unit's data it scores
    alone = tmp_path / "alone.pt"
    alone.write_bytes(Path(chars["test"]).read_bytes())
    assert main([*argv[:4], str(alone), *argv[5:]]) == 1  # no vocab.json to check against: say so
    assert "pass --vocab" in capsys.readouterr().err
    assert main([*argv[:4], str(alone), *argv[5:], "--vocab", str(chars["vocab"])]) == 1  # --vocab: the data's
    assert "was encoded with" in capsys.readouterr().err
