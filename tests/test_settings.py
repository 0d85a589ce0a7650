"""RunSettings is the one definition of a run's settings: everything else must follow it."""
import argparse
import dataclasses
import shlex

import pytest
import yaml

from abcrnn.checkpoint import load_checkpoint
from abcrnn.cli import main
from abcrnn.config import expand_grid
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import read_tsv
from abcrnn.settings import RunSettings, cli_flags, flag, setting
from abcrnn.train import build_parser

RESOURCE_KEYS = {"mem_mb", "runtime_min"}  # train: keys that size a job, not settings of the run


@pytest.fixture(scope="module")
def schema(root):
    return yaml.safe_load((root / "workflow" / "schemas" / "config.schema.yaml").read_text())


def test_schema_defaults_equal_the_dataclass_defaults(schema):
    train = schema["properties"]["train"]["properties"]
    grid = schema["properties"]["grid"]["properties"]
    for f in dataclasses.fields(RunSettings):
        if f.metadata["scope"] == "train":
            assert train[f.name]["default"] == f.default, f.name
        else:  # a grid key lists values; its first default value is the dataclass default
            assert grid[f.name]["default"][0] == f.default, f.name
    assert set(train) - RESOURCE_KEYS == set(RunSettings.keys("train"))
    assert set(grid) == set(RunSettings.keys("grid"))


def test_schema_choices_equal_the_dataclass_choices(schema):
    train = schema["properties"]["train"]["properties"]
    for f in dataclasses.fields(RunSettings):
        if f.metadata["choices"] and f.metadata["scope"] == "train":
            assert set(train[f.name]["enum"]) == set(f.metadata["choices"]), f.name
    models = set(RunSettings.__dataclass_fields__["model"].metadata["choices"])
    assert set(schema["$defs"]["models"]["items"]["enum"]) == models
    per_model = schema["properties"]["grid"]["properties"]["lr"]["oneOf"][1]
    assert set(per_model["propertyNames"]["enum"]) == models


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
