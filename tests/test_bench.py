import torch

from abcrnn.bench import CellLoop, first_within, lstm_flops_per_char
from abcrnn.cli import main
from abcrnn.fileio import read_tsv
from abcrnn.models import CharRNN
from test_train import write_tiny_data

REQUIRED = ["train_chars_per_s_loop", "train_chars_per_s_paper", "train_chars_per_s_batched",
            "speedup_batched_vs_paper", "speedup_batched_vs_loop", "matmul_gflops", "fraction_of_peak",
            "eval_chars_per_s", "sample_speedup_batched", "time_to_quality_paper_s", "time_to_quality_batched_s"]


def test_bench_writes_every_metric(tmp_path, capsys):
    write_tiny_data(tmp_path / "data", tunes=16)
    out = tmp_path / "benchmark.tsv"
    argv = ["bench", "--data-dir", str(tmp_path / "data"), "--out", str(out), "--threads", "1", "--hidden", "8",
            "--chunk", "16", "--batch-size", "4", "--seconds", "0.05", "--budget", "0.3", "--evals", "2",
            "--sample-batch", "3", "--sample-chars", "10", "--matmul-size", "64", "--no-bf16"]
    assert main(argv) == 0
    rows = {r["metric"]: r for r in read_tsv(out)}
    assert list(next(iter(rows.values()))) == ["metric", "value", "unit"]
    for metric in REQUIRED:
        assert float(rows[metric]["value"]) > 0, metric
    assert rows["train_chars_per_s_batched"]["unit"] == "chars/s"
    assert float(rows["time_to_quality_paper_s"]["value"]) <= 0.3 + 0.5  # within the budget (+ one window)
    printed = capsys.readouterr().out
    assert "speedup_batched_vs_paper" in printed and "fraction_of_peak" in printed


def test_cell_loop_is_the_same_lstm_as_the_fused_layer():
    """The per-character baseline computes what the fused paper model computes."""
    torch.manual_seed(0)
    fused = CharRNN(7, "lstm", 5).eval()
    loop = CellLoop(7, 5)
    loop.cell.load_state_dict({k.replace("_l0", ""): v for k, v in fused.rnn.state_dict().items()})
    loop.head.load_state_dict(fused.head.state_dict())
    x = torch.randint(0, 7, (2, 9))
    torch.testing.assert_close(loop(x)[0], fused(x)[0])


def test_flop_count_and_time_to_quality():
    assert lstm_flops_per_char(95, 150) == 3 * (2 * 600 * (95 + 150) + 2 * 150 * 95)
    assert lstm_flops_per_char(95, 150, onehot_product=False) == 3 * (2 * 600 * 150 + 2 * 150 * 95)
    points = [(1.0, 3.0), (2.0, 2.1), (3.0, 2.05), (4.0, 2.0)]
    assert first_within(points, 2.0) == 4.0  # within 0.02 nats of 2.0
    assert first_within(points, 2.04) == 3.0
    assert first_within(points, 2.1) == 2.0
