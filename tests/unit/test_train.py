from collections import Counter

import pytest
import torch
from conftest import losses

from abcrnn.commands.cli import main
from abcrnn.commands.train import build_parser
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import read_tsv
from abcrnn.models.checkpoint import load_checkpoint
from abcrnn.training.train import IGNORE, METRICS_COLUMNS, stream_layout, train, windows


@pytest.fixture
def data(tiny_data):
    return tiny_data


# --- the stream layout ----------------------------------------------------------------------------

def test_batch_one_is_the_papers_chunks_in_text_order():
    data = torch.arange(53) % 17
    x, y = stream_layout(data, 1)
    spans = windows(x.shape[1], 10)
    assert [(w.start, w.stop) for w in spans] == [(0, 10), (10, 20), (20, 30), (30, 40), (40, 50), (50, 52)]
    assert torch.equal(torch.cat([x[0, w] for w in spans]), data[:-1])
    assert torch.equal(torch.cat([y[0, w] for w in spans]), data[1:])  # targets: the input shifted by one


@pytest.mark.parametrize("batch", [2, 5, 7])
def test_streams_cover_every_character_pair_once(batch):
    data = torch.randint(0, 9, (101,))
    x, y = stream_layout(data, batch)
    assert x.shape[0] == batch
    used = y != IGNORE
    assert int(used.sum()) == 100
    pairs = Counter(zip(x[used].tolist(), y[used].tolist()))
    assert pairs == Counter(zip(data[:-1].tolist(), data[1:].tolist()))
    # each stream is one contiguous stretch of the text
    length = x.shape[1]
    for b in range(batch):
        n = int(used[b].sum())
        assert torch.equal(x[b, :n], data[b * length: b * length + n])


# --- training runs -----------------------------------------------------------------------------------

def test_train_writes_checkpoints_metrics_and_no_resume_state(data, train_argv, tmp_path):
    out = tmp_path / "lstm-tiny"
    assert main(["train", *train_argv(data, out)]) == 0
    rows = read_tsv(out / "metrics.tsv")
    assert list(rows[0]) == METRICS_COLUMNS
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    import torch as torch_  # every epoch names the machine it ran on

    assert {(r["cpu_capability"], r["threads"], r["torch_version"]) for r in rows} == {
        (torch_.backends.cpu.get_cpu_capability(), "1", torch_.__version__)}
    assert rows[0]["cpu"]
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])
    model, vocab, payload = load_checkpoint(out / "best.pt")
    assert payload["run"] == "lstm-tiny" and payload["settings"].hidden == 16
    best = min(rows, key=lambda r: float(r["val_loss"]))
    assert payload["extra"]["best_epoch"] == int(best["epoch"])
    assert payload["extra"]["best_val_loss"] == pytest.approx(float(best["val_loss"]), abs=1e-6)
    assert load_checkpoint(out / "last.pt")[2]["epoch"] == 3
    assert not (out / "resume.pt").exists()


def test_same_flags_and_seed_give_identical_losses(data, train_argv, tmp_path):
    for name in ("a", "b"):
        train(build_parser().parse_args(train_argv(data, tmp_path / name, "--model", "gru", "--dropout", "0.3",
                                                   "--layers", "2")), log=lambda m: None)
    assert losses(tmp_path / "a") == losses(tmp_path / "b")
    train(build_parser().parse_args(train_argv(data, tmp_path / "c", "--model", "gru", "--dropout", "0.3",
                                               "--layers", "2", "--seed", "1")), log=lambda m: None)
    assert losses(tmp_path / "c") != losses(tmp_path / "a")


class Interrupted(Exception):
    pass


def interrupt_after(epoch):
    def hook(done):
        if done == epoch:
            raise Interrupted
    return hook


def test_interrupted_run_resumes_and_matches_an_uninterrupted_run(data, train_argv, tmp_path):
    argv = train_argv(data, tmp_path / "resumed", "--epochs", "4", "--model", "rnn")
    with pytest.raises(Interrupted):
        train(build_parser().parse_args(argv), on_epoch_end=interrupt_after(2), log=lambda m: None)
    assert (tmp_path / "resumed" / "resume.pt").exists()
    (tmp_path / "resumed" / "best.pt").unlink()  # Snakemake deletes a failed job's outputs
    messages = []
    train(build_parser().parse_args(argv), log=messages.append)
    assert any("resuming after epoch 2" in m for m in messages)
    assert not any("epoch 1/4" in m for m in messages)  # epochs 1-2 were not trained again
    train(build_parser().parse_args(train_argv(data, tmp_path / "straight", "--epochs", "4", "--model", "rnn")),
          log=lambda m: None)
    assert losses(tmp_path / "resumed") == losses(tmp_path / "straight")
    assert (tmp_path / "resumed" / "best.pt").exists()


def test_resume_state_from_other_settings_is_ignored(data, train_argv, tmp_path):
    out = tmp_path / "run"
    with pytest.raises(Interrupted):
        train(build_parser().parse_args(train_argv(data, out)), on_epoch_end=interrupt_after(1), log=lambda m: None)
    messages = []
    train(build_parser().parse_args(train_argv(data, out, "--lr", "0.02")), log=messages.append)
    assert any("different lr" in m and "starting fresh" in m for m in messages)
    assert len(read_tsv(out / "metrics.tsv")) == 3


def test_early_stopping_keeps_the_best_epoch(data, train_argv, tmp_path, monkeypatch):
    rising = iter([2.0, 1.5, 1.6, 1.7, 1.8, 1.9])
    monkeypatch.setattr("abcrnn.training.train.stream_loss", lambda *a, **k: next(rising))
    out = tmp_path / "early"
    result = train(build_parser().parse_args(train_argv(data, out, "--epochs", "6", "--patience", "2")),
                   log=lambda m: None)
    assert result["best_epoch"] == 2 and result["epochs_trained"] == 4
    assert load_checkpoint(out / "best.pt")[2]["epoch"] == 2


def test_a_time_limit_stops_after_the_epoch_that_passes_it(data, train_argv, tmp_path, monkeypatch):
    clock = iter(range(0, 10_000, 50))  # every epoch takes 50 s of training
    monkeypatch.setattr("abcrnn.training.train.time.perf_counter", lambda: next(clock))
    messages = []
    result = train(build_parser().parse_args(train_argv(data, tmp_path / "limited", "--epochs", "20", "--patience",
                                                        "0", "--time-limit-min", "2")), log=messages.append)
    assert result["epochs_trained"] == 3  # 100 s < 120 s after two epochs, 150 s after three
    assert any("time limit of 2" in m for m in messages)


def test_a_token_run_needs_a_token_vocabulary(data, train_argv, tmp_path, capsys):
    assert main(["train", *train_argv(data, tmp_path / "tok"), "--unit", "token"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("abcrnn train: error: --unit: the run is set for token symbols") and "char vocabulary" in err


def test_diverging_loss_stops_with_one_line_error(data, train_argv, tmp_path, capsys):
    argv = train_argv(data, tmp_path / "nan-run", "--optimizer", "sgd", "--lr", "1e38", "--clip", "0")
    assert main(["train", *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("abcrnn train: error: run nan-run:")
    assert "epoch 1" in err and "lower learning rate" in err


@pytest.mark.parametrize("change, message", [
    ({"train": "missing.pt"}, "not found"),
    ({"hidden": "0"}, "--hidden"),
    ({"lr": "-1"}, "--lr"),
])
def test_bad_inputs_give_clear_errors(data, train_argv, tmp_path, change, message):
    argv = train_argv(data, tmp_path / "bad")
    for key, value in change.items():
        argv += [f"--{key}", str(tmp_path / value) if key == "train" else value]  # the last one counts
    with pytest.raises(AbcrnnError, match=message):
        train(build_parser().parse_args(argv), log=lambda m: None)


def test_symbols_outside_the_vocabulary_are_rejected(data, train_argv, tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save(torch.tensor([0, 1, 999]), bad)
    argv = train_argv(data, tmp_path / "run")
    argv[argv.index("--val") + 1] = str(bad)
    with pytest.raises(AbcrnnError, match="outside the vocabulary"):
        train(build_parser().parse_args(argv), log=lambda m: None)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers, input_", [(1, "onehot"), (2, "embedding")])
def test_parameter_count_matches_the_built_model(kind, layers, input_):
    from abcrnn.models.recurrent import build_model, parameter_count
    from abcrnn.settings import RunSettings

    s = RunSettings(model=kind, hidden=12, layers=layers, input=input_, embedding_dim=5)
    assert parameter_count(23, s) == build_model(23, s).num_params()


def test_a_model_too_big_for_memory_is_refused_with_what_it_needs(data, train_argv, tmp_path, capsys):
    argv = train_argv(data, tmp_path / "huge", "--hidden", "1000000")
    assert main(["train", *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "GiB of memory" in err[0] and "--hidden" in err[0]
    assert not (tmp_path / "huge").exists()


def test_silent_failures_are_warned_about(data, train_argv, tmp_path):
    messages = []
    train(build_parser().parse_args(train_argv(data, tmp_path / "wide", "--batch-size", "400", "--epochs", "1")),
          log=messages.append)
    assert any("update(s) per epoch" in m and "lower --batch-size" in m for m in messages)
    messages.clear()
    train(build_parser().parse_args(train_argv(data, tmp_path / "wild", "--lr", "1e3", "--epochs", "2",
                                               "--optimizer", "sgd")), log=messages.append)
    assert any("worse than guessing" in m for m in messages)
