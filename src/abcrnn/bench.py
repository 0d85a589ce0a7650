"""`abcrnn bench`: training, evaluation and sampling speed, side by side on the same data and model.

Everything runs in one process on the encoded training data, with an LSTM (one-hot input, hidden 150,
chunk 200 by default):

* training characters per second of (a) the straightforward implementation of the paper, one
  nn.LSTMCell call per character, (b) the paper's setup (batch 1) with torch's fused nn.LSTM, and
  (c) the default batched setup (32 streams), in fp32 and, where the CPU has bf16 instructions, with
  bf16 autocast; each is the best of --rounds turns, the modes taking turns, so that a passing
  slowdown of the machine does not decide a comparison;
* evaluation characters per second, batched sampling against one tune at a time, and the fp32 matrix
  product rate of the machine, with the batched training step's FLOP rate as a fraction of it;
* time to quality: each mode trains from the same start for at most --budget seconds, checking the
  validation loss every --budget/--evals seconds of training (checking time not counted); reported are
  the training seconds until the loss first came within 0.02 nats/char of that run's best, and until it
  first came within 0.02 of the worse of the runs' bests (a target every run reached);
* whether flushing denormal numbers matters: a vanilla RNN trained with and without flushing.

Timings depend on what else the machine is doing: the load average before and after is recorded.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .abc import START
from .errors import AbcrnnError
from .fileio import write_tsv
from .models import CharRNN, build_model
from .runtime import setup_torch
from .train import load_split, make_optimizer, stream_layout, stream_loss, train_step, windows
from .vocab import Vocab

QUALITY_MARGIN = 0.02  # nats/char


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class CellLoop(nn.Module):
    """The paper's LSTM written the straightforward way: one nn.LSTMCell call per character."""

    def __init__(self, vocab_size: int, hidden: int):
        super().__init__()
        self.vocab_size = vocab_size
        self.cell = nn.LSTMCell(vocab_size, hidden)
        self.head = nn.Linear(hidden, vocab_size)

    def forward(self, x: torch.Tensor, state=None):
        onehot = F.one_hot(x, self.vocab_size).float()
        h, c = state if state is not None else (onehot.new_zeros(x.shape[0], self.cell.hidden_size),) * 2
        outputs = []
        for t in range(x.shape[1]):
            h, c = self.cell(onehot[:, t], (h, c))
            outputs.append(h)
        return self.head(torch.stack(outputs, 1)), (h, c)


class Session:
    """A model training on the streams of a text, window after window, epoch after epoch."""

    def __init__(self, model: nn.Module, data: torch.Tensor, batch: int, chunk: int, lr: float,
                 precision: str = "fp32", clip: float = 5.0):
        self.model, self.precision, self.clip = model, precision, clip
        self.optimizer = make_optimizer("adam", model.parameters(), lr)
        self.x, self.y = stream_layout(data, batch)
        self.spans = windows(self.x.shape[1], chunk)
        self.counts = [int((self.y[:, w] >= 0).sum()) for w in self.spans]
        self.next, self.state = 0, None

    def step(self) -> int:
        """Train on the next window; returns the characters it predicted."""
        if self.next == len(self.spans):  # a new epoch starts from a fresh state
            self.next, self.state = 0, None
        w = self.spans[self.next]
        self.model.train()
        loss, _, self.state = train_step(self.model, self.optimizer, self.x[:, w], self.y[:, w], self.state,
                                         self.clip, self.precision)
        if not math.isfinite(loss.item()):
            raise AbcrnnError(f"benchmark training diverged (loss {loss.item()}); try a lower --lr")
        self.next += 1
        return self.counts[self.next - 1]

    def rate(self, seconds: float, warmup: int = 2) -> float:
        """Training characters per second over about `seconds` (at least three windows)."""
        for _ in range(warmup):
            self.step()
        chars, steps, start = 0, 0, time.perf_counter()
        while steps < 3 or time.perf_counter() - start < seconds:
            chars += self.step()
            steps += 1
        return chars / (time.perf_counter() - start)


def best_rates(sessions: dict[str, Session], seconds: float, rounds: int) -> dict[str, float]:
    """Each session's best training rate over `rounds` turns of seconds/rounds each, taken in turn."""
    best = dict.fromkeys(sessions, 0.0)
    for turn in range(rounds):
        for name, session in sessions.items():
            best[name] = max(best[name], session.rate(seconds / rounds, warmup=2 if turn == 0 else 0))
    return best


def fresh_model(vocab_size: int, hidden: int, seed: int = 0, model: str = "lstm") -> CharRNN:
    torch.manual_seed(seed)
    return build_model(vocab_size, {"model": model, "hidden": hidden})


def matmul_gflops(size: int, repeats: int = 5) -> float:
    """Best fp32 rate of a square matrix product: the machine's practical peak."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def lstm_flops_per_char(vocab: int, hidden: int, onehot_product: bool = True) -> float:
    """FLOPs of one character's forward and backward pass (backward counted as twice the forward).

    The fused layer multiplies the one-hot input by W_ih like any dense input; without that
    product (a row lookup does the same) the count is the useful work only.
    """
    inputs = vocab if onehot_product else 0
    forward = 2 * 4 * hidden * (inputs + hidden) + 2 * hidden * vocab
    return 3 * forward


def time_to_quality(session: Session, val: torch.Tensor, budget: float, evals: int, chunk: int,
                    eval_batch: int) -> list[tuple[float, float]]:
    """(training seconds, validation loss) at regular checks during at most `budget` seconds."""
    points, trained, every = [], 0.0, budget / evals
    while trained < budget:
        start = time.perf_counter()
        while time.perf_counter() - start < min(every, budget - trained):
            session.step()
        trained += time.perf_counter() - start
        points.append((trained, stream_loss(session.model, val, eval_batch, chunk, "cpu")))
    return points


def first_within(points: list[tuple[float, float]], target: float) -> float:
    return next(t for t, loss in points if loss <= target + QUALITY_MARGIN)


def sample_rate(model, vocab: Vocab, n: int, chars: int, rounds: int = 1) -> float:
    """Generated characters per second of `rounds` calls of sample_batch with n tunes each."""
    from .sample import sample_batch

    prime = f"{START}\n"
    total, start = 0, time.perf_counter()
    for seed in range(rounds):
        texts = sample_batch(model, vocab, prime, n, 1.0, chars, seed * n)
        total += sum(len(t) - len(prime) for t in texts)
    return total / (time.perf_counter() - start)


def denormal_rates(train: torch.Tensor, vocab_size: int, hidden: int, chunk: int, seconds: float, rounds: int,
                   threads: int) -> dict[bool, float]:
    """Vanilla RNN (the paper's setup, batch 1) training rate with denormals kept and flushed.

    Measured on one thread: the flush setting belongs to each thread, and torch's worker threads
    take it from the main thread only when they start.
    """
    sessions = {flush: Session(fresh_model(vocab_size, hidden, model="rnn"), train, 1, chunk, 0.002)
                for flush in (False, True)}
    best = dict.fromkeys(sessions, 0.0)
    torch.set_num_threads(1)
    try:
        for turn in range(rounds):
            for flush, session in sessions.items():
                torch.set_flush_denormal(flush)
                best[flush] = max(best[flush], session.rate(seconds / rounds, warmup=2 if turn == 0 else 0))
    finally:
        torch.set_flush_denormal(True)
        torch.set_num_threads(threads)
    return best


def bf16_available() -> bool:
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def run_bench(args) -> list[dict]:
    data_dir = Path(args.data_dir)
    vocab = Vocab.load(data_dir / "vocab.json")
    train = load_split(data_dir / "train.pt", len(vocab), "training")
    val = load_split(data_dir / "val.pt", len(vocab), "validation")
    V, H, chunk, batch = len(vocab), args.hidden, args.chunk, args.batch_size
    rows: list[dict] = []

    def add(metric: str, value: float, unit: str) -> None:
        rows.append({"metric": metric, "value": value, "unit": unit})
        log(f"  {metric:<34} {value:>14,.4g} {unit}")

    started = time.perf_counter()
    add("load_average_start", os.getloadavg()[0], "processes")
    log(f"LSTM-{H}, one-hot input, chunk {chunk}, {len(train):,} training characters, vocabulary {V}, "
        f"{args.threads} threads on {platform.processor() or platform.machine()}")

    log("training speed:")
    use_bf16 = args.bf16 and bf16_available()
    sessions = {"loop": Session(CellLoop(V, H), train, 1, chunk, args.lr),
                "paper": Session(fresh_model(V, H), train, 1, chunk, args.lr),
                "batched": Session(fresh_model(V, H), train, batch, chunk, args.lr)}
    if use_bf16:
        sessions["batched_bf16"] = Session(fresh_model(V, H), train, batch, chunk, args.lr, "bf16")
    speed = best_rates(sessions, args.seconds, args.rounds)
    for name, rate in speed.items():
        add(f"train_chars_per_s_{name}", rate, "chars/s")
    batched = speed["batched"]
    add("speedup_batched_vs_paper", batched / speed["paper"], "x")
    add("speedup_batched_vs_loop", batched / speed["loop"], "x")
    if use_bf16:
        add("speedup_bf16_vs_fp32", speed["batched_bf16"] / batched, "x")

    log("arithmetic rate:")
    peak = matmul_gflops(args.matmul_size)
    flops, useful = lstm_flops_per_char(V, H), lstm_flops_per_char(V, H, onehot_product=False)
    add("matmul_gflops", peak, "GFLOP/s")
    add("flops_per_char", flops, "FLOP")
    add("train_gflops_batched", batched * flops / 1e9, "GFLOP/s")
    add("fraction_of_peak", batched * flops / 1e9 / peak, "fraction")
    add("fraction_of_peak_without_onehot_product", batched * useful / 1e9 / peak, "fraction")

    log("denormal numbers (vanilla RNN, batch 1, one thread):")
    rates = denormal_rates(train, V, H, chunk, args.seconds, args.rounds, args.threads)
    add("rnn_train_chars_per_s_denormals_kept", rates[False], "chars/s")
    add("rnn_train_chars_per_s_denormals_flushed", rates[True], "chars/s")
    add("speedup_flushing_denormals", rates[True] / rates[False], "x")

    log(f"time to quality (at most {args.budget:g} s of training each, {args.evals} checks):")
    modes = {"paper": (1, "fp32"), "batched": (batch, "fp32")}
    if use_bf16:
        modes["batched_bf16"] = (batch, "bf16")
    curves, models = {}, {}
    for name, (streams, precision) in modes.items():
        session = Session(fresh_model(V, H), train, streams, chunk, args.lr, precision)
        curves[name] = time_to_quality(session, val, args.budget, args.evals, chunk, batch)
        models[name] = session.model
    common = max(min(loss for _, loss in points) for points in curves.values())
    for name, points in curves.items():
        best = min(loss for _, loss in points)
        add(f"time_to_quality_{name}_s", first_within(points, best), "s")
        add(f"best_val_loss_{name}", best, "nats/char")
        add(f"time_to_common_quality_{name}_s", first_within(points, common), "s")
    add("common_quality_target", common + QUALITY_MARGIN, "nats/char")

    log("evaluation and sampling (the batched model):")
    model = models["batched"].eval()
    start = time.perf_counter()
    stream_loss(model, val, batch, chunk, "cpu")
    add("eval_chars_per_s", (len(val) - 1) / (time.perf_counter() - start), "chars/s")
    one = sample_rate(model, vocab, 1, args.sample_chars, rounds=2)
    many = sample_rate(model, vocab, args.sample_batch, args.sample_chars)
    add("sample_chars_per_s_one_at_a_time", one, "chars/s")
    add("sample_chars_per_s_batched", many, "chars/s")
    add("sample_speedup_batched", many / one, "x")
    add("load_average_end", os.getloadavg()[0], "processes")
    add("bench_seconds", time.perf_counter() - started, "s")
    return rows


def summary(rows: list[dict]) -> str:
    """The readable table printed at the end."""
    width = max(len(r["metric"]) for r in rows)
    lines = [f"{'metric':<{width}}  {'value':>14}  unit", "-" * (width + 24)]
    lines += [f"{r['metric']:<{width}}  {r['value']:>14,.4g}  {r['unit']}" for r in rows]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abcrnn bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", default="results/data", help="folder with train.pt, val.pt and vocab.json")
    p.add_argument("--out", default="results/tables/benchmark.tsv")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=6.0, help="measuring time of each training speed")
    p.add_argument("--rounds", type=int, default=3, help="turns the training speeds are measured in (best counts)")
    p.add_argument("--budget", type=float, default=45.0, help="training seconds of each time-to-quality run")
    p.add_argument("--evals", type=int, default=15, help="validation checks per time-to-quality run")
    p.add_argument("--hidden", type=int, default=150)
    p.add_argument("--chunk", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=32, help="streams of the batched mode")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--sample-batch", type=int, default=64, help="tunes sampled together")
    p.add_argument("--sample-chars", type=int, default=300, help="characters per sampled tune at most")
    p.add_argument("--matmul-size", type=int, default=2048)
    p.add_argument("--no-bf16", dest="bf16", action="store_false", help="skip the bf16 measurements")
    return p


def main_bench(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("threads", "rounds", "hidden", "chunk", "batch_size", "evals", "sample_batch", "sample_chars",
                 "matmul_size"):
        if getattr(args, name) < 1:
            raise AbcrnnError(f"--{name.replace('_', '-')}: must be at least 1")
    if args.seconds <= 0 or args.budget <= 0:
        raise AbcrnnError("--seconds and --budget: must be positive")
    setup_torch(args.threads, "cpu")
    rows = run_bench(args)
    write_tsv(args.out, rows, ["metric", "value", "unit"])
    print(summary(rows))
    return 0


main = main_bench
