"""Time to quality: how many seconds of training each mode needs to reach a good validation loss.

Paper mode, batched mode (and batched bf16) each train from the same start (train.Trainer, seed 0)
until the validation loss has plateaued, or until --cap seconds of training. The loss is checked
every --check-every seconds of training (checking time not counted); a run has plateaued when, in the
checks of the last --patience epochs, neither the loss nor its mean over an epoch of checks beat the
best before by more than --min-delta. Every mode's loss is measured the same way (--batch-size
streams), so the losses compare across modes.

Reported are the training seconds until the loss first came within QUALITY_MARGIN of that run's own
best, until it first came within QUALITY_MARGIN of the worst run's best (a target every run reached),
each run's best, and whether it plateaued.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from abcrnn.bench.training import checked_step, log, mode_trainers
from abcrnn.training.train import Trainer, stream_loss
from abcrnn.data.vocab import Vocab

QUALITY_MARGIN = 0.02  # nats/char


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


def train_to_plateau(trainer: Trainer, validate: Callable[[], float], cap: float, every: float, patience: float,
                     min_delta: float, name: str = "") -> Curve:
    """Train until the validation loss (`validate()`) plateaus or `cap` training seconds have passed.

    The loss is checked after every `every` seconds of training (at least one window each); the
    checking time is not counted as training.
    """
    points, epochs, loads, trained, logged, flat = [], [], [], 0.0, 0.0, False
    while trained < cap and not flat:
        start = time.perf_counter()
        while True:
            checked_step(trainer)
            elapsed = time.perf_counter() - start
            if elapsed >= min(every, cap - trained):
                break
        trained += elapsed
        epochs.append(trainer.epochs_done)
        points.append((trained, validate()))
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


def time_to_quality_runs(args, vocab: Vocab, train: torch.Tensor, val: torch.Tensor,
                         use_bf16: bool) -> tuple[dict[str, Curve], dict[str, Trainer]]:
    """Paper mode, batched mode (and batched bf16), each from the same start until plateau or cap."""
    modes = ("paper", "batched", "batched_bf16") if use_bf16 else ("paper", "batched")
    curves, trainers = {}, {}
    for name in modes:  # one at a time: a trainer is built when its turn comes
        trainer = mode_trainers(args, vocab, train, val, (name,))[name]
        curves[name] = train_to_plateau(
            trainer, lambda t=trainer: stream_loss(t.model, val, args.batch_size, args.chunk, "cpu"),
            args.cap, args.check_every, args.patience, args.min_delta, name)
        trainers[name] = trainer
    return curves, trainers


def time_to_quality_rows(add, curves: dict[str, Curve]) -> None:
    """The table rows of the runs: add(metric, value, unit, note) for each."""
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
