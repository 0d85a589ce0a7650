"""`abcrnn train`: the training stage's command line (workflow/rules/train.smk)."""

from __future__ import annotations
from abcrnn.settings import RunSettings
import argparse
from abcrnn.training.train import train


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abcrnn train",
                                description="Train one character-level model on the encoded corpus.",
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--train", default="results/data/char/train.pt", help="encoded training split")
    p.add_argument("--val", default="results/data/char/val.pt", help="encoded validation split")
    p.add_argument("--vocab", default="results/data/char/vocab.json", help="vocabulary (its unit must be --unit)")
    p.add_argument("--out-dir", default=None, help="run folder (default: results/models/ and the run name)")
    p.add_argument("--run", default=None, help="run name (default: the out-dir's name)")
    RunSettings.add_arguments(p)
    return p


def main_train(argv: list[str] | None = None) -> int:
    train(build_parser().parse_args(argv))
    return 0


