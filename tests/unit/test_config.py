import copy
import re

import pytest
import yaml

from abcrnn.config import check_config, coerce_strings, expand_grid, load_schema, run_name, temperature_label
from abcrnn.errors import AbcrnnError


@pytest.fixture
def schema(root):
    return load_schema(root / "workflow" / "schemas" / "config.schema.yaml")


@pytest.fixture
def default(root):
    return yaml.safe_load((root / "config.yaml").read_text())


def test_shipped_configs_are_valid(root, schema, default):
    check_config(default, schema)
    for name in ("tiny.yaml", "paper.yaml"):
        check_config(yaml.safe_load((root / "config" / name).read_text()), schema)


@pytest.mark.parametrize(
    "patch, expected",
    [
        ({"split": {"val": -0.1}}, "config key split.val: -0.1 is less than the minimum of 0"),
        ({"split": {"val": 0.5, "test": 0.5}}, "config key split: val + test must be below 1"),
        ({"train": {"epochs": "many"}}, "config key train.epochs: 'many' is not of type 'integer'"),
        ({"train": {"epoch": 3}}, "config key train.epoch: unknown key"),
        ({"bogus": 1}, "config key bogus: unknown key"),
        ({"grid": {"model": ["mamba"]}}, "config key grid.model.0: 'mamba' is not one of"),
        ({"grid": {"model": ["lstm", "rnn"], "lr": {"lstm": [0.01]}}}, "config key grid.lr: no values given for model(s) rnn"),
        ({"sample": {"temperatures": [-1]}}, "config key sample.temperatures.0"),
        ({"corpus": {"near_duplicates": "merge"}}, "config key corpus.near_duplicates: 'merge' is not one of"),
        ({"sample": {"temperatures": [1, 1.0]}}, "config key sample.temperatures: 1.0 is listed twice"),
    ],
)
def test_bad_config_gives_one_line_naming_the_key(schema, default, patch, expected):
    config = copy.deepcopy(default)
    for section, values in patch.items():
        config.setdefault(section, {})
        if isinstance(values, dict):
            config[section].update(values)
        else:
            config[section] = values
    with pytest.raises(AbcrnnError) as err:
        check_config(config, schema)
    message = str(err.value)
    assert message.startswith(expected), message
    assert "\n" not in message


def test_command_line_strings_become_numbers(schema):
    # `snakemake --config split='{val: 0.2}'` hands nested values over as strings.
    config = {"split": {"val": "0.2", "seed": "3"}, "sample": {"temperatures": ["0.5", "argmax"], "prime": "1"},
              "render": {"audio": "true"}, "grid": {"lr": {"lstm": ["0.01"]}}}
    fixed = coerce_strings(config, schema)
    assert fixed["split"] == {"val": 0.2, "seed": 3}
    assert fixed["sample"]["temperatures"] == [0.5, "argmax"]
    assert fixed["sample"]["prime"] == "1"  # a string key stays a string
    assert fixed["render"]["audio"] is True
    assert fixed["grid"]["lr"] == {"lstm": [0.01]}


def test_grid_expands_to_named_runs_with_per_model_learning_rates():
    grid = {"model": ["lstm", "rnn"], "hidden": [50, 150], "layers": [1], "chunk": [200], "lr": {"lstm": [0.01], "rnn": [0.002]},
            "dropout": [0.0], "batch_size": [32]}
    runs = expand_grid(grid)
    assert list(runs) == ["lstm-h50-l1-c200-lr0.01-b32-d0", "lstm-h150-l1-c200-lr0.01-b32-d0",
                          "rnn-h50-l1-c200-lr0.002-b32-d0", "rnn-h150-l1-c200-lr0.002-b32-d0"]
    assert runs["rnn-h50-l1-c200-lr0.002-b32-d0"].lr == 0.002
    # Adding a value keeps the names of the existing runs, so their results are reused.
    grid["hidden"].append(200)
    assert set(runs) < set(expand_grid(grid))


def test_names_are_unique_and_readable():
    point = {"model": "gru", "hidden": 100, "layers": 2, "chunk": 100, "lr": 0.0005, "dropout": 0.25, "batch_size": 1}
    assert run_name(point) == "gru-h100-l2-c100-lr0.0005-b1-d0.25"
    assert [temperature_label(t) for t in (0.5, 1, 2.0, "argmax")] == ["0.5", "1.0", "2.0", "argmax"]


def test_config_readme_documents_every_key(root, schema):
    """config/README.md has a table row for every key of the schema, under its section's heading."""
    text = (root / "config" / "README.md").read_text()
    sections = re.split(r"^## ", text, flags=re.M)
    documented = {}
    for section in sections[1:]:
        name = section.split()[0]
        documented[name] = set(re.findall(r"^\| `([a-z_]+)`(?:, `([a-z_]+)`)?", section, flags=re.M))
    for name, node in schema["properties"].items():
        keys = {k for pair in documented.get(name, set()) for k in pair if k}
        missing = set(node["properties"]) - keys
        assert not missing, f"config/README.md, section {name}: no row for {sorted(missing)}"


def test_exponent_numbers_written_without_a_dot_are_numbers(schema):
    """YAML 1.1 reads `1e-3` as text; the config takes it as the number it means."""
    fixed = coerce_strings({"grid": {"lr": ["1e-3", "2.5E-4"]}, "sample": {"temperatures": ["1e-05"]}}, schema)
    assert fixed["grid"]["lr"] == [0.001, 0.00025] and fixed["sample"]["temperatures"] == [1e-05]
    assert temperature_label(1e-05) == "1e-05"


@pytest.mark.parametrize(
    "fields, expected",
    [
        (["T"], "config key corpus.header_fields: must keep X, T, M, L, K (missing X, M, L, K)"),
        (["x", "t", "m", "l", "k"], "config key corpus.header_fields: field letters are case-sensitive: "
                                    "x, t, m, l, k are not X, T, M, L, K"),
        (["X", "T", "M", "L", "K", "J"], "config key corpus.header_fields: J is not an ABC field letter"),
    ],
)
def test_header_fields_are_checked_with_the_config(schema, default, fields, expected):
    """Checked before any job: `snakemake -n` stops with this one line, not the corpus job later."""
    config = copy.deepcopy(default)
    config.setdefault("corpus", {})["header_fields"] = fields
    with pytest.raises(AbcrnnError) as err:
        check_config(config, schema)
    assert str(err.value).startswith(expected), str(err.value)
    assert "\n" not in str(err.value)


def test_header_fields_of_the_shipped_presets_pass(root, schema):
    for name in ("best.yaml", "folkrnn.yaml"):
        check_config(yaml.safe_load((root / "config" / name).read_text()), schema)
