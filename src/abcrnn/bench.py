"""`abcrnn bench`: training, evaluation and sampling speed, side by side on the same data and model.

Everything runs in one process on the encoded training data, with an LSTM (one-hot input, hidden 150,
chunk 200 by default):

* training characters per second of (a) the straightforward implementation of the paper, one
  nn.LSTMCell call per character, (b) the paper's setup (batch 1) with torch's fused nn.LSTM, and
  (c) the default batched setup (32 streams), in fp32 and, where the CPU has bf16 instructions, with
  bf16 autocast; each is the best of --rounds turns, the modes taking turns, so that a passing
  slowdown of the machine does not decide a comparison;
* evaluation characters per second, batched sampling against one tune at a time, and the fp32 matrix
  product rate of the machine, with the batched training step's FLOP rate as a fraction of it (once
  counting the one-hot input product that the fused layer executes, once without it);
* time to quality: paper mode, batched mode (and batched bf16) each train from the same start until
  the validation loss has plateaued (checked every --check-every seconds of training, checking time
  not counted: in the checks of the last --patience epochs, neither the loss nor its mean over an
  epoch of checks beat the best before by more than --min-delta), or until --cap seconds of
  training. Reported are the training seconds until the loss first came within 0.02 nats/char of
  that run's own best, until it first came within 0.02 of the worst run's best (a target every run
  reached), each run's best, and whether it plateaued;
* denormal numbers: how much slower the CPU computes on denormal operands at all, and the training
  rate of a vanilla RNN (the paper's setup, batch 1) that first trained --rnn-steps windows with
  flushing off, so that the denormals training produces are there, timed with denormals kept and
  flushed, with the share of denormal values in its weights, optimizer state, hidden states and their
  gradients.

Timings depend on what else the machine is doing: the load average before, after and at its highest
is recorded.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import platform
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .abc import START
from .checkpoint import load_checkpoint
from .errors import AbcrnnError
from .fileio import write_tsv
from .models import CharRNN, build_model
from .runtime import setup_torch
from .train import IGNORE, load_split, make_optimizer, stream_layout, stream_loss, train_step, windows
from .vocab import Vocab

QUALITY_MARGIN = 0.02  # nats/char
CAP_DEFAULT = 150.0  # seconds: keeps `make bench` under about 8 minutes on 2 cores


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
        self.next, self.state, self.windows_done = 0, None, 0

    @property
    def epochs(self) -> float:
        return self.windows_done / len(self.spans)

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
        self.windows_done += 1
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


@dataclass
class Curve:
    """A time-to-quality run: (training seconds, validation loss) at every check, and how it ended."""

    points: list[tuple[float, float]]
    epochs: list[float]  # epochs trained at every check
    plateaued: bool  # False: stopped at the cap while still improving
    loads: list[float]  # 1-minute load average at every check

    @property
    def best(self) -> float:
        return min(loss for _, loss in self.points)

    @property
    def seconds(self) -> float:
        return self.points[-1][0]


def epoch_means(losses: list[float], epochs: list[float]) -> list[float]:
    """Each loss averaged with those of the checks in the epoch of training before it."""
    means = []
    for i, now in enumerate(epochs):
        window = [loss for loss, at in zip(losses[:i + 1], epochs[:i + 1]) if at > now - 1]
        means.append(sum(window) / len(window))
    return means


def plateaued(losses: list[float], epochs: list[float], patience: float, min_delta: float) -> bool:
    """True when, in the checks of the last `patience` epochs, neither the loss nor its mean over an
    epoch of checks beat the best of the earlier checks by more than `min_delta`.

    Patience counts epochs (as `abcrnn train --patience` does), not checks: at batch 1 the validation
    loss swings by 0.1-0.3 nats from check to check (the model leans towards the tunes it saw last)
    while its trend still falls, and neither one lucky low check nor the noise left after averaging
    over an epoch may end such a run.
    """
    recent = [at > epochs[-1] - patience for at in epochs]
    if all(recent):
        return False

    def flat(values: list[float]) -> bool:
        return (min(v for v, new in zip(values, recent) if new)
                > min(v for v, new in zip(values, recent) if not new) - min_delta)

    return flat(losses) and flat(epoch_means(losses, epochs))


def train_to_plateau(session: Session, val: torch.Tensor, cap: float, every: float, patience: float,
                     min_delta: float, eval_batch: int, chunk: int, name: str = "") -> Curve:
    """Train until the validation loss plateaus or `cap` training seconds have passed.

    The loss is checked after every `every` seconds of training (at least one window each); the
    checking time is not counted as training.
    """
    points, epochs, loads, trained, logged, flat = [], [], [], 0.0, 0.0, False
    while trained < cap and not flat:
        start = time.perf_counter()
        while True:
            session.step()
            elapsed = time.perf_counter() - start
            if elapsed >= min(every, cap - trained):
                break
        trained += elapsed
        epochs.append(session.epochs)
        points.append((trained, stream_loss(session.model, val, eval_batch, chunk, "cpu")))
        loads.append(os.getloadavg()[0])
        if trained - logged >= 30:
            logged = trained
            log(f"    {name}: {trained:.0f} s of training ({epochs[-1]:.1f} epochs), "
                f"validation loss {points[-1][1]:.4f}")
        flat = plateaued([loss for _, loss in points], epochs, patience, min_delta)
    curve = Curve(points, epochs, flat, loads)
    log(f"    {name}: {'plateaued' if curve.plateaued else 'stopped at the cap'} after {curve.seconds:.0f} s of "
        f"training ({epochs[-1]:.1f} epochs, {len(points)} checks), best validation loss {curve.best:.4f}")
    return curve


def first_within(points: list[tuple[float, float]], target: float) -> float:
    """Training seconds at the first check whose loss came within QUALITY_MARGIN of `target`."""
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


def denormal_share(tensors) -> float:
    """Fraction of the values in `tensors` that are denormal: not zero, smaller than the smallest normal float."""
    count = total = 0
    for t in tensors:
        magnitude = t.detach().abs()
        count += int(((magnitude > 0) & (magnitude < torch.finfo(t.dtype).tiny)).sum())
        total += t.numel()
    return count / max(total, 1)


@contextmanager
def denormals_kept(threads: int):
    """Flushing off, on one thread; on exit flushing on again and `threads` threads.

    One thread because the flush setting belongs to each thread, and torch's worker threads take it
    from the main thread only when they start.
    """
    torch.set_num_threads(1)
    torch.set_flush_denormal(False)
    try:
        yield
    finally:
        torch.set_flush_denormal(True)  # before the pool restarts: new threads inherit it
        torch.set_num_threads(threads)


def denormal_penalty(size: int = 256, repeats: int = 30) -> dict[str, float]:
    """How many times slower this CPU is on denormal operands than on normal ones (flushing must be off).

    A matrix product (the bulk of training) and an elementwise multiply whose result stays denormal
    (what Adam does to the moments of weights whose gradient is zero).
    """
    normal = torch.rand(size, size) + 0.5
    tiny = normal * (torch.finfo(torch.float32).tiny / 16)  # every value denormal
    other, out = torch.rand(size, size), torch.empty(size, size)
    matmul = {name: best_time(lambda b=b: torch.mm(other, b, out=out), repeats)
              for name, b in (("normal", normal), ("denormal", tiny))}
    scale = {name: best_time(lambda b=b: torch.mul(b, 0.9, out=out), repeats * 4)
             for name, b in (("normal", normal), ("denormal", tiny))}
    return {"matmul": matmul["denormal"] / matmul["normal"],
            "elementwise": scale["denormal"] / scale["normal"]}


def unrolled_rnn_states(model: CharRNN, x: torch.Tensor, state) -> tuple[list[torch.Tensor], torch.Tensor]:
    """A vanilla RNN's hidden states step by step (every layer), and the logits: the fused layer's
    computation, written out so that the gradient reaching each step's hidden state can be seen."""
    rnn, layer_in = model.rnn, model.encode_input(x)
    h0 = state if state is not None else model.init_state(x.shape[0])
    states = []
    for layer in range(rnn.num_layers):
        w_ih, w_hh, b_ih, b_hh = (getattr(rnn, f"{name}_l{layer}")
                                  for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        h, outputs = h0[layer], []
        for t in range(x.shape[1]):
            h = torch.tanh(F.linear(layer_in[:, t], w_ih, b_ih) + F.linear(h, w_hh, b_hh))
            outputs.append(h)
        states += outputs
        layer_in = torch.stack(outputs, 1)
    return states, model.head(layer_in)


def rnn_denormal_shares(session: Session) -> dict[str, float]:
    """Denormal shares of a vanilla RNN session: weights, Adam moments, and over its next window the
    hidden states and the loss gradient with respect to each of them (through time)."""
    model, w = session.model, session.spans[session.next % len(session.spans)]
    x, y = session.x[:, w], session.y[:, w]
    states, logits = unrolled_rnn_states(model, x, session.state if session.next < len(session.spans) else None)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), ignore_index=IGNORE)
    gradients = torch.autograd.grad(loss, states)
    moments = [v for st in session.optimizer.state.values() for k, v in st.items() if k.startswith("exp_avg")]
    return {"weights": denormal_share(model.parameters()), "optimizer_state": denormal_share(moments),
            "hidden_states": denormal_share(states), "hidden_gradients": denormal_share(gradients)}


def rnn_checkpoint(path: str, vocab_size: int, default_lr: float) -> tuple[CharRNN, float]:
    """A vanilla RNN from a checkpoint trained on this vocabulary, and its learning rate."""
    model, vocab, payload = load_checkpoint(path)
    if model.kind != "rnn":
        raise AbcrnnError(f"--rnn-checkpoint {path}: a vanilla RNN is needed, this is {model.kind}")
    if len(vocab) != vocab_size:
        raise AbcrnnError(f"--rnn-checkpoint {path}: vocabulary of {len(vocab)} symbols, the data has "
                          f"{vocab_size} (trained on other data?)")
    return model, float(payload["settings"].get("lr", default_lr))


def trained_rnn(train: torch.Tensor, model: CharRNN, lr: float, chunk: int, steps: int) -> Session:
    """A vanilla RNN session at batch 1 after `steps` windows of training.

    Call inside denormals_kept, so that the denormals this training produces are kept.
    """
    session = Session(model, train, 1, chunk, lr)
    for _ in range(steps):
        session.step()
    return session


def denormal_rates(session: Session, seconds: float, rounds: int) -> dict[bool, float]:
    """Training rate from the same trained state with denormals kept (False) and flushed (True).

    Two copies continue the same run, taking turns; call inside denormals_kept.
    """
    sessions = {False: session, True: copy.deepcopy(session)}
    best = dict.fromkeys(sessions, 0.0)
    for turn in range(rounds):
        for flush, copy_ in sessions.items():
            torch.set_flush_denormal(flush)
            best[flush] = max(best[flush], copy_.rate(seconds / rounds, warmup=0))
    torch.set_flush_denormal(False)
    return best


def bf16_available() -> bool:
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def denormal_rows(add, train: torch.Tensor, rnn: CharRNN, lr: float, args) -> None:
    log(f"denormal numbers (one thread; vanilla RNN at batch 1 after {args.rnn_steps} windows of training):")
    with denormals_kept(args.threads):
        penalty = denormal_penalty()
        session = trained_rnn(train, rnn, lr, args.chunk, args.rnn_steps)
        rates = denormal_rates(session, args.seconds, args.rounds)
        shares = rnn_denormal_shares(session)
    add("denormal_penalty_matmul", penalty["matmul"], "x",
        "time on denormal / normal operands, flushing off (1 = this CPU has no penalty)")
    add("denormal_penalty_elementwise", penalty["elementwise"], "x", "the same for x * 0.9 with a denormal result")
    add("rnn_steps_before_timing", args.rnn_steps, "windows",
        "batch-1 windows trained with flushing off" + (f", from {args.rnn_checkpoint}" if args.rnn_checkpoint else ""))
    add("rnn_train_chars_per_s_denormals_kept", rates[False], "chars/s")
    add("rnn_train_chars_per_s_denormals_flushed", rates[True], "chars/s")
    add("speedup_flushing_denormals", rates[True] / rates[False], "x")
    for what, share in shares.items():
        add(f"rnn_denormal_share_{what}", share, "fraction", "after timing, denormals kept")


def time_to_quality_runs(train: torch.Tensor, val: torch.Tensor, vocab_size: int, args,
                         use_bf16: bool) -> tuple[dict[str, Curve], dict[str, CharRNN]]:
    """Paper mode, batched mode (and batched bf16), each from the same start until plateau or cap."""
    modes = {"paper": (1, "fp32"), "batched": (args.batch_size, "fp32")}
    if use_bf16:
        modes["batched_bf16"] = (args.batch_size, "bf16")
    curves, models = {}, {}
    for name, (streams, precision) in modes.items():
        session = Session(fresh_model(vocab_size, args.hidden), train, streams, args.chunk, args.lr, precision)
        curves[name] = train_to_plateau(session, val, args.cap, args.check_every, args.patience, args.min_delta,
                                        args.batch_size, args.chunk, name)
        models[name] = session.model
    return curves, models


def time_to_quality_rows(add, curves: dict[str, Curve]) -> None:
    common = max(curve.best for curve in curves.values())
    own = {name: first_within(curve.points, curve.best) for name, curve in curves.items()}
    for name, curve in curves.items():
        add(f"time_to_quality_{name}_s", own[name], "s", "training seconds until within 0.02 nats of this run's best")
        add(f"best_val_loss_{name}", curve.best, "nats/char")
        add(f"time_to_quality_{name}_plateaued", float(curve.plateaued), "1=yes 0=no",
            "" if curve.plateaued else "0: stopped at --cap while still improving")
        add(f"time_to_quality_{name}_trained_s", curve.seconds, "s",
            f"{curve.epochs[-1]:.1f} epochs, {len(curve.points)} checks")
        add(f"time_to_common_quality_{name}_s", first_within(curve.points, common), "s",
            "until within 0.02 nats of the worst run's best")
    add("common_quality_target", common + QUALITY_MARGIN, "nats/char")
    bound = "" if curves["paper"].plateaued else "; at least: paper mode was still improving at --cap"
    add("speedup_time_to_quality_batched_vs_paper", own["paper"] / own["batched"], "x",
        f"each to within 0.02 of its own best{bound}")
    add("speedup_time_to_common_quality_batched_vs_paper",
        first_within(curves["paper"].points, common) / first_within(curves["batched"].points, common), "x",
        "to the same validation loss (common_quality_target)")
    if "batched_bf16" in curves:
        add("speedup_time_to_quality_bf16_vs_fp32", own["batched"] / own["batched_bf16"], "x",
            "batched, each to within 0.02 of its own best")


def run_bench(args) -> list[dict]:
    data_dir = Path(args.data_dir)
    vocab = Vocab.load(data_dir / "vocab.json")
    train = load_split(data_dir / "train.pt", len(vocab), "training")
    val = load_split(data_dir / "val.pt", len(vocab), "validation")
    V, H, chunk, batch = len(vocab), args.hidden, args.chunk, args.batch_size
    if args.rnn_checkpoint:  # refused now rather than after minutes of measuring
        rnn, rnn_lr = rnn_checkpoint(args.rnn_checkpoint, V, args.rnn_lr)
    else:
        rnn, rnn_lr = fresh_model(V, H, model="rnn"), args.rnn_lr
    rows: list[dict] = []

    def add(metric: str, value: float, unit: str, note: str = "") -> None:
        rows.append({"metric": metric, "value": value, "unit": unit, "note": note})
        log(f"  {metric:<40} {value:>14,.4g} {unit}")

    started, loads = time.perf_counter(), [os.getloadavg()[0]]
    add("load_average_start", loads[0], "processes", "1-minute load average before the benchmark")
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

    loads.append(os.getloadavg()[0])
    log("arithmetic rate:")
    peak = matmul_gflops(args.matmul_size)
    flops, useful = lstm_flops_per_char(V, H), lstm_flops_per_char(V, H, onehot_product=False)
    add("matmul_gflops", peak, "GFLOP/s", f"fp32 {args.matmul_size}x{args.matmul_size} matrix product: the peak")
    add("flops_per_char", flops, "FLOP", "forward + backward, one-hot x W_ih product included")
    add("train_gflops_batched", batched * flops / 1e9, "GFLOP/s", "batched fp32 step, one-hot product included")
    add("fraction_of_peak", batched * flops / 1e9 / peak, "fraction",
        "of matmul_gflops, counting the one-hot x W_ih product the fused LSTM executes")
    add("fraction_of_peak_without_onehot_product", batched * useful / 1e9 / peak, "fraction",
        "of matmul_gflops, useful work only: the one-hot product counted as a row lookup")

    denormal_rows(add, train, rnn, rnn_lr, args)
    loads.append(os.getloadavg()[0])
    log(f"time to quality (until the validation loss plateaus, at most {args.cap:g} s of training each):")
    curves, models = time_to_quality_runs(train, val, V, args, use_bf16)
    time_to_quality_rows(add, curves)
    loads += [load for curve in curves.values() for load in curve.loads]

    log("evaluation and sampling (the batched model):")
    model = models["batched"].eval()
    start = time.perf_counter()
    stream_loss(model, val, batch, chunk, "cpu")
    add("eval_chars_per_s", (len(val) - 1) / (time.perf_counter() - start), "chars/s")
    one = sample_rate(model, vocab, 1, args.sample_chars, rounds=2)
    many = sample_rate(model, vocab, args.sample_batch, args.sample_chars)
    add("sample_chars_per_s_one_at_a_time", one, "chars/s")
    add("sample_chars_per_s_batched", many, "chars/s", f"{args.sample_batch} tunes at once")
    add("sample_speedup_batched", many / one, "x")
    loads.append(os.getloadavg()[0])
    add("load_average_end", loads[-1], "processes")
    busy = max(loads) > args.threads + 0.5
    add("load_average_max", max(loads), "processes",
        f"highest seen{': other work shared the cores, timings read low' if busy else ''}")
    add("bench_seconds", time.perf_counter() - started, "s")
    return rows


def summary(rows: list[dict]) -> str:
    """The readable table printed at the end, with a note where a row needs one."""
    width = max(len(r["metric"]) for r in rows)
    units = max(len(r["unit"]) for r in rows)
    lines = [f"{'metric':<{width}}  {'value':>14}  {'unit':<{units}}  note", "-" * (width + units + 40)]
    lines += [f"{r['metric']:<{width}}  {r['value']:>14,.4g}  {r['unit']:<{units}}  {r.get('note', '')}".rstrip()
              for r in rows]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abcrnn bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", default="results/data", help="folder with train.pt, val.pt and vocab.json")
    p.add_argument("--out", default="results/tables/benchmark.tsv")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=6.0, help="measuring time of each training speed")
    p.add_argument("--rounds", type=int, default=3, help="turns the training speeds are measured in (best counts)")
    p.add_argument("--cap", type=float, default=CAP_DEFAULT,
                   help="most training seconds of each time-to-quality run")
    p.add_argument("--check-every", type=float, default=3.0,
                   help="training seconds between validation checks of the time-to-quality runs")
    p.add_argument("--patience", type=float, default=4.0,
                   help="epochs: a run has plateaued when its checks of the last this many epochs brought no loss "
                        "(nor mean over an epoch of checks) more than --min-delta below the best before")
    p.add_argument("--min-delta", type=float, default=0.005, help="nats/char")
    p.add_argument("--hidden", type=int, default=150)
    p.add_argument("--chunk", type=int, default=200)
    p.add_argument("--batch-size", type=int, default=32, help="streams of the batched mode")
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--rnn-steps", type=int, default=2000,
                   help="batch-1 windows the vanilla RNN trains with flushing off before its denormal timing")
    p.add_argument("--rnn-lr", type=float, default=0.002, help="learning rate of that RNN (a checkpoint's own lr wins)")
    p.add_argument("--rnn-checkpoint", default=None,
                   help="start that RNN from this vanilla-RNN checkpoint (e.g. results/models/rnn-*/last.pt) "
                        "instead of fresh weights")
    p.add_argument("--sample-batch", type=int, default=64, help="tunes sampled together")
    p.add_argument("--sample-chars", type=int, default=300, help="characters per sampled tune at most")
    p.add_argument("--matmul-size", type=int, default=2048)
    p.add_argument("--no-bf16", dest="bf16", action="store_false", help="skip the bf16 measurements")
    return p


def main_bench(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for name in ("threads", "rounds", "hidden", "chunk", "batch_size", "sample_batch", "sample_chars", "matmul_size"):
        if getattr(args, name) < 1:
            raise AbcrnnError(f"--{name.replace('_', '-')}: must be at least 1")
    if args.rnn_steps < 0:
        raise AbcrnnError("--rnn-steps: must be 0 or more")
    for name in ("seconds", "cap", "check_every", "patience", "lr", "rnn_lr"):
        if not getattr(args, name) > 0:
            raise AbcrnnError(f"--{name.replace('_', '-')}: must be positive")
    if args.min_delta < 0:
        raise AbcrnnError("--min-delta: must be 0 or positive")
    setup_torch(args.threads, "cpu")
    rows = run_bench(args)
    write_tsv(args.out, rows, ["metric", "value", "unit"])
    print(summary(rows))
    return 0


main = main_bench
