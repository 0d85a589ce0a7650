"""Checkpoints: weights, optimizer state, vocabulary, run settings and epoch, in one file.

Everything inside is tensors and plain Python values, so `torch.load(..., weights_only=True)` reads it.
The settings are stored as `RunSettings.to_dict()` and come back as a RunSettings, so every stage that
loads a checkpoint (evaluate, sample, activations) uses the run's own model, chunk and stream layout.
"""

from __future__ import annotations

from pathlib import Path

import torch

from abcrnn.errors import AbcrnnError
from abcrnn.fileio import torch_save
from abcrnn.models.recurrent import CharRNN, build_model
from abcrnn.settings import RunSettings
from abcrnn.data.vocab import Vocab

FORMAT = "abcrnn-checkpoint-2"


def save_checkpoint(path, model: CharRNN, vocab: Vocab, settings: RunSettings, epoch: int,
                    optimizer: torch.optim.Optimizer | dict | None = None, extra: dict | None = None,
                    run: str = "") -> None:
    """`optimizer`: the optimizer, or a saved copy of its state_dict (the best epoch's, say)."""
    payload = {
        "format": FORMAT,
        "run": run,
        "model_state": model.state_dict(),
        "optimizer_state": optimizer.state_dict() if hasattr(optimizer, "state_dict") else optimizer,
        "vocab": vocab.to_dict(),
        "settings": settings.to_dict(),
        "epoch": int(epoch),
        "extra": dict(extra or {}),
    }
    torch_save(payload, path)


def run_checkpoint(run: str, checkpoints: list[str] | None, models_dir: str = "results/models") -> Path:
    """A run's best.pt: the one of `checkpoints` in a folder named after the run, else models_dir/run/best.pt."""
    if checkpoints:
        found = [Path(c) for c in checkpoints if Path(c).parent.name == run]
        if not found:
            raise AbcrnnError(f"run {run}: none of the --checkpoints lies in a folder named {run}")
        return found[0]
    return Path(models_dir) / run / "best.pt"


def read_checkpoint(path) -> dict:
    """A checkpoint's payload, read onto the CPU, with `settings` a RunSettings (its vocabulary checked);
    no model is built, so no tensor operation runs: a stage reads the settings (the deterministic mode
    among them) before it sets up torch (runtime.setup_torch), then builds the model with load_checkpoint."""
    path = Path(path)
    if not path.exists():
        raise AbcrnnError(f"{path}: checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise AbcrnnError(f"{path}: not a readable abcrnn checkpoint ({type(exc).__name__}: {reason})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise AbcrnnError(f"{path}: not an abcrnn checkpoint")
    try:
        Vocab.from_dict(payload["vocab"])
        payload["settings"] = RunSettings.from_dict(payload["settings"], "stored settings")
    except (KeyError, TypeError, ValueError, AbcrnnError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AbcrnnError(f"{path}: damaged abcrnn checkpoint ({reason})") from None
    return payload


def load_checkpoint(path, device: str | torch.device = "cpu", payload: dict | None = None) -> tuple[CharRNN, Vocab, dict]:
    """Return (model in eval mode on `device`, vocab, the whole payload with `settings` a RunSettings);
    `payload`: what read_checkpoint(path) returned, if it has been read already."""
    path = Path(path)
    payload = read_checkpoint(path) if payload is None else payload
    try:
        vocab = Vocab.from_dict(payload["vocab"])
        model = build_model(len(vocab), payload["settings"])
        model.load_state_dict(payload["model_state"])
    except (KeyError, TypeError, ValueError, RuntimeError, AbcrnnError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AbcrnnError(f"{path}: damaged abcrnn checkpoint ({reason})") from None
    model.to(device).eval()
    return model, vocab, payload
