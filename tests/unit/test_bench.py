import itertools
import math

import pytest
import torch

from abcrnn.commands.bench import build_parser
from abcrnn.bench.suite import corpus_rows, lstm_flops_per_char, same_titled_tunes
from abcrnn.bench.training import CellLoop, checked_step, mode_trainers
from abcrnn.commands.cli import main
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import read_tsv
from abcrnn.models.recurrent import CharRNN
from abcrnn.settings import RunSettings
from abcrnn.bench.timetoquality import first_within, plateaued, train_to_plateau
from abcrnn.training.train import Trainer
from abcrnn.data.vocab import Vocab

REQUIRED = ["train_chars_per_s_loop", "train_chars_per_s_paper", "train_chars_per_s_batched",
            "speedup_batched_vs_paper", "speedup_batched_vs_loop", "matmul_gflops", "fraction_of_peak",
            "eval_chars_per_s", "sample_speedup_batched", "time_to_quality_paper_s", "time_to_quality_batched_s",
            # the deterministic mode beside the fast one (measured in its own process)
            "train_chars_per_s_paper_deterministic", "train_chars_per_s_batched_deterministic",
            "deterministic_cost_paper", "deterministic_cost_batched", "train_chars_per_s_gru_batched_deterministic",
            "train_chars_per_s_rnn_batched_deterministic", "train_chars_per_s_transformer_batched_deterministic",
            "deterministic_cost_transformer_batched",
            # sampling under each decoding, beside unconstrained sampling
            "sample_seconds_per_tune_none", "constrained_cost_per_tune_abc", "constrained_cost_per_tune_meter",
            "constrained_cost_per_tune_form", "constrained_cost_per_char_form"]
TINY = ["--threads", "1", "--hidden", "8", "--chunk", "16", "--batch-size", "4", "--seconds", "0.05", "--cap", "0.4",
        "--check-every", "0.1", "--patience", "2", "--sample-batch", "3", "--sample-chars", "10", "--constrained-chars", "200",
        "--matmul-size", "64", "--no-bf16", "--corpus-sizes", "20,40"]
TINY_FLOAT = torch.finfo(torch.float32).tiny


def flushing_on() -> bool:
    return (torch.full((4,), TINY_FLOAT) * 0.5).abs().max().item() == 0


def test_bench_writes_every_metric(tmp_path, capsys, make_tiny_data):
    make_tiny_data(tmp_path / "data", tunes=16)
    out = tmp_path / "benchmark.tsv"
    assert main(["bench", "--data-dir", str(tmp_path / "data"), "--out", str(out), *TINY]) == 0
    rows = {r["metric"]: r for r in read_tsv(out)}
    assert list(next(iter(rows.values()))) == ["metric", "value", "unit"]
    # the machine the timings were taken on (text rows, unit "text")
    assert rows["machine_cpu"]["value"] and rows["machine_cpu"]["unit"] == "text"
    assert rows["machine_cpu_capability"]["value"] == torch.backends.cpu.get_cpu_capability()
    assert rows["machine_torch_version"]["value"] == torch.__version__
    assert rows["machine_threads"]["value"] == "1" and rows["machine_threads"]["unit"] == "threads"
    value = {name: float(row["value"]) for name, row in rows.items() if row["unit"] != "text"}
    for metric in REQUIRED:
        assert value[metric] > 0, metric
    assert value["corpus_seconds_20_tunes"] > 0 and value["corpus_time_ratio_40_vs_20"] > 0  # corpus time by size
    assert rows["train_chars_per_s_batched"]["unit"] == "chars/s"
    for mode in ("paper", "batched"):
        assert value[f"time_to_quality_{mode}_plateaued"] in (0, 1)
        assert 0 < value[f"time_to_quality_{mode}_s"] <= value[f"time_to_quality_{mode}_trained_s"]
        assert value[f"time_to_quality_{mode}_trained_s"] <= 0.4 + 0.5  # the cap (+ one window)
        assert value[f"time_to_common_quality_{mode}_s"] <= value[f"time_to_quality_{mode}_s"]  # an easier target
    assert value["common_quality_target"] >= max(value["best_val_loss_paper"], value["best_val_loss_batched"])
    assert value["speedup_time_to_common_quality_batched_vs_paper"] > 0
    assert value["load_average_max"] >= max(value["load_average_start"], value["load_average_end"])
    assert not any("denormal" in name for name in rows)  # the denormal study is done (README, Speed)
    printed = capsys.readouterr().out
    assert "speedup_batched_vs_paper" in printed
    peak_lines = [line for line in printed.splitlines() if line.startswith("fraction_of_peak") and "_batch" not in line]
    assert len(peak_lines) == 2 and all("one-hot" in line for line in peak_lines)  # says what each one counts
    for kind in ("lstm", "rnn", "gru", "transformer"):  # every model kind, at batch 1 and batched
        for mode in ("batch1", "batched"):
            assert value[f"train_chars_per_s_{kind}_{mode}"] > 0
            assert 0 < value[f"fraction_of_peak_{kind}_{mode}"] < 1
    assert value["speed_rnn_vs_lstm_batched"] > 0 and value["speed_gru_vs_lstm_batch1"] > 0
    assert flushing_on()  # the other stages rely on it


def test_cell_loop_is_the_same_lstm_as_the_fused_layer():
    """The per-character baseline computes what the fused paper model computes."""
    torch.manual_seed(0)
    fused = CharRNN(7, "lstm", 5).eval()
    loop = CellLoop(7, 5)
    loop.cell.load_state_dict({k.replace("_l0", ""): v for k, v in fused.rnn.state_dict().items()})
    loop.head.load_state_dict(fused.head.state_dict())
    x = torch.randint(0, 7, (2, 9))
    torch.testing.assert_close(loop(x)[0], fused(x)[0])


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


class StubTrainer:
    """Training that takes no time and does one epoch per check; its loss comes from `loss`."""

    def __init__(self, loss=1.0):
        self.loss, self.checks = loss, 0

    def step(self):
        return torch.tensor(self.loss), torch.tensor(0.0), 1

    @property
    def epochs_done(self):
        self.checks += 1
        return float(self.checks)


def test_time_to_quality_run_stops_on_plateau_or_cap():
    losses = iter([3.0, 2.0, 1.5, 1.499, 1.52, 1.498, 1.0])
    curve = train_to_plateau(StubTrainer(), lambda: next(losses), cap=100.0, every=1e-4, patience=3,
                             min_delta=0.005)
    assert curve.plateaued and [loss for _, loss in curve.points] == [3.0, 2.0, 1.5, 1.499, 1.52, 1.498]
    assert curve.epochs == [1, 2, 3, 4, 5, 6]
    assert curve.best == 1.498 and first_within(curve.points, curve.best) == curve.points[2][0]

    improving = (1 / n for n in itertools.count(1))  # never plateaus: stops at the cap
    curve = train_to_plateau(StubTrainer(), lambda: next(improving), cap=0.01, every=1e-3, patience=3,
                             min_delta=0.005)
    assert not curve.plateaued and curve.seconds >= 0.01 and len(curve.points) >= 2


def test_diverged_benchmark_training_stops_with_one_line():
    assert checked_step(StubTrainer()) == 1
    with pytest.raises(AbcrnnError, match=r"^benchmark training diverged \(loss nan\); try a lower --lr$"):
        checked_step(StubTrainer(math.nan))
    with pytest.raises(AbcrnnError, match="diverged"):
        train_to_plateau(StubTrainer(math.inf), lambda: 1.0, cap=1.0, every=0.1, patience=1, min_delta=0)


def test_modes_are_abcrnn_train_runs_from_the_same_start(tiny_data):
    """Every mode is a train.Trainer with the settings `abcrnn train` would get; all start alike."""
    args = build_parser().parse_args(["--hidden", "8", "--chunk", "16", "--batch-size", "4", "--threads", "1"])
    vocab = Vocab.load(tiny_data["vocab"])
    train, val = torch.load(tiny_data["train"]), torch.load(tiny_data["val"])
    trainers = mode_trainers(args, vocab, train, val, ("loop", "paper", "batched", "batched_bf16"))
    assert all(type(t) is Trainer for t in trainers.values())
    assert trainers["batched"].s == RunSettings(hidden=8, chunk=16, batch_size=4, device="cpu", threads=1)
    assert trainers["paper"].s.batch_size == 1 and trainers["loop"].s.batch_size == 1
    assert trainers["batched_bf16"].s.precision == "bf16"
    assert isinstance(trainers["loop"].model, CellLoop) and isinstance(trainers["paper"].model, CharRNN)
    for name in ("batched", "batched_bf16"):
        for a, b in zip(trainers["paper"].model.parameters(), trainers[name].model.parameters()):
            assert torch.equal(a, b)
    chars = checked_step(trainers["paper"])
    assert chars == 16 and trainers["paper"].epochs_done == 1 / len(trainers["paper"].spans)
    # the defaults: the batched mode is the default grid point of `abcrnn train`
    defaults = build_parser().parse_args([])
    assert mode_trainers(defaults, vocab, train, val, ("batched",))["batched"].s.run_name() == RunSettings().run_name()


def test_flop_count_and_time_to_quality():
    assert lstm_flops_per_char(95, 150) == 3 * (2 * 600 * (95 + 150) + 2 * 150 * 95)
    assert lstm_flops_per_char(95, 150, onehot_product=False) == 3 * (2 * 600 * 150 + 2 * 150 * 95)
    points = [(1.0, 3.0), (2.0, 2.1), (3.0, 2.05), (4.0, 2.0)]
    assert first_within(points, 2.0) == 4.0  # within 0.02 nats of 2.0
    assert first_within(points, 2.04) == 3.0
    assert first_within(points, 2.1) == 2.0


def test_corpus_time_against_corpus_size_rows():
    rows = []
    corpus_rows(lambda metric, value, unit, note="": rows.append((metric, value, unit)), [100, 200, 400])
    names = [m for m, _, _ in rows]
    assert names == ["corpus_seconds_100_tunes", "corpus_seconds_200_tunes", "corpus_seconds_400_tunes",
                     "corpus_time_ratio_400_vs_100"]
    seconds = {m: v for m, v, _ in rows}
    assert all(v > 0 for v in seconds.values()) and rows[0][2] == "s" and rows[-1][2] == "x"
    assert seconds["corpus_time_ratio_400_vs_100"] == pytest.approx(
        seconds["corpus_seconds_400_tunes"] / seconds["corpus_seconds_100_tunes"])
    tunes = same_titled_tunes(50)
    assert len(set(tunes)) == 50 and all(t.startswith("X:1\nT:Untitled\n") for t in tunes)
    assert build_parser().parse_args([]).corpus_sizes == [1000, 2000, 4000]
    assert build_parser().parse_args(["--corpus-sizes", "40,20,40"]).corpus_sizes == [20, 40]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--corpus-sizes", "0,10"])
