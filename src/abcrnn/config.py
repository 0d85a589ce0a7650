"""Config checking with one clear line per problem, and the hyperparameter grid → named runs."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from abcrnn.errors import AbcrnnError
from abcrnn.settings import RECURRENT, RunSettings
from abcrnn.labels import temperature_label

# ABC 2.1 information fields (§3.1): the letters a field line `F:value` may start with. Case matters:
# m: (macro), r: (remark), s: (symbol line) and w: (lyrics) are fields of their own.
FIELD_LETTERS = frozenset("ABCDFGHIKLMNOPQRSTUVWXZmrsw")
# Fields corpus.header_fields must keep: abc2midi finds tunes by X:, tables name them by T:, and M:,
# L: and K: say what the notes mean.
NEEDED_FIELDS = ("X", "T", "M", "L", "K")
# Field lines that shape the music, kept whatever corpus.header_fields lists: dropping V: merges
# voices into one line of music, P: loses the order of the parts, U: and m: redefine the symbols the
# music uses, and K:/M:/L: lines in the body change key, meter or note length.
STRUCTURE_FIELDS = frozenset("KLMPUVm")


def parse_header_fields(value: str | list, key: str = "corpus.header_fields") -> frozenset[str] | None:
    """`all` → None (keep every field line), or `X,T,M,L,K` (or a list of letters) → the field
    letters to keep; a mistake raises AbcrnnError naming `key`, in one line."""
    if isinstance(value, str) and value.strip() == "all":
        return None
    items = value.split(",") if isinstance(value, str) else [str(v) for v in value]
    letters = [v.strip() for v in items if v.strip()]
    bad = [v for v in letters if len(v) != 1 or not v.isalpha()]
    if bad or not letters:
        raise AbcrnnError(f"{key}: must be `all` or a list of field letters (X, T, M, ...), got {value!r}")
    cased = [v for v in letters if v not in FIELD_LETTERS and v.upper() in FIELD_LETTERS
             or v.upper() in NEEDED_FIELDS and v != v.upper() and v.upper() not in letters]
    if cased:
        raise AbcrnnError(f"{key}: field letters are case-sensitive: {', '.join(cased)} "
                          f"{'is' if len(cased) == 1 else 'are'} not {', '.join(v.upper() for v in cased)}")
    unknown = [v for v in letters if v not in FIELD_LETTERS]
    if unknown:
        raise AbcrnnError(f"{key}: {', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not an ABC field "
                          f"letter (ABC 2.1 fields: {' '.join(sorted(FIELD_LETTERS, key=lambda f: (f.lower(), f)))})")
    missing = [f for f in NEEDED_FIELDS if f not in letters]
    if missing:
        raise AbcrnnError(f"{key}: must keep {', '.join(NEEDED_FIELDS)} (missing {', '.join(missing)})")
    return frozenset(letters)


def load_schema(path: str | Path) -> dict:
    import yaml

    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


def coerce_strings(config, schema: dict, node: dict | None = None):
    """Turn '0.5', '3', 'true' into numbers/booleans where the schema wants them.

    `snakemake --config key='{a: 0.5}'` parses nested values as strings; this lets users override any
    key from the command line as they expect.
    """
    import yaml

    node = _resolve(schema, schema if node is None else node)
    if isinstance(config, dict):
        props = node.get("properties", {})
        extra = node.get("additionalProperties")
        return {k: coerce_strings(v, schema, props.get(k, extra if isinstance(extra, dict) else {}))
                for k, v in config.items()}
    if isinstance(config, list):
        items = node.get("items", {})
        if not items:  # a oneOf of arrays and mappings: use its array branch
            items = next((b.get("items", {}) for b in map(lambda b: _resolve(schema, b), node.get("oneOf", []))
                          if b.get("type") == "array"), {})
        return [coerce_strings(v, schema, items) for v in config]
    if isinstance(config, str) and node.get("type") != "string" and "minLength" not in node:
        try:
            value = yaml.safe_load(config)
        except yaml.YAMLError:
            return config
        if isinstance(value, (bool, int, float)):
            return value
        if _EXPONENT.fullmatch(config.strip()):  # YAML 1.1 reads 1e-3 (no dot) as text
            return float(config)
    return config


_EXPONENT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _resolve(schema: dict, node: dict) -> dict:
    while isinstance(node, dict) and "$ref" in node:
        target = schema
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node if isinstance(node, dict) else {}


def check_config(config: dict, schema: dict) -> None:
    """Raise AbcrnnError naming the key and the problem; checks what the schema cannot say too."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(config))
    if error is not None:
        path = [str(p) for p in error.absolute_path]
        message = error.message
        if error.validator == "additionalProperties":
            allowed = sorted(error.schema.get("properties", {}))
            unknown = sorted(set(error.instance) - set(allowed))
            path.append(unknown[0])
            message = f"unknown key (allowed here: {', '.join(allowed)})"
        key = ".".join(path) or "(top level)"
        if error.validator == "oneOf" and error.context:
            message = f"{error.instance!r} is not valid here ({error.context[0].message})"
        raise AbcrnnError(f"config key {key}: {message}")
    fields = config.get("corpus", {}).get("header_fields", "all")
    parse_header_fields(fields, "config key corpus.header_fields")
    split = config.get("split", {})
    val, test = split.get("val", 0.1), split.get("test", 0.1)
    if val + test >= 1:
        raise AbcrnnError(f"config key split: val + test must be below 1 (nothing left to train on), got {val + test:g}")
    labels = [temperature_label(t) for t in config.get("sample", {}).get("temperatures", [])]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise AbcrnnError(f"config key sample.temperatures: {twice[0]} is listed twice")
    grid = config.get("grid", {})
    models = grid.get("model", ["lstm", "rnn"])
    per_model = {f"grid.{k}": v for k, v in grid.items() if isinstance(v, dict)}
    unit = config.get("vocab", {}).get("unit")
    if isinstance(unit, dict):
        per_model["vocab.unit"] = unit
    for key, values in per_model.items():
        missing = [m for m in models if m not in values]
        if missing:
            raise AbcrnnError(f"config key {key}: no values given for model(s) {', '.join(missing)}")


def expand_grid(grid: dict, train: dict | None = None, vocab: dict | None = None) -> dict[str, RunSettings]:
    """All combinations of the grid's values and vocabulary units with the shared `train:` values,
    keyed by run name.

    Each grid key (and `vocab.unit`) is a list, or a mapping model → list of the values for that
    model: each cell type gets learning rates it is stable with (a vanilla RNN diverges where an
    LSTM does not), and a grid can hold, say, a one-layer LSTM over characters beside a Transformer
    over tokens without crossing them. Settings that do not apply to a model (a Transformer's heads
    for an LSTM) are not crossed with it. Two combinations that would share a run name
    (`lr: [1, 1.0]`) are refused, naming the key.
    """
    defaults = RunSettings()
    others = [k for k in RunSettings.keys("grid") if k != "model"]
    units = (vocab or {}).get("unit", defaults.unit)

    def values(value, model):
        value = value[model] if isinstance(value, dict) else value
        return value if isinstance(value, list) else [value]

    runs: dict[str, RunSettings] = {}
    seen: set[tuple] = set()
    for model in grid.get("model", list(RECURRENT[:1])):
        choices = [values(grid.get(k, [getattr(defaults, k)]), model) for k in others]
        for unit in values(units, model):
            for combination in itertools.product(*choices):
                point = {"model": model, "unit": unit, **dict(zip(others, combination))}
                try:
                    settings = RunSettings.from_config(point, train or {})
                except AbcrnnError as exc:
                    raise AbcrnnError(f"config key grid: {exc}") from None
                used = tuple((k, repr(v)) for k, v in point.items() if settings.applies(k))
                if used in seen:
                    continue  # differs only in a setting this model has no use for
                seen.add(used)
                name = settings.run_name()
                if name in runs:
                    raise AbcrnnError(f"config key grid: two combinations give the same run {name} "
                                      "(a value listed twice?)")
                runs[name] = settings
    return runs


def run_name(point: dict) -> str:
    """The run name of a grid point (settings left out take their defaults)."""
    return RunSettings.from_dict(point).run_name()

