"""Names of sample sets and their files, shared by the workflow (at parse time) and the stages.

Torch-free and plotting-free on purpose: `workflow/rules/common.smk` imports this module, and
everything it imports is paid for by every `snakemake` call.
"""

from __future__ import annotations

from pathlib import Path

from abcrnn.errors import AbcrnnError

# Decoding modes of `sample.constrain`: none, or masks that keep the tune valid ABC (abc), also in its
# meter (meter), also in a form plan drawn from the training tunes, ending on the tonic (form).
CONSTRAINTS = ("none", "abc", "meter", "form")


def temperature_label(t) -> str:
    """Directory name for a temperature: 'argmax', or the number as written (0.5, 1.0, 2.0)."""
    return "argmax" if t == "argmax" else str(float(t))


def parse_temperature(value) -> float | str:
    """A positive float, or "argmax" for greedy decoding."""
    if isinstance(value, str) and value.strip().lower() == "argmax":
        return "argmax"
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise AbcrnnError(f"temperature: must be a positive number or 'argmax', got {value!r}") from None
    if not t > 0 or t == float("inf"):
        raise AbcrnnError(f"temperature: must be a positive number or 'argmax', got {value!r}")
    return t


def sample_label(temperature, constrain: str = "none") -> str:
    """A sample set's name in folders and tables: the temperature (`0.7`, `argmax`), with the
    decoding when it was constrained (`0.7-abc`, `0.7-meter`, `0.7-form`)."""
    label = temperature_label(parse_temperature(temperature))
    return label if constrain == "none" else f"{label}-{constrain}"


def number_width(count: int) -> int:
    """Digits of the zero-padded file numbers 1..count (01.abc … 20.abc)."""
    return max(2, len(str(count)))


def parse_sample_set(spec: str) -> tuple[str | None, str, Path]:
    """'RUN:LABEL=DIR' or 'LABEL=DIR' → (run or None, label, directory)."""
    head, sep, directory = spec.partition("=")
    run, colon, label = head.rpartition(":")
    if not sep or not label or not directory or (colon and not run):
        raise AbcrnnError(f"--samples: expected [RUN:]LABEL=DIR (e.g. 0.5=results/samples/0.5 or "
                          f"lstm-h150:0.5=results/samples/runs/lstm-h150/0.5), got {spec!r}")
    return (run if colon else None), label, sample_folder(directory)


def sample_folder(path: str) -> Path:
    """The folder of a sample set, given as the folder or as its render.tsv."""
    path = Path(path)
    return path.parent if path.suffix == ".tsv" else path
