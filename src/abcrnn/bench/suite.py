"""`abcrnn bench`: training, evaluation and sampling speed, side by side on the same data and model.

Everything runs in one process on the encoded training data, with an LSTM (one-hot input, hidden 150,
chunk 200 by default), trained through `train.Trainer`, the code `abcrnn train` runs
(bench_training.py):

* the machine: CPU model, the instruction-set level torch uses on it, threads and torch version;
* training characters per second of (a) the straightforward implementation of the paper, one
  nn.LSTMCell call per character, (b) the paper's setup (batch 1) with torch's fused nn.LSTM, and
  (c) the default batched setup (32 streams), in fp32 and, where the CPU has bf16 instructions, with
  bf16 autocast; each is the best of --rounds turns, the modes taking turns, so that a passing
  slowdown of the machine does not decide a comparison;
* the fp32 matrix product rate of the machine, with the batched training step's FLOP rate as a
  fraction of it (once counting the one-hot input product that the fused layer executes, once
  without it);
* training characters per second and the useful fraction of that peak for each model kind (LSTM,
  vanilla RNN, GRU, Transformer), at batch 1 and batched (bench_kinds.py), and the RNN's and GRU's
  speed against the LSTM's;
* the cost of the deterministic mode (`train.deterministic`): training characters per second of the
  LSTM at batch 1 and batched, and of every kind batched, in that mode beside the fast mode, their
  turns alternating with the fast mode's (the mode runs in a second process: deterministic.py), and
  how many times slower it is (`--no-deterministic` leaves these out);
* time to quality (timetoquality.py): each mode trains until its validation loss plateaus, or for at
  most --cap seconds of training;
* evaluation characters per second, and batched sampling against one tune at a time;
* the corpus stage (reading and near-duplicate detection) on --corpus-sizes synthetic tunes that all
  share `X:1` and `T:Untitled`, as scraped files have them: seconds at each size and their ratio
  (linear when the ratio is the ratio of the sizes).

Timings depend on what else the machine is doing: the load average before, after and at its highest
is recorded. The table goes to --out (columns metric, value, unit; the machine rows hold text, unit
`text`) and, with a note on the rows that need one, to stdout.
"""

from __future__ import annotations

import math
import os
import random
import time
from pathlib import Path

import torch

from abcrnn.notation.tunes import START
from abcrnn.bench.deterministic import RemoteTrainer, Worker
from abcrnn.bench.kinds import kind_rows
from abcrnn.bench.training import best_rates, bf16_available, log, mode_trainers
from abcrnn.runtime import machine_info
from abcrnn.bench.timetoquality import time_to_quality_rows, time_to_quality_runs
from abcrnn.training.train import Trainer, load_split
from abcrnn.data.vocab import Vocab

CAP_DEFAULT = 150.0  # seconds: keeps `make bench` under about 7 minutes on 2 cores


# --- peak-rate accounting ------------------------------------------------------------------------

def best_time(fn, repeats: int) -> float:
    """Shortest of `repeats` timed calls of fn, after one untimed call."""
    fn()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def matmul_gflops(size: int, repeats: int = 5) -> float:
    """Best fp32 rate of a square matrix product: the machine's practical peak."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return 2 * size**3 / best_time(lambda: a @ b, repeats) / 1e9


def lstm_flops_per_char(vocab: int, hidden: int, onehot_product: bool = True) -> float:
    """FLOPs of one character's forward and backward pass (backward counted as twice the forward).

    The fused layer multiplies the one-hot input by W_ih like any dense input; without that
    product (a row lookup does the same) the count is the useful work only.
    """
    inputs = vocab if onehot_product else 0
    forward = 2 * 4 * hidden * (inputs + hidden) + 2 * hidden * vocab
    return 3 * forward


# --- evaluation and sampling ---------------------------------------------------------------------

def eval_rate(trainer: Trainer) -> float:
    """Validation characters per second of Trainer.validate(), what `abcrnn train` runs every epoch."""
    start = time.perf_counter()
    trainer.validate()
    return (trainer.val.numel() - 1) / (time.perf_counter() - start)


def sample_rate(model, vocab: Vocab, n: int, chars: int, rounds: int = 1) -> float:
    """Generated characters per second of `rounds` calls of sample_batch with n tunes each."""
    from abcrnn.generation.sample import sample_batch

    prime = f"{START}\n"
    total, start = 0, time.perf_counter()
    for seed in range(rounds):
        texts = sample_batch(model, vocab, prime, n, 1.0, chars, seed * n)
        total += sum(len(t) - len(prime) for t in texts)
    return total / (time.perf_counter() - start)


# --- the benchmark -------------------------------------------------------------------------------

def machine_rows(add) -> None:
    info = machine_info()
    add("machine_cpu", info["cpu"], "text", "model name in /proc/cpuinfo")
    add("machine_cpu_capability", info["cpu_capability"], "text", "instruction-set level of torch's CPU kernels")
    add("machine_threads", info["threads"], "threads", "torch threads")
    add("machine_torch_version", info["torch_version"], "text")


def training_speed_rows(add, args, vocab: Vocab, train: torch.Tensor, val: torch.Tensor, use_bf16: bool,
                        worker=None) -> float:
    """Rows of the training rates (with `worker`, the deterministic mode's beside them); returns the
    batched fp32 rate."""
    modes = ("loop", "paper", "batched", "batched_bf16") if use_bf16 else ("loop", "paper", "batched")
    trainers = mode_trainers(args, vocab, train, val, modes)
    if worker is not None:
        for name in ("paper", "batched"):
            trainers[f"{name}_deterministic"] = RemoteTrainer(worker, name, trainers[name].s)
    speed = best_rates(trainers, args.seconds, args.rounds)
    for name, rate in speed.items():
        add(f"train_chars_per_s_{name}", rate, "chars/s",
            "deterministic mode (train.deterministic), measured in turn with the fast mode" if "_det" in name else "")
    batched = speed["batched"]
    add("speedup_batched_vs_paper", batched / speed["paper"], "x")
    add("speedup_batched_vs_loop", batched / speed["loop"], "x")
    if use_bf16:
        add("speedup_bf16_vs_fp32", speed["batched_bf16"] / batched, "x")
    if worker is not None:
        for name in ("paper", "batched"):
            add(f"deterministic_cost_{name}", speed[name] / speed[f"{name}_deterministic"], "x",
                "times slower than the fast mode (the LSTM, fp32)")
    return batched


def peak_rows(add, args, vocab_size: int, batched: float) -> float:
    """Rows of the LSTM's arithmetic rate against the matmul peak; returns the peak (GFLOP/s)."""
    peak = matmul_gflops(args.matmul_size)
    flops = lstm_flops_per_char(vocab_size, args.hidden)
    useful = lstm_flops_per_char(vocab_size, args.hidden, onehot_product=False)
    add("matmul_gflops", peak, "GFLOP/s", f"fp32 {args.matmul_size}x{args.matmul_size} matrix product: the peak")
    add("flops_per_char", flops, "FLOP", "forward + backward, one-hot x W_ih product included")
    add("train_gflops_batched", batched * flops / 1e9, "GFLOP/s", "batched fp32 step, one-hot product included")
    add("fraction_of_peak", batched * flops / 1e9 / peak, "fraction",
        "of matmul_gflops, counting the one-hot x W_ih product the fused LSTM executes")
    add("fraction_of_peak_without_onehot_product", batched * useful / 1e9 / peak, "fraction",
        "of matmul_gflops, useful work only: the one-hot product counted as a row lookup")
    return peak


JIG_HEADER = "X:1\nT:Bench Jig\nR:jig\nM:6/8\nL:1/8\nK:G\n"


def constrained_sample_rows(add, args, model, vocab: Vocab, train: torch.Tensor) -> None:
    """Sampling time per tune and per character under each decoding, beside unconstrained sampling:
    `args.sample_batch` jigs at T = 1.0 from the same header, decodings taking turns; each
    constrained run starts with an empty mask cache, as a sample job does."""
    from abcrnn.generation.constrain.decoder import clear_cache
    from abcrnn.generation.constrain.forms import PlanBook
    from abcrnn.generation.sample import sample_batch
    from abcrnn.notation.tunes import split_tagged

    book = PlanBook(split_tagged(vocab.decode(train.tolist())))
    prime, n, chars = f"{START}\n{JIG_HEADER}", args.sample_batch, args.constrained_chars
    best: dict[str, tuple[float, int]] = {}
    for _ in range(args.rounds):
        for level in ("none", "abc", "meter", "form"):
            clear_cache()
            start = time.perf_counter()
            texts = sample_batch(model, vocab, prime, n, 1.0, chars, seed=0, constrain=level,
                                 plan_for=lambda k, header: book.draw(header, k))
            seconds = time.perf_counter() - start
            if level not in best or seconds < best[level][0]:
                best[level] = (seconds, sum(len(text) - len(prime) for text in texts))
    none_tune, none_char = best["none"][0] / n, best["none"][0] / best["none"][1]
    for level, (seconds, written) in best.items():
        add(f"sample_seconds_per_tune_{level}", seconds / n, "s", f"{n} jigs at once, at most {chars} characters")
        if level != "none":
            add(f"constrained_cost_per_tune_{level}", seconds / n / none_tune, "x", "against unconstrained sampling")
            add(f"constrained_cost_per_char_{level}", seconds / written / none_char, "x", "against unconstrained sampling")


def eval_sample_rows(add, args, trainer: Trainer, vocab: Vocab) -> None:
    add("eval_chars_per_s", eval_rate(trainer), "chars/s")
    model = trainer.model.eval()
    one = sample_rate(model, vocab, 1, args.sample_chars, rounds=2)
    many = sample_rate(model, vocab, args.sample_batch, args.sample_chars)
    add("sample_chars_per_s_one_at_a_time", one, "chars/s")
    add("sample_chars_per_s_batched", many, "chars/s", f"{args.sample_batch} tunes at once")
    add("sample_speedup_batched", many / one, "x")


# --- the corpus stage against corpus size -------------------------------------------------------

def same_titled_tunes(n: int, seed: int = 0) -> list[str]:
    """n distinct reels (8 bars, a random walk on the D major scale) that all share `X:1` and
    `T:Untitled`, as tunes scraped from the web do: every one lands in the same near-duplicate bucket."""
    rng, scale = random.Random(seed), "DEFGABcdefgab"
    tunes = []
    for _ in range(n):
        pos, notes = rng.randrange(len(scale)), []
        for _ in range(64):
            pos = min(max(pos + rng.choice((-2, -1, -1, 0, 1, 1, 2)), 0), len(scale) - 1)
            notes.append(scale[pos])
        bars = ["".join(notes[i : i + 4]) + " " + "".join(notes[i + 4 : i + 8]) for i in range(0, 64, 8)]
        tunes.append("X:1\nT:Untitled\nR:reel\nM:4/4\nL:1/8\nK:D\n|" + "|".join(bars[:4]) + "|\n|"
                     + "|".join(bars[4:]) + "|]\n")
    return tunes


def corpus_seconds(tunes: list[str]) -> float:
    """Seconds the corpus stage takes to read `tunes` as one file and drop their duplicates."""
    from abcrnn.data.corpus import select
    from abcrnn.data.sources import FileResult
    from abcrnn.data.reader import read_abc_text

    start = time.perf_counter()
    read, dropped = read_abc_text("\n".join(tunes), "synthetic.abc")
    select([FileResult("synthetic.abc", read, dropped)], dedupe=True, near="drop")
    return time.perf_counter() - start


def corpus_rows(add, sizes: list[int]) -> None:
    tunes = same_titled_tunes(max(sizes))
    seconds = {n: corpus_seconds(tunes[:n]) for n in sizes}
    for n, s in seconds.items():
        add(f"corpus_seconds_{n}_tunes", s, "s", "reading and near-duplicate detection, one X:1/T:Untitled file")
    small, large = min(sizes), max(sizes)
    if large > small:
        add(f"corpus_time_ratio_{large}_vs_{small}", seconds[large] / seconds[small], "x",
            f"{large / small:g} when linear in the tunes, {(large / small) ** 2:g} when quadratic")


def load_average() -> float:
    return os.getloadavg()[0]


def run_bench(args) -> list[dict]:
    data_dir = Path(args.data_dir)
    vocab = Vocab.load(data_dir / "vocab.json")
    train = load_split(data_dir / "train.pt", len(vocab), "training")
    val = load_split(data_dir / "val.pt", len(vocab), "validation")
    rows: list[dict] = []

    def add(metric: str, value: float | str, unit: str, note: str = "") -> None:
        rows.append({"metric": metric, "value": value, "unit": unit, "note": note})
        log(f"  {metric:<40} {formatted(value)} {unit}")

    started, loads = time.perf_counter(), [load_average()]
    machine_rows(add)
    add("load_average_start", loads[0], "processes", "1-minute load average before the benchmark")
    log(f"LSTM-{args.hidden}, one-hot input, chunk {args.chunk}, {len(train):,} training characters, "
        f"vocabulary {len(vocab)}, {args.threads} threads")

    log("training speed:")
    use_bf16 = args.bf16 and bf16_available()
    worker = Worker(data_dir, args.threads) if args.deterministic else None
    try:
        batched = training_speed_rows(add, args, vocab, train, val, use_bf16, worker)
        loads.append(load_average())
        log("arithmetic rate:")
        peak = peak_rows(add, args, len(vocab), batched)
        loads.append(load_average())
        log("training speed per model kind (batch 1 and batched):")
        kind_rows(add, args, vocab, train, val, peak, worker)
    finally:
        if worker is not None:
            worker.close()

    loads.append(load_average())
    log(f"time to quality (until the validation loss plateaus, at most {args.cap:g} s of training each):")
    curves, trainers = time_to_quality_runs(args, vocab, train, val, use_bf16)
    time_to_quality_rows(add, curves)
    loads += [load for curve in curves.values() for load in curve.loads]

    log("evaluation and sampling (the batched model):")
    eval_sample_rows(add, args, trainers["batched"], vocab)
    log("grammar-, meter- and form-aware sampling against unconstrained (the batched model):")
    constrained_sample_rows(add, args, trainers["batched"].model.eval(), vocab, train)
    loads.append(load_average())
    log("corpus stage against corpus size (same-titled tunes):")
    corpus_rows(add, args.corpus_sizes)
    loads.append(load_average())
    add("load_average_end", loads[-1], "processes")
    busy = max(loads) > args.threads + 0.5
    add("load_average_max", max(loads), "processes",
        f"highest seen{': other work shared the cores, timings read low' if busy else ''}")
    add("bench_seconds", time.perf_counter() - started, "s")
    return rows


def formatted(value: float | str) -> str:
    return f"{value:>14}" if isinstance(value, str) else f"{value:>14,.4g}"


def summary(rows: list[dict]) -> str:
    """The readable table printed at the end, with a note where a row needs one."""
    width = max(len(r["metric"]) for r in rows)
    units = max(len(r["unit"]) for r in rows)
    lines = [f"{'metric':<{width}}  {'value':>14}  {'unit':<{units}}  note", "-" * (width + units + 40)]
    lines += [f"{r['metric']:<{width}}  {formatted(r['value'])}  {r['unit']:<{units}}  {r.get('note', '')}".rstrip()
              for r in rows]
    return "\n".join(lines)
