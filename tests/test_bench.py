import itertools

import pytest
import torch

import abcrnn.bench as bench
from abcrnn.bench import (CellLoop, denormal_share, denormals_kept, first_within, lstm_flops_per_char, main_bench,
                          plateaued, train_to_plateau, unrolled_rnn_states)
from abcrnn.checkpoint import save_checkpoint
from abcrnn.cli import main
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import read_tsv
from abcrnn.models import CharRNN
from abcrnn.vocab import Vocab
from test_train import write_tiny_data

REQUIRED = ["train_chars_per_s_loop", "train_chars_per_s_paper", "train_chars_per_s_batched",
            "speedup_batched_vs_paper", "speedup_batched_vs_loop", "matmul_gflops", "fraction_of_peak",
            "eval_chars_per_s", "sample_speedup_batched", "time_to_quality_paper_s", "time_to_quality_batched_s"]
TINY = ["--threads", "1", "--hidden", "8", "--chunk", "16", "--batch-size", "4", "--seconds", "0.05", "--cap", "0.4",
        "--check-every", "0.1", "--patience", "2", "--rnn-steps", "3", "--sample-batch", "3", "--sample-chars", "10",
        "--matmul-size", "64", "--no-bf16"]
TINY_FLOAT = torch.finfo(torch.float32).tiny


def flushing_on() -> bool:
    return (torch.full((4,), TINY_FLOAT) * 0.5).abs().max().item() == 0


def test_bench_writes_every_metric(tmp_path, capsys):
    write_tiny_data(tmp_path / "data", tunes=16)
    out = tmp_path / "benchmark.tsv"
    assert main(["bench", "--data-dir", str(tmp_path / "data"), "--out", str(out), *TINY]) == 0
    rows = {r["metric"]: r for r in read_tsv(out)}
    assert list(next(iter(rows.values()))) == ["metric", "value", "unit"]
    value = {name: float(row["value"]) for name, row in rows.items()}
    for metric in REQUIRED:
        assert value[metric] > 0, metric
    assert rows["train_chars_per_s_batched"]["unit"] == "chars/s"
    for mode in ("paper", "batched"):
        assert value[f"time_to_quality_{mode}_plateaued"] in (0, 1)
        assert 0 < value[f"time_to_quality_{mode}_s"] <= value[f"time_to_quality_{mode}_trained_s"]
        assert value[f"time_to_quality_{mode}_trained_s"] <= 0.4 + 0.5  # the cap (+ one window)
        assert value[f"time_to_common_quality_{mode}_s"] <= value[f"time_to_quality_{mode}_s"]  # an easier target
    assert value["common_quality_target"] >= max(value["best_val_loss_paper"], value["best_val_loss_batched"])
    assert value["speedup_time_to_common_quality_batched_vs_paper"] > 0
    assert value["load_average_max"] >= max(value["load_average_start"], value["load_average_end"])
    assert value["rnn_steps_before_timing"] == 3
    for what in ("weights", "optimizer_state", "hidden_states", "hidden_gradients"):
        assert 0 <= value[f"rnn_denormal_share_{what}"] <= 1
    assert value["denormal_penalty_matmul"] > 0 and value["speedup_flushing_denormals"] > 0
    printed = capsys.readouterr().out
    assert "speedup_batched_vs_paper" in printed
    peak_lines = [line for line in printed.splitlines() if line.startswith("fraction_of_peak")]
    assert len(peak_lines) == 2 and all("one-hot" in line for line in peak_lines)  # says what each one counts
    assert flushing_on()  # the other stages rely on it


def test_bench_times_a_trained_rnn_checkpoint_and_rejects_other_models(tmp_path, capsys):
    paths = write_tiny_data(tmp_path / "data", tunes=16)
    vocab = Vocab.load(paths["vocab"])
    for kind in ("rnn", "lstm"):
        save_checkpoint(tmp_path / f"{kind}.pt", CharRNN(len(vocab), kind, 8), vocab, {"model": kind, "hidden": 8}, 1)
    argv = ["--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "b.tsv"), *TINY, "--rnn-checkpoint"]
    with pytest.raises(AbcrnnError, match="--rnn-checkpoint .*lstm.pt: a vanilla RNN is needed, this is lstm"):
        main_bench([*argv, str(tmp_path / "lstm.pt")])
    assert not (tmp_path / "b.tsv").exists()  # refused before any measuring
    assert main_bench([*argv, str(tmp_path / "rnn.pt")]) == 0
    assert "rnn.pt" in capsys.readouterr().out


def test_cell_loop_is_the_same_lstm_as_the_fused_layer():
    """The per-character baseline computes what the fused paper model computes."""
    torch.manual_seed(0)
    fused = CharRNN(7, "lstm", 5).eval()
    loop = CellLoop(7, 5)
    loop.cell.load_state_dict({k.replace("_l0", ""): v for k, v in fused.rnn.state_dict().items()})
    loop.head.load_state_dict(fused.head.state_dict())
    x = torch.randint(0, 7, (2, 9))
    torch.testing.assert_close(loop(x)[0], fused(x)[0])


def test_unrolled_rnn_is_the_fused_vanilla_rnn():
    """The step-by-step RNN whose hidden-state gradients the denormal count reads is the real model."""
    torch.manual_seed(0)
    model = CharRNN(7, "rnn", 5, layers=2)
    x, state = torch.randint(0, 7, (3, 6)), torch.randn(2, 3, 5)
    states, logits = unrolled_rnn_states(model, x, state)
    fused_logits, fused_state = model(x, state)
    torch.testing.assert_close(logits, fused_logits)
    assert len(states) == 2 * 6
    torch.testing.assert_close(states[-1], fused_state[-1])


def test_denormals_are_kept_inside_and_flushed_after():
    assert denormal_share([torch.tensor([0.0, 1.0, TINY_FLOAT, -TINY_FLOAT / 4])]) == 0.0  # flushed to 0
    with denormals_kept(threads=1):
        values = torch.tensor([0.0, 1.0, TINY_FLOAT, -TINY_FLOAT]) * torch.tensor([1.0, 1.0, 1.0, 0.25])
        assert denormal_share([values, torch.zeros(4)]) == 1 / 8  # only the last value, of 8
        assert not flushing_on()
    assert flushing_on()


def test_plateau_rule_counts_epochs_and_ignores_swings():
    def flat(losses, patience=2.0, per_epoch=1):
        return plateaued(losses, [(i + 1) / per_epoch for i in range(len(losses))], patience, 0.005)

    assert not flat([3.0, 2.0])  # too few epochs to tell
    assert not flat([3.0, 2.0, 1.99, 1.994])  # 0.01 better than 2.0
    assert flat([3.0, 2.0, 1.996, 2.1])  # 0.004 better only
    assert not flat([3.0, 2.0, 1.996, 2.1], patience=3.0)  # patience counts epochs, not checks
    assert not flat([3.0, 2.0, 1.996, 2.1], per_epoch=2)  # two checks are one epoch
    # batch-1 losses swing from check to check: a run whose epoch mean still falls goes on ...
    swinging = [2.0, 1.6, 1.9, 1.85, 1.55, 1.8, 1.75, 1.56, 1.7]
    assert plateaued(swinging, list(range(1, 10)), 4, 0.005)  # one check per epoch: the swings are the trend
    assert not plateaued(swinging, [i / 3 for i in range(1, 10)], 4 / 3, 0.005)  # three per epoch: noise
    # ... and so does one whose latest check is a new best, whatever the mean says
    assert not flat([2.0, 1.5, 1.5, 1.5, 1.5, 1.6, 1.6, 1.4], patience=1.5, per_epoch=2)
    assert flat([3.0, 2.0, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5], patience=1.5, per_epoch=2)


class StubSession:
    """Training that takes no time and does one epoch per check; the validation losses come from a list."""

    def __init__(self):
        self.model, self.checks = torch.nn.Linear(1, 1), 0

    def step(self):
        return 1

    @property
    def epochs(self):
        self.checks += 1
        return float(self.checks)


def test_time_to_quality_run_stops_on_plateau_or_cap(monkeypatch):
    losses = iter([3.0, 2.0, 1.5, 1.499, 1.52, 1.498, 1.0])
    monkeypatch.setattr(bench, "stream_loss", lambda *args: next(losses))
    curve = train_to_plateau(StubSession(), None, cap=100.0, every=1e-4, patience=3, min_delta=0.005,
                             eval_batch=1, chunk=1)
    assert curve.plateaued and [loss for _, loss in curve.points] == [3.0, 2.0, 1.5, 1.499, 1.52, 1.498]
    assert curve.epochs == [1, 2, 3, 4, 5, 6]
    assert curve.best == 1.498 and first_within(curve.points, curve.best) == curve.points[2][0]

    improving = (1 / n for n in itertools.count(1))  # never plateaus: stops at the cap
    monkeypatch.setattr(bench, "stream_loss", lambda *args: next(improving))
    curve = train_to_plateau(StubSession(), None, cap=0.01, every=1e-3, patience=3, min_delta=0.005,
                             eval_batch=1, chunk=1)
    assert not curve.plateaued and curve.seconds >= 0.01 and len(curve.points) >= 2


def test_flop_count_and_time_to_quality():
    assert lstm_flops_per_char(95, 150) == 3 * (2 * 600 * (95 + 150) + 2 * 150 * 95)
    assert lstm_flops_per_char(95, 150, onehot_product=False) == 3 * (2 * 600 * 150 + 2 * 150 * 95)
    points = [(1.0, 3.0), (2.0, 2.1), (3.0, 2.05), (4.0, 2.0)]
    assert first_within(points, 2.0) == 4.0  # within 0.02 nats of 2.0
    assert first_within(points, 2.04) == 3.0
    assert first_within(points, 2.1) == 2.0
