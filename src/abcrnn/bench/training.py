"""The benchmark's training modes and their training rates, all trained through `train.Trainer`.

Every mode trains an LSTM (one-hot input) with the settings `abcrnn train` would get for it, through
the same `Trainer.step()` that `abcrnn train` runs, so the benchmark measures exactly that code:

* loop: the paper's setup (batch 1) with a straightforward model, one nn.LSTMCell call per character
  (`CellLoop`, handed to the Trainer as its model);
* paper: the paper's setup with torch's fused nn.LSTM;
* batched: --batch-size streams side by side (the default configuration);
* batched_bf16: the same under bf16 autocast, where the CPU has bf16 instructions.

The fused modes start from the same weights: the Trainer seeds torch (seed 0) before building its model.
"""

from __future__ import annotations

import math
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from abcrnn.errors import AbcrnnError
from abcrnn.settings import RunSettings
from abcrnn.training.train import Trainer
from abcrnn.data.vocab import Vocab


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


def bf16_available() -> bool:
    return torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def mode_settings(args, streams: int, precision: str = "fp32") -> RunSettings:
    """The `abcrnn train` settings of a mode: --hidden, --chunk, --lr and --threads of the benchmark,
    `streams` streams (1: the paper's setup), on the CPU; everything else as `abcrnn train` defaults."""
    return RunSettings(model="lstm", hidden=args.hidden, chunk=args.chunk, batch_size=streams, lr=args.lr,
                       precision=precision, device="cpu", threads=args.threads)


def mode_trainers(args, vocab: Vocab, train: torch.Tensor, val: torch.Tensor,
                  modes: tuple[str, ...]) -> dict[str, Trainer]:
    """A fresh Trainer (seed 0) for each of `modes`: loop, paper, batched, batched_bf16."""
    trainers = {}
    for name in modes:
        settings = mode_settings(args, 1 if name in ("loop", "paper") else args.batch_size,
                                 "bf16" if name.endswith("_bf16") else "fp32")
        model = None
        if name == "loop":
            torch.manual_seed(settings.seed)
            model = CellLoop(len(vocab), settings.hidden)
        trainers[name] = Trainer(settings, vocab, train, val, torch.device("cpu"), run=f"bench {name}", log=log,
                                 model=model)
    return trainers


def checked_step(trainer: Trainer) -> int:
    """Trainer.step(), refusing a non-finite loss; returns the characters it predicted."""
    loss, _, chars = trainer.step()
    if not math.isfinite(loss.item()):
        raise AbcrnnError(f"benchmark training diverged (loss {loss.item()}); try a lower --lr")
    return chars


def training_rate(trainer: Trainer, seconds: float, warmup: int = 2) -> float:
    """Training characters per second over about `seconds` (at least three windows)."""
    for _ in range(warmup):
        checked_step(trainer)
    chars, steps, start = 0, 0, time.perf_counter()
    while steps < 3 or time.perf_counter() - start < seconds:
        chars += checked_step(trainer)
        steps += 1
    return chars / (time.perf_counter() - start)


def best_rates(trainers: dict[str, Trainer], seconds: float, rounds: int) -> dict[str, float]:
    """Each trainer's best training rate over `rounds` turns of seconds/rounds each, taken in turn,
    so that a passing slowdown of the machine does not decide a comparison. A trainer of the
    deterministic mode (deterministic.RemoteTrainer) trains its turns in the mode's own process, for
    its `share` of the time (the benchmark's length grows little)."""
    best = dict.fromkeys(trainers, 0.0)
    for turn in range(rounds):
        for name, trainer in trainers.items():
            warmup = 2 if turn == 0 else 0
            if hasattr(trainer, "remote_rate"):
                rate = trainer.remote_rate(seconds / rounds * trainer.share, warmup)
            else:
                rate = training_rate(trainer, seconds / rounds, warmup=warmup)
            best[name] = max(best[name], rate)
    return best
