"""The benchmark per model kind: training characters per second of the LSTM, the vanilla RNN, the GRU
and the Transformer at batch 1 (the paper's mode) and batched, each trained through `train.Trainer`
exactly as `abcrnn train` would train it, with the useful fraction of the machine's matrix-product
peak that each reaches.

Useful work per character counts the forward and backward matrix products (backward twice the
forward): for recurrent models the input, recurrent and output products, the one-hot input product
counted as the row lookup it is; for the Transformer nanoGPT's estimate, 6 FLOPs per parameter
outside the embeddings plus the attention products (12 · layers · hidden · window per symbol).
"""

from __future__ import annotations

import torch

from abcrnn.bench.deterministic import RemoteTrainer
from abcrnn.bench.training import best_rates, log
from abcrnn.models.recurrent import GATES
from abcrnn.settings import RECURRENT, RunSettings
from abcrnn.training.train import Trainer
from abcrnn.data.vocab import Vocab

KINDS = (*RECURRENT, "transformer")


def kind_settings(args, kind: str, streams: int) -> RunSettings:
    """The settings the benchmark trains a kind with: the benchmark's hidden size (the Transformer's
    width: 4 blocks, as many of 4, 2 or 1 heads as divide it, context 256), chunk and threads."""
    if kind == "transformer":
        heads = next(h for h in (4, 2, 1) if args.hidden % h == 0)
        return RunSettings(model="transformer", hidden=args.hidden, layers=4, heads=heads,
                           context=max(256, args.chunk), chunk=args.chunk, batch_size=streams, lr=0.002,
                           device="cpu", threads=args.threads)
    return RunSettings(model=kind, hidden=args.hidden, chunk=args.chunk, batch_size=streams, lr=args.lr,
                       device="cpu", threads=args.threads)


def flops_per_char(settings: RunSettings, vocab_size: int) -> float:
    """Useful FLOPs of one symbol's forward and backward pass (see the module's docstring)."""
    h = settings.hidden
    if settings.model == "transformer":
        block = 12 * h * h  # attention projections 4·h² and the MLP 8·h²
        return 6 * (settings.layers * block + h * vocab_size) + 12 * settings.layers * h * settings.chunk
    gates = GATES[settings.model]
    recurrent = sum(gates * h * ((0 if layer == 0 else h) + h) for layer in range(settings.layers))
    return 6 * (recurrent + h * vocab_size)


def kind_rows(add, args, vocab: Vocab, train: torch.Tensor, val: torch.Tensor, peak: float, worker=None) -> None:
    """Training chars/s and fraction of `peak` (GFLOP/s) for every kind, at batch 1 and batched; with
    `worker` (deterministic.Worker), batched in the deterministic mode too (the LSTM's is suite.py's
    batched_deterministic: the same settings), in turn with the fast mode."""
    for streams, mode in ((1, "batch1"), (args.batch_size, "batched")):
        trainers = {}
        for kind in KINDS:
            settings = kind_settings(args, kind, streams)
            trainers[kind] = Trainer(settings, vocab, train, val, torch.device("cpu"), run=f"bench {kind} {mode}",
                                     log=log)
        remote = {}
        if worker is not None and mode == "batched":
            remote = {f"{kind}_deterministic": RemoteTrainer(worker, f"{kind} {mode}", trainers[kind].s)
                      for kind in KINDS if kind != "lstm"}
        rates = best_rates({**trainers, **remote}, args.seconds * len(KINDS) / 2, args.rounds)
        for kind, rate in rates.items():
            if kind not in KINDS:
                continue
            flops = flops_per_char(trainers[kind].s, len(vocab))
            add(f"train_chars_per_s_{kind}_{mode}", rate, "chars/s", f"{streams} stream(s), {describe(trainers[kind].s)}")
            add(f"fraction_of_peak_{kind}_{mode}", rate * flops / 1e9 / peak, "fraction",
                f"useful FLOPs {flops:,.0f} per char")
        lstm = rates["lstm"]
        for kind in ("rnn", "gru"):
            add(f"speed_{kind}_vs_lstm_{mode}", rates[kind] / lstm, "x", "at least 1: as fast per character")
        for name in remote:
            kind = name.removesuffix("_deterministic")
            add(f"train_chars_per_s_{kind}_{mode}_deterministic", rates[name], "chars/s",
                "deterministic mode, in turn with the fast mode")
            add(f"deterministic_cost_{kind}_{mode}", rates[kind] / rates[name], "x", "times slower than the fast mode")


def describe(s: RunSettings) -> str:
    if s.model == "transformer":
        return f"width {s.hidden}, {s.layers} blocks, {s.heads} heads, window {s.chunk}"
    return f"hidden {s.hidden}, chunk {s.chunk}"
