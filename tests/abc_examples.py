"""Tunes the notation, novelty and validity tests share: O'Neill's tunes, the paper's argmax loop,
and tune(), which puts a header with a given meter before some music."""

from pathlib import Path

from abcrnn.notation.tunes import split_tagged

DATA = Path(__file__).parent / "data" / "render"
ONEILLS = split_tagged((DATA / "oneills.txt").read_text(encoding="utf-8"))
ARGMAX = (DATA / "argmax-loop.abc").read_text(encoding="utf-8")
HEAD = "X:1\nT:Test\nM:{meter}\nL:1/8\nK:G\n"


def tune(music: str, meter: str = "4/4") -> str:
    return HEAD.format(meter=meter) + music
