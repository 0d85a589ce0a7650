"""RunSettings is the one definition of a run's settings: everything else must follow it."""
import argparse
import dataclasses
import shlex

import pytest
import yaml

from abcrnn.models.checkpoint import load_checkpoint
from abcrnn.commands.cli import main
from abcrnn.config import expand_grid
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import read_tsv
from abcrnn.settings import RunSettings, cli_flags, flag, setting
from abcrnn.commands.train import build_parser

RESOURCE_KEYS = {"mem_mb", "runtime_min"}  # train: keys that size a job, not settings of the run


@pytest.fixture(scope="module")
def schema(root):
    return yaml.safe_load((root / "workflow" / "schemas" / "config.schema.yaml").read_text())


def test_schema_defaults_equal_the_dataclass_defaults(schema):
    train = schema["properties"]["train"]["properties"]
    grid = schema["properties"]["grid"]["properties"]
    vocab = schema["properties"]["vocab"]["properties"]
    for f in dataclasses.fields(RunSettings):
        if f.metadata["scope"] == "train":
            assert train[f.name]["default"] == f.default, f.name
        elif f.metadata["scope"] == "vocab":  # one value (or a list crossed with the grid)
            assert vocab[f.name]["default"] == f.default, f.name
            assert set(vocab[f.name]["oneOf"][0]["enum"]) == set(f.metadata["choices"]), f.name
        else:  # a grid key lists values; its first default value is the dataclass default
            assert grid[f.name]["default"][0] == f.default, f.name
    assert set(train) - RESOURCE_KEYS == set(RunSettings.keys("train"))
    assert set(grid) == set(RunSettings.keys("grid"))
    assert set(RunSettings.keys("vocab")) <= set(vocab)


def test_schema_choices_equal_the_dataclass_choices(schema):
    train = schema["properties"]["train"]["properties"]
    for f in dataclasses.fields(RunSettings):
        if f.metadata["choices"] and f.metadata["scope"] == "train":
            assert set(train[f.name]["enum"]) == set(f.metadata["choices"]), f.name
    models = set(RunSettings.__dataclass_fields__["model"].metadata["choices"])
    assert set(schema["$defs"]["models"]["items"]["enum"]) == models
    assert set(schema["$defs"]["per_model"]["propertyNames"]["enum"]) == models


def test_cli_defaults_are_the_dataclass_defaults():
    args = build_parser().parse_args([])
    assert RunSettings.from_args(args) == RunSettings()


def test_every_setting_reaches_the_checkpoint_and_test_loss_table(trained_run):
    run, data = trained_run
    _, _, payload = load_checkpoint(run / "best.pt")
    stored = payload["settings"]
    assert set(stored.to_dict()) == {f.name for f in dataclasses.fields(RunSettings)}
    assert (stored.hidden, stored.chunk, stored.batch_size, stored.model) == (16, 20, 4, "lstm")
    out = run / "test.tsv"
    assert main(["evaluate", "--checkpoint", str(run / "best.pt"), "--data", str(data["test"]), "--out", str(out),
                 "--threads", "1", "--device", "cpu"]) == 0
    row = read_tsv(out)[0]
    for key in RunSettings.column_keys():
        value = getattr(stored, key)
        if not stored.applies(key):  # a Transformer's heads mean nothing to an LSTM: left blank
            assert row[key] == "", key
            continue
        if isinstance(value, bool):  # a switch reads True/False
            assert row[key] == str(value), key
            continue
        assert (row[key] if isinstance(value, str) else float(row[key])) == value, key


def test_a_new_setting_flows_into_cli_flags_checkpoint_dict_name_and_columns():
    extended = dataclasses.make_dataclass(
        "Extended", [("warmup", int, setting(0, "warm-up steps", scope="grid", minimum=0, name="w", column=True))],
        bases=(RunSettings,), frozen=True)
    p = argparse.ArgumentParser()
    extended.add_arguments(p)
    args = p.parse_args(["--warmup", "7", "--hidden", "20"])
    s = extended.from_args(args)
    assert s.warmup == 7 and s.hidden == 20
    assert extended.from_dict(s.to_dict()) == s
    assert s.run_name().endswith("-w7")
    assert "warmup" in extended.column_keys() and "warmup" in s.trajectory()
    assert "--warmup 7" in s.to_flags()
    with pytest.raises(AbcrnnError, match="--warmup"):
        extended(warmup=-1)


def test_flags_round_trip_through_the_parser_and_are_quoted():
    s = RunSettings(model="gru", hidden=64, lr=0.0100000001, dropout=0.25, batch_size=1, threads=1)
    args = build_parser().parse_args(shlex.split(s.to_flags()))
    assert RunSettings.from_args(args) == s
    assert cli_flags({"prime": "X:1\nT:It's"}) == "--prime " + shlex.quote("X:1\nT:It's")
    assert cli_flags({"audio": False, "midi": True, "source": ["a b", "c"]}) == "--no-audio --midi --source 'a b' --source c"
    assert flag("batch_size") == "--batch-size"


def test_names_tell_apart_values_that_print_alike_and_duplicates_are_refused():
    grid = {"model": ["lstm"], "hidden": [8], "layers": [1], "chunk": [10], "dropout": [0.0], "batch_size": [2],
            "lr": [0.01, 0.0100000001]}
    assert len(expand_grid(grid)) == 2
    with pytest.raises(AbcrnnError, match="config key grid: .*same run"):
        expand_grid({**grid, "lr": [1, 1.0]})


def test_stored_settings_with_unknown_keys_are_refused():
    with pytest.raises(AbcrnnError, match="unknown setting"):
        RunSettings.from_dict({"hidden": 8, "colour": "red"})
    with pytest.raises(AbcrnnError, match="hidden must be of type int"):
        RunSettings.from_dict({"hidden": "8"})


def test_transformer_settings_are_checked_naming_the_key():
    with pytest.raises(AbcrnnError, match=r"--context: .*context \(128\) must be at least the chunk .* \(200\)"):
        RunSettings(model="transformer", hidden=64, context=128, chunk=200)
    with pytest.raises(AbcrnnError, match=r"--heads: .*hidden 150.*heads \(4\)"):
        RunSettings(model="transformer", hidden=150, heads=4)
    grid = {"model": ["transformer"], "hidden": [64], "layers": [2], "chunk": [300], "lr": [0.001],
            "dropout": [0.0], "batch_size": [8]}
    with pytest.raises(AbcrnnError, match=r"^config key grid: --context"):
        expand_grid(grid)
    assert RunSettings(model="transformer").input == "embedding"  # its embedding is tied to the output layer


def test_run_names_show_only_the_settings_a_run_uses():
    assert RunSettings().run_name() == "lstm-h150-l1-c200-lr0.01-b32-d0"  # as before tokens and Transformers
    assert RunSettings(unit="token").run_name() == "lstm-h150-l1-c200-lr0.01-b32-d0-token"
    t = RunSettings(model="transformer", hidden=128, layers=4, lr=0.001, heads=4, context=256, unit="token")
    assert t.run_name() == "transformer-h128-l4-c200-lr0.001-b32-d0-heads4-ctx256-token"
    # an LSTM asked for heads keeps the default: the setting means nothing to it
    assert RunSettings(model="lstm", heads=8).heads == RunSettings().heads


def test_the_grid_crosses_units_and_gives_transformer_settings_to_transformers_only():
    grid = {"model": ["lstm", "transformer"], "hidden": [64], "layers": [1], "chunk": [100], "lr": [0.001],
            "dropout": [0.0], "batch_size": [8], "heads": [2, 4], "context": [128, 256]}
    runs = expand_grid(grid, {}, {"unit": ["char", "token"]})
    lstm = [n for n in runs if n.startswith("lstm")]
    assert sorted(lstm) == ["lstm-h64-l1-c100-lr0.001-b8-d0", "lstm-h64-l1-c100-lr0.001-b8-d0-token"]
    transformers = [s for s in runs.values() if s.model == "transformer"]
    assert len(transformers) == 2 * 2 * 2  # heads x context x unit
    assert {(s.heads, s.context, s.unit) for s in transformers} == {
        (h, c, u) for h in (2, 4) for c in (128, 256) for u in ("char", "token")}


def test_grid_values_per_model_are_not_crossed_with_other_models():
    grid = {"model": ["lstm", "transformer"], "hidden": {"lstm": [150], "transformer": [128, 192]},
            "layers": {"lstm": [1], "transformer": [4]}, "chunk": [200], "lr": {"lstm": [0.01], "transformer": [0.002]},
            "dropout": [0.0], "batch_size": [32], "heads": [4], "context": [256]}
    runs = expand_grid(grid, {}, {"unit": {"lstm": ["char"], "transformer": ["token"]}})
    assert sorted(runs) == ["lstm-h150-l1-c200-lr0.01-b32-d0",
                            "transformer-h128-l4-c200-lr0.002-b32-d0-heads4-ctx256-token",
                            "transformer-h192-l4-c200-lr0.002-b32-d0-heads4-ctx256-token"]
