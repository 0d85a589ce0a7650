"""A run's settings: one typed definition that everything else derives from.

`RunSettings` is the single source of truth for what a training run is. From its fields come:

* the `abcrnn train` command-line flags (name, type, choices, default, help) and their checks;
* the flags the workflow hands to `abcrnn train` for one grid point (`to_flags`);
* what a checkpoint stores and reads back (`to_dict` / `from_dict`), so that `evaluate` and `sample`
  use the run's own chunk and stream layout;
* the resume check (fields marked `trajectory`: they change what training computes);
* the model builder (`models.build_model` takes a RunSettings);
* the run name (fields marked with a `name` prefix, in field order: `lstm-h150-l1-c200-lr0.01-b32-d0`; a
  true/false field adds just its prefix when true: `-det`);
* the columns of `test_loss.tsv` (fields marked `column`).

Where a field lives in the workflow config is its `scope`: `grid` fields are lists under `grid:` (one
training job per combination), `train` fields are single values under `train:` shared by every run,
and `unit` is `vocab.unit` (one value, or a list crossed with the grid like a grid field).
The schema's defaults are checked against these defaults by the tests.

Some fields apply to some models only (`models`): the Transformer's heads and context mean nothing to
a recurrent model, so for other models they keep their defaults and stay out of the run name; a
field marked `name_default=False` is left out of the run name while it has its default (char runs
keep the names they had before token vocabularies existed).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
from collections import defaultdict
from dataclasses import dataclass, field, fields

from abcrnn.errors import AbcrnnError

RECURRENT = ("lstm", "rnn", "gru")
MODELS = (*RECURRENT, "transformer")
UNITS = ("char", "token")
INPUTS = ("onehot", "embedding")
INITS = ("xavier", "pytorch")
OPTIMIZERS = ("adam", "sgd", "rmsprop")
PRECISIONS = ("fp32", "bf16")
DEVICES = ("auto", "cpu", "cuda")


def setting(default, help: str, *, scope: str = "train", choices: tuple = (), minimum: float | None = None,
            below: float | None = None, positive: bool = False, name: str | None = None, trajectory: bool = True,
            column: bool = False, models: tuple = (), name_default: bool = True):
    """A dataclass field with what the CLI, the checks, the run name and the tables need to know.

    minimum: smallest allowed value; below: values must be smaller than this; positive: > 0 and finite;
    name: prefix in the run name (grid fields); trajectory: a change makes a saved resume state unusable;
    column: a column of test_loss.tsv; models: the model kinds it applies to (empty: all); name_default:
    False leaves it out of the run name while it has its default.
    """
    meta = {"help": help, "scope": scope, "choices": choices, "minimum": minimum, "below": below,
            "positive": positive, "name": name, "trajectory": trajectory, "column": column, "models": models,
            "name_default": name_default}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunSettings:
    # The grid: one training job per combination; these name the run.
    model: str = setting("lstm", "recurrent cell, or a decoder-only Transformer", scope="grid", choices=MODELS,
                         name="", column=True)
    hidden: int = setting(150, "hidden units per layer (the Transformer's model width)", scope="grid", minimum=1,
                          name="h", column=True)
    layers: int = setting(1, "stacked recurrent layers (Transformer blocks)", scope="grid", minimum=1, name="l",
                          column=True)
    chunk: int = setting(200, "symbols per training window (truncated BPTT for recurrent models)", scope="grid",
                         minimum=1, name="c", column=True)
    lr: float = setting(0.01, "learning rate", scope="grid", positive=True, name="lr", column=True)
    batch_size: int = setting(32, "parallel streams of the text (1 = the paper)", scope="grid", minimum=1,
                              name="b", column=True)
    dropout: float = setting(0.0, "dropout on each layer's output (in Transformer blocks)", scope="grid",
                             minimum=0.0, below=1.0, name="d", column=True)
    heads: int = setting(2, "attention heads (transformer; must divide hidden)", scope="grid", minimum=1,
                         name="heads", column=True, models=("transformer",))
    context: int = setting(256, "symbols the Transformer attends to (at least the chunk)", scope="grid",
                           minimum=2, name="ctx", column=True, models=("transformer",))
    unit: str = setting("char", "vocabulary unit: characters (the paper) or ABC tokens (vocab.unit)",
                        scope="vocab", choices=UNITS, name="", column=True, name_default=False)
    # Shared by every run of the grid.
    input: str = setting("onehot", "one-hot characters (the paper) or a learned embedding (a Transformer "
                         "always embeds)", choices=INPUTS, column=True)
    embedding_dim: int = setting(64, "size of the learned embedding (input: embedding)", minimum=1)
    init: str = setting("xavier", "Xavier initialisation (the paper) or PyTorch's defaults", choices=INITS)
    optimizer: str = setting("adam", "optimizer", choices=OPTIMIZERS)
    clip: float = setting(5.0, "gradient-norm clipping (0 = off)", minimum=0.0)
    epochs: int = setting(30, "most passes over the training text", minimum=1, trajectory=False)
    patience: int = setting(4, "stop after this many epochs without a better validation loss (0 = never)",
                            minimum=0, trajectory=False)
    time_limit_min: float = setting(0.0, "stop after the epoch in which training time passes this many minutes "
                                         "(0 = no limit)", minimum=0.0, trajectory=False)
    seed: int = setting(0, "random seed of the initial weights (and dropout)")
    precision: str = setting("fp32", "fp32, or bf16 autocast of the matrix products", choices=PRECISIONS)
    device: str = setting("auto", "auto: CUDA where present, else the CPU", choices=DEVICES, trajectory=False)
    threads: int = setting(2, "CPU threads for torch", minimum=1, trajectory=False)
    deterministic: bool = setting(False, "bit-identical results on every x86-64 CPU with AVX2 (same torch build "
                                  "and threads): pinned kernels, slower (README: Deterministic mode)",
                                  name="det", column=True, name_default=False)

    def __post_init__(self):
        for f in fields(self):
            _check(f, getattr(self, f.name))
        for f in fields(self):  # settings another model kind has no use for keep their defaults
            if f.metadata["models"] and self.model not in f.metadata["models"]:
                object.__setattr__(self, f.name, f.default)
        if self.model == "transformer":
            object.__setattr__(self, "input", "embedding")  # its input embedding is tied to the output layer
            if self.hidden % self.heads:
                raise AbcrnnError(f"--heads: the Transformer's width (hidden {self.hidden}) must be a multiple of "
                                  f"its heads ({self.heads})")
            if self.context < self.chunk:
                raise AbcrnnError(f"--context: a Transformer's context ({self.context}) must be at least the chunk it "
                                  f"trains and scores on ({self.chunk})")

        if self.deterministic and self.precision != "fp32":
            raise AbcrnnError(f"--deterministic: needs --precision fp32 (bf16 autocast runs oneDNN kernels chosen by "
                              f"instruction set), got {self.precision}")
        if self.deterministic and self.optimizer == "rmsprop":
            raise AbcrnnError("--deterministic: needs --optimizer adam or sgd (RMSprop's square root runs MKL's "
                              "vector math, whose code paths differ by CPU; torch has no fused CPU RMSprop)")
        if self.deterministic and self.device == "cuda":
            raise AbcrnnError("--deterministic: bit-identical results are a CPU mode; use --device cpu (or auto)")

    def applies(self, name: str) -> bool:
        """Whether a setting means something for this run's model kind."""
        models = next(f for f in fields(self) if f.name == name).metadata["models"]
        return not models or self.model in models

    # --- dictionaries (checkpoints, config) --------------------------------------------------------
    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict, where: str = "settings") -> RunSettings:
        """From stored or configured values; unknown keys are refused, missing ones take the defaults."""
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise AbcrnnError(f"{where}: unknown setting(s) {', '.join(unknown)}")
        return cls(**{k: _typed(known[k], v, where) for k, v in values.items()})

    @classmethod
    def from_config(cls, point: dict, train: dict) -> RunSettings:
        """One grid point (scopes grid and vocab) with the config's shared `train:` values (scope train)."""
        values = {}
        for f in fields(cls):
            source = train if f.metadata["scope"] == "train" else point
            if f.name in source:
                values[f.name] = source[f.name]
        return cls.from_dict(values, "config")

    # --- derived facts -----------------------------------------------------------------------------
    def run_name(self) -> str:
        """A readable, unique directory name, e.g. lstm-h150-l1-c200-lr0.01-b32-d0 (char vocabulary),
        transformer-h256-l4-c256-lr0.001-b32-d0.1-heads4-ctx256-token."""
        parts = []
        for f in self.name_fields():
            value = getattr(self, f.name)
            if not self.applies(f.name) or (not f.metadata["name_default"] and value == f.default):
                continue
            if isinstance(value, bool):  # a switch: its prefix alone when on (`-det`)
                if value:
                    parts.append(f.metadata["name"])
                continue
            parts.append(f"{f.metadata['name']}{format_value(value)}")
        return "-".join(parts)

    def trajectory(self) -> dict:
        """The settings that change what training computes (a resume state must match them all)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.metadata["trajectory"]}

    def to_flags(self, exclude: tuple[str, ...] = ()) -> str:
        """`abcrnn train` flags for these settings, every value shell-quoted. A switch that is off, as
        by default, is left out: adding one changes no existing run's command line (which Snakemake
        would take for a reason to retrain it)."""
        return cli_flags({f.name: getattr(self, f.name) for f in fields(self) if f.name not in exclude
                          and not (kind(f) is bool and getattr(self, f.name) is False and f.default is False)})

    # --- the command line --------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One flag per setting, with its type, choices, default and help."""
        for f in fields(cls):
            meta = f.metadata
            kwargs = {"default": f.default, "help": meta["help"], "type": kind(f)}
            if kind(f) is bool:  # --name / --no-name, as cli_flags writes them
                kwargs = {"default": f.default, "help": meta["help"], "action": argparse.BooleanOptionalAction}
            if meta["choices"]:
                kwargs["choices"] = meta["choices"]
            parser.add_argument(flag(f.name), **kwargs)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunSettings:
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})

    # --- where each field belongs ------------------------------------------------------------------
    @classmethod
    def keys(cls, scope: str | None = None) -> tuple[str, ...]:
        """Field names, all or those of one config scope (`grid`, `train` or `vocab`)."""
        return tuple(f.name for f in fields(cls) if scope in (None, f.metadata["scope"]))

    @classmethod
    def column_keys(cls) -> list[str]:
        """The settings shown as columns of test_loss.tsv."""
        return [f.name for f in fields(cls) if f.metadata["column"]]

    @classmethod
    def name_fields(cls) -> list[dataclasses.Field]:
        return [f for f in fields(cls) if f.metadata["name"] is not None]


def format_value(value) -> str:
    """Numbers as short as `:g` writes them, unless that would make two different values look alike."""
    if isinstance(value, float):
        short = f"{value:g}"
        return short if float(short) == value else repr(value)
    return str(value)


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def cli_flags(values: dict) -> str:
    """`--key 'value'` for each item, shell-quoted: the one way settings reach a command line.

    True/False become `--key` / `--no-key`; a list repeats the flag once per element.
    """
    parts = []
    for key, value in values.items():
        if isinstance(value, bool):
            parts.append(flag(key) if value else "--no-" + key.replace("_", "-"))
        elif isinstance(value, (list, tuple)):
            parts += [f"{flag(key)} {shlex.quote(str(v))}" for v in value]
        else:
            parts.append(f"{flag(key)} {shlex.quote(format_value(value))}")
    return " ".join(parts)


_TYPES = {"str": str, "int": int, "float": float, "bool": bool}


def kind(f: dataclasses.Field) -> type:
    """A field's type (annotations are strings here: `from __future__ import annotations`)."""
    return f.type if isinstance(f.type, type) else _TYPES[f.type]


def _typed(f: dataclasses.Field, value, where: str):
    wanted = kind(f)
    if wanted is bool:
        if not isinstance(value, bool):
            raise AbcrnnError(f"{where}: {f.name} must be true or false, got {value!r}")
        return value
    if wanted is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, wanted) or isinstance(value, bool):
        raise AbcrnnError(f"{where}: {f.name} must be of type {wanted.__name__}, got {value!r}")
    return value


def _check(f: dataclasses.Field, value) -> None:
    meta, name = f.metadata, flag(f.name)
    if meta["choices"] and value not in meta["choices"]:
        raise AbcrnnError(f"{name}: must be one of {', '.join(meta['choices'])}, got {value!r}")
    if meta["minimum"] is not None and not value >= meta["minimum"]:
        raise AbcrnnError(f"{name}: must be at least {meta['minimum']:g}, got {value}")
    if meta["below"] is not None and not value < meta["below"]:
        raise AbcrnnError(f"{name}: must be below {meta['below']:g}, got {value}")
    if meta["positive"] and not (value > 0 and math.isfinite(value)):
        raise AbcrnnError(f"{name}: must be a positive number, got {value}")


# Settings that must agree for runs to count as one hidden-size sweep.
SWEEP_KEYS = tuple(k for k in RunSettings.column_keys() if k != "hidden")


def sweep_group(rows: list[dict], best: str) -> list[dict]:
    """The runs that differ only in hidden size (at least two sizes), else []: of several such sets,
    the one with most sizes, then the one holding the best run."""
    groups = defaultdict(list)
    for r in rows:
        groups[tuple(r[k] for k in SWEEP_KEYS)].append(r)
    group = max(groups.values(), default=[],
                key=lambda g: (len({r["hidden"] for r in g}), any(r["run"] == best for r in g),
                               min(r["run"] for r in g)))
    return sorted(group, key=lambda r: (r["hidden"], r["run"])) if len({r["hidden"] for r in group}) >= 2 else []
