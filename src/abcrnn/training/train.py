"""`abcrnn train`: stateful truncated backpropagation through time over the training text.

The encoded training text is laid out as `batch_size` contiguous streams side by side (torch-rnn's
layout); each step takes the next `chunk` characters of every stream as input and the same characters
shifted by one as targets, and the hidden state carries from one chunk to the next (detached).
Batch size 1 is the paper's exact setup: one stream, chunks in text order. The state is reset at the
start of every epoch, and every epoch covers the whole text once.

Each epoch appends a row to metrics.tsv and writes resume.pt, so a killed job rerun with the same
flags continues after its last completed epoch.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import math
import os
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from abcrnn.models.checkpoint import save_checkpoint
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import torch_save, write_tsv
from abcrnn.models.recurrent import CharRNN, build_model, detach_state, parameter_count
from abcrnn.runtime import machine_info, setup_torch
from abcrnn.settings import RunSettings
from abcrnn.data.vocab import Vocab

# The machine each epoch ran on: the last digits of losses and all timings depend on it.
MACHINE_COLUMNS = ["cpu", "cpu_capability", "threads", "torch_version"]
# Losses are nats per symbol (a character, or an ABC token); val_loss_char is per character of ABC text,
# the scale on which character and token models compare.
METRICS_COLUMNS = ["epoch", "train_loss", "val_loss", "train_bits", "val_bits", "train_loss_char", "val_loss_char",
                   "lr", "grad_norm", "seconds", "chars_per_s", *MACHINE_COLUMNS]
IGNORE = -100  # target of padding positions: cross_entropy skips them
LN2 = math.log(2)


# --- the stream layout ----------------------------------------------------------------------------

def stream_layout(data: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and targets as `batch` contiguous streams, (batch, L) each.

    Stream b holds positions [b*L, (b+1)*L) of the text's N-1 (input, next character) pairs, with
    L = ceil((N-1)/batch); the last streams are padded (input 0, target IGNORE), so every pair is
    used exactly once.
    """
    pairs = data.numel() - 1
    length = -(-pairs // batch)
    x = torch.zeros(batch * length, dtype=torch.long)
    y = torch.full((batch * length,), IGNORE, dtype=torch.long)
    x[:pairs], y[:pairs] = data[:-1], data[1:]
    return x.view(batch, length), y.view(batch, length)


def windows(length: int, chunk: int) -> list[slice]:
    """Consecutive time windows of `chunk` steps over a stream (the last one may be shorter)."""
    return [slice(start, min(start + chunk, length)) for start in range(0, length, chunk)]


def stream_loss(model, data: torch.Tensor, batch: int, chunk: int, device) -> float:
    """Mean cross-entropy (nats/symbol) of predicting every next symbol of `data`.

    Recurrent models: stateful over `batch` streams in windows of `chunk`, as in training.
    Transformers: a sliding window of their context (transformer.sliding_loss), so that every
    symbol after the first window is predicted from at least half a context of history.
    """
    if getattr(model, "kind", "") == "transformer":
        from abcrnn.models.transformer import sliding_loss

        total, count = sliding_loss(model, data, device, batch=max(1, min(batch, 16)))
        return total / count
    return _recurrent_loss(model, data, batch, chunk, device)


@torch.no_grad()
def _recurrent_loss(model: CharRNN, data: torch.Tensor, batch: int, chunk: int, device) -> float:
    model.eval()
    x, y = stream_layout(data, max(1, min(batch, data.numel() - 1)))
    x, y = x.to(device), y.to(device)
    total, state = torch.zeros((), dtype=torch.float64, device=device), None
    for w in windows(x.shape[1], chunk):
        logits, state = model(x[:, w], state)
        total += F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y[:, w].reshape(-1),
                                 ignore_index=IGNORE, reduction="sum").double()
    return total.item() / (data.numel() - 1)


# --- settings and inputs ----------------------------------------------------------------------------


def load_split(path, vocab_size: int, what: str) -> torch.Tensor:
    """An encoded split: a 1-D int64 tensor of at least 2 symbols, all inside the vocabulary."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise AbcrnnError(f"{path}: {what} split not found (run the data stage first)") from None
    except Exception as exc:
        raise AbcrnnError(f"{path}: not an encoded {what} split ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, torch.Tensor) or data.dim() != 1 or data.dtype != torch.long:
        raise AbcrnnError(f"{path}: the {what} split must be a 1-D int64 tensor")
    if data.numel() < 2:
        raise AbcrnnError(f"{path}: the {what} split has fewer than 2 symbols")
    low, high = int(data.min()), int(data.max())
    if low < 0 or high >= vocab_size:
        bad = high if high >= vocab_size else low
        raise AbcrnnError(f"{path}: symbol id {bad} is outside the vocabulary of {vocab_size} "
                          "(encoded with another vocab.json?)")
    return data


def data_fingerprint(*tensors: torch.Tensor) -> str:
    h = hashlib.sha1()
    for t in tensors:
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def make_optimizer(name: str, params, lr: float, deterministic: bool = False) -> torch.optim.Optimizer:
    """deterministic: Adam's fused kernel (torch's own vectorised code, pinned with the rest), not the
    per-tensor one, whose square root goes through MKL's vector math."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, **({"fused": True} if deterministic else {}))
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    return torch.optim.SGD(params, lr=lr)


# --- resume state --------------------------------------------------------------------------------

def load_resume(path: Path, identity: dict, log) -> dict | None:
    """The saved state of an interrupted run with the same trajectory settings and data, or None."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        saved = state["identity"]
    except Exception as exc:
        log(f"{path}: unreadable resume state ({type(exc).__name__}); starting fresh")
        return None
    defaults = RunSettings().trajectory()  # a setting added since the state was saved had its default
    changed = [k for k in identity if saved.get(k, defaults.get(k)) != identity[k]]
    if changed:
        log(f"{path}: saved with different {', '.join(changed)}; starting fresh")
        return None
    return state


def rng_state() -> dict:
    state = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --- training ----------------------------------------------------------------------------------------

def train_step(model: CharRNN, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, state,
               clip: float, precision: str = "fp32"):
    """One truncated-BPTT update on a window of every stream.

    Returns the summed loss over the window's targets, the gradient norm before clipping, and the
    state after the window, detached (it carries into the next window without gradient).
    """
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        logits, state = model(x, state)
    loss_total = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1),
                                 ignore_index=IGNORE, reduction="sum")
    optimizer.zero_grad(set_to_none=True)
    (loss_total / (y != IGNORE).sum().clamp(min=1)).backward()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip or math.inf)
    optimizer.step()
    return loss_total.detach(), norm.detach(), detach_state(state)


class Trainer:
    """One run: model, optimizer, the data streams, and the bookkeeping that resume.pt saves.

    `step()` trains on the next window of every stream (the state carries over; a new epoch starts
    from a fresh state); `fit()` runs whole epochs with validation, checkpoints and early stopping.
    The benchmark trains through `step()` too, so it measures exactly what `abcrnn train` runs.
    """

    def __init__(self, settings: RunSettings, vocab: Vocab, train: torch.Tensor, val: torch.Tensor,
                 device: torch.device, out_dir: Path | None = None, run: str = "run", log=None,
                 model: torch.nn.Module | None = None):
        self.s, self.vocab, self.out_dir, self.device, self.run = settings, vocab, out_dir, device, run
        self.log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        torch.manual_seed(settings.seed)
        self.model = (model if model is not None else build_model(len(vocab), settings)).to(device)
        self.optimizer = make_optimizer(settings.optimizer, self.model.parameters(), settings.lr, settings.deterministic)
        self.x, self.y = (t.to(device) for t in stream_layout(train, settings.batch_size))
        self.spans = windows(self.x.shape[1], settings.chunk)
        self.window_chars = [int((self.y[:, w] != IGNORE).sum()) for w in self.spans]
        self.pairs = sum(self.window_chars)
        self.val = val
        # nats per symbol → per character of ABC text: symbols predicted over the characters they spell
        self.val_per_char = (val.numel() - 1) / max(1, vocab.chars_of(val[1:].tolist()))
        self.chars = vocab.chars_of(train[1:].tolist())  # characters of ABC text the training symbols spell
        self.position, self.state, self.windows_done = 0, None, 0
        self.rows: list[dict] = []
        self.best = {"val_loss": math.inf, "epoch": 0, "model_state": None}
        self.train_seconds = 0.0
        self.identity: dict = {}

    # --- one window at a time --------------------------------------------------------------------------
    @property
    def epochs_done(self) -> float:
        return self.windows_done / len(self.spans)

    def step(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Train on the next window; returns (summed loss, pre-clip gradient norm, characters predicted)."""
        if self.position == len(self.spans):  # a new epoch starts from a fresh state
            self.position, self.state = 0, None
        w = self.spans[self.position]
        self.model.train()
        loss_total, norm, self.state = train_step(self.model, self.optimizer, self.x[:, w], self.y[:, w],
                                                  self.state, self.s.clip, self.s.precision)
        self.position += 1
        self.windows_done += 1
        return loss_total, norm, self.window_chars[self.position - 1]

    def validate(self) -> float:
        return stream_loss(self.model, self.val, self.s.batch_size, self.s.chunk, self.device)

    # --- whole epochs ----------------------------------------------------------------------------------
    def train_epoch(self, epoch: int) -> tuple[float, float, float]:
        """One pass over the streams; returns (mean train loss, mean pre-clip gradient norm, seconds)."""
        self.position, self.state = 0, None
        start = time.perf_counter()
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        norm_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        done = 0
        bar = tqdm(range(len(self.spans)), desc=f"{self.run} epoch {epoch}/{self.s.epochs}", unit="chunk",
                   file=sys.stderr, mininterval=1.0 if sys.stderr.isatty() else 2.0, leave=not sys.stderr.isatty())
        for step in bar:
            loss_total, norm, chars = self.step()
            loss_sum += loss_total.double()
            norm_sum += norm.double()
            done += chars
            if (step + 1) % 20 == 0 or step + 1 == len(self.spans):
                self.check_finite(loss_sum.item(), epoch, "training")
                bar.set_postfix(loss=f"{loss_sum.item() / max(1, done):.4f}", refresh=False)
        bar.close()
        return loss_sum.item() / self.pairs, norm_sum.item() / len(self.spans), time.perf_counter() - start

    def check_finite(self, value: float, epoch: int, what: str) -> None:
        if not math.isfinite(value):
            raise AbcrnnError(f"run {self.run}: {what} loss became {value} in epoch {epoch}; "
                              f"try a lower learning rate than --lr {self.s.lr} (or --clip)")

    def fit(self, on_epoch_end=None) -> dict:
        s = self.s
        for epoch in range(len(self.rows) + 1, s.epochs + 1):
            if self.stopped_early():
                break
            train_loss, grad_norm, seconds = self.train_epoch(epoch)
            val_loss = self.validate()
            self.check_finite(val_loss, epoch, "validation")
            self.train_seconds += seconds
            self.rows.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss,
                              "train_bits": train_loss / LN2, "val_bits": val_loss / LN2,
                              "train_loss_char": train_loss * self.pairs / self.chars,
                              "val_loss_char": val_loss * self.val_per_char, "lr": s.lr,
                              "grad_norm": grad_norm, "seconds": round(seconds, 3),
                              "chars_per_s": round(self.chars / seconds), **machine_info()})
            improved = val_loss < self.best["val_loss"]
            if improved:
                self.best = {"val_loss": val_loss, "epoch": epoch,
                             "model_state": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
                             "optimizer_state": copy.deepcopy(self.optimizer.state_dict())}
                self.save("best.pt", epoch, self.best["model_state"], self.best["optimizer_state"])
            self.save("last.pt", epoch)
            self.write_metrics()
            self.save_resume()
            unit = "char" if s.unit == "char" else f"{s.unit} ({val_loss * self.val_per_char:.4f} nats/char)"
            self.log(f"{self.run} epoch {epoch}/{s.epochs}: train {train_loss:.4f} val {val_loss:.4f} nats/{unit}"
                     f" ({val_loss / LN2:.3f} bits){' best' if improved else ''}, grad norm {grad_norm:.3g},"
                     f" {seconds:.1f} s, {self.chars / seconds:,.0f} chars/s")
            if on_epoch_end is not None:
                on_epoch_end(epoch)
        return self.finish()

    def stopped_early(self) -> bool:
        limit = self.s.time_limit_min
        if limit and self.train_seconds >= limit * 60:
            self.log(f"{self.run}: stopping, {self.train_seconds / 60:.1f} minutes of training reached the time limit "
                     f"of {limit:g} (best {self.best['val_loss']:.4f} at epoch {self.best['epoch']})")
            return True
        patience = self.s.patience
        if patience and self.rows and self.rows[-1]["epoch"] - self.best["epoch"] >= patience:
            self.log(f"{self.run}: stopping early, no better validation loss for {patience} epochs "
                     f"(best {self.best['val_loss']:.4f} at epoch {self.best['epoch']})")
            return True
        return False

    # --- files ----------------------------------------------------------------------------------------
    # resume.pt holds everything needed to continue exactly where the last epoch ended.
    def save_resume(self) -> None:
        torch_save({"identity": self.identity, "model_state": self.model.state_dict(),
                    "optimizer_state": self.optimizer.state_dict(), "rng": rng_state(), "rows": self.rows,
                    "best": self.best, "train_seconds": self.train_seconds}, self.out_dir / "resume.pt")

    def restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model_state"])
        self.optimizer.load_state_dict(state["optimizer_state"])
        set_rng_state(state["rng"])
        self.rows, self.best, self.train_seconds = list(state["rows"]), dict(state["best"]), state["train_seconds"]

    def write_metrics(self) -> None:
        write_tsv(self.out_dir / "metrics.tsv", self.rows, METRICS_COLUMNS)

    def extra(self) -> dict:
        return {"best_epoch": self.best["epoch"], "best_val_loss": self.best["val_loss"],
                "best_val_loss_char": self.best["val_loss"] * self.val_per_char,
                "train_seconds": round(self.train_seconds, 3), "epochs_trained": len(self.rows),
                "chars_per_s": round(self.chars * len(self.rows) / self.train_seconds) if self.train_seconds else 0}

    def save(self, name: str, epoch: int, model_state: dict | None = None, optimizer_state: dict | None = None) -> None:
        model, optimizer = self.model, self.optimizer
        if model_state is not None:  # best.pt: the best weights and optimizer state, live model untouched
            model = build_model(len(self.vocab), self.s)
            model.load_state_dict(model_state)
            optimizer = optimizer_state
        save_checkpoint(self.out_dir / name, model, self.vocab, self.s, epoch, optimizer=optimizer,
                        extra=self.extra(), run=self.run)

    def finish(self) -> dict:
        if not self.rows:
            raise AbcrnnError(f"run {self.run}: no epoch was trained")
        self.save("best.pt", self.best["epoch"], self.best["model_state"], self.best.get("optimizer_state"))
        self.save("last.pt", self.rows[-1]["epoch"])
        self.write_metrics()
        (self.out_dir / "resume.pt").unlink(missing_ok=True)
        self.log(f"{self.run}: best validation loss {self.best['val_loss'] * self.val_per_char:.4f} nats/char at epoch "
                 f"{self.best['epoch']}, {len(self.rows)} epochs, {self.train_seconds:.1f} s of training")
        uniform = math.log(len(self.vocab))
        if self.best["val_loss"] > uniform:
            self.log(f"{self.run}: warning: the best validation loss {self.best['val_loss']:.4g} nats/symbol is worse "
                     f"than guessing among the {len(self.vocab)} symbols at random ({uniform:.3f}): the model "
                     f"learned nothing; try a lower learning rate than --lr {self.s.lr}")
        return self.extra()


MIN_UPDATES = 10  # fewer optimizer steps per epoch than this: the batch is too large for the text


def available_memory() -> int:
    """Bytes of memory this process can still use (MemAvailable; the total where /proc is absent)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def check_fits(run: str, settings: RunSettings, vocab_size: int, device: torch.device) -> None:
    """Refuse, with the memory it needs, a run whose weights, gradients and Adam state alone would not fit."""
    params = parameter_count(vocab_size, settings)
    activations = settings.batch_size * settings.chunk * settings.hidden * settings.layers * 12
    need = 4 * (4 * params + activations)
    have = torch.cuda.mem_get_info(device)[0] if device.type == "cuda" else available_memory()
    if need > have:
        raise AbcrnnError(f"run {run}: needs about {need / 2**30:,.1f} GiB of memory ({params:,} parameters), "
                          f"more than the {have / 2**30:,.1f} GiB available; lower --hidden, --layers or --batch-size")


def train(args: argparse.Namespace, on_epoch_end=None, log=None) -> dict:
    """Train (or resume) the run described by parsed `abcrnn train` flags; returns best/epoch figures."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    settings = RunSettings.from_args(args)
    out_dir = Path(args.out_dir or f"results/models/{args.run or settings.run_name()}")
    run = args.run or out_dir.name
    device = setup_torch(settings.threads, settings.device, settings.deterministic)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if device.type == "cpu" and settings.threads > cpus:
        log(f"{run}: warning: --threads {settings.threads} is more than the {cpus} CPUs available; "
            "threads that wait for each other make training many times slower")
    vocab = Vocab.load(args.vocab)
    if vocab.unit != settings.unit:
        raise AbcrnnError(f"--unit: the run is set for {settings.unit} symbols but {args.vocab} is a {vocab.unit} "
                          f"vocabulary; pass --unit {vocab.unit} or that unit's vocabulary and encoded splits")
    train_data = load_split(args.train, len(vocab), "training")
    val_data = load_split(args.val, len(vocab), "validation")
    check_fits(run, settings, len(vocab), device)
    updates = len(windows(-(-(train_data.numel() - 1) // settings.batch_size), settings.chunk))
    if updates < MIN_UPDATES:
        log(f"{run}: warning: --batch-size {settings.batch_size} and --chunk {settings.chunk} leave only {updates} "
            f"update(s) per epoch for {train_data.numel():,} training characters; lower --batch-size")
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(settings, vocab, train_data, val_data, device, out_dir, run, log)
    trainer.identity = {**settings.trajectory(), "device_type": device.type,
                        "data": data_fingerprint(train_data, val_data, torch.tensor(len(vocab)))}
    saved = load_resume(out_dir / "resume.pt", trainer.identity, log)
    if saved is not None:
        trainer.restore(saved)
        if trainer.best["model_state"] is not None:  # Snakemake removed the killed job's outputs
            trainer.save("best.pt", trainer.best["epoch"], trainer.best["model_state"], trainer.best.get("optimizer_state"))
        log(f"{run}: resuming after epoch {len(trainer.rows)} from {out_dir / 'resume.pt'}")
    log(f"{run}: {settings.model} hidden {settings.hidden} x{settings.layers}, "
        f"{trainer.model.num_params():,} parameters, {train_data.numel():,} training {settings.unit} symbols in "
        f"{settings.batch_size} streams, chunk {settings.chunk}, {device.type}, {settings.threads} threads")
    return trainer.fit(on_epoch_end)
