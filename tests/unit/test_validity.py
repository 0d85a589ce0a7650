"""The validity table: per-tune measures on garbage, summary rows per run and temperature, the plot's blocks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from abc_examples import ARGMAX, ONEILLS, tune
from hypothesis import given, settings
from hypothesis import strategies as st

from abcrnn.notation.bars import bar_check
from abcrnn.notation.tunes import body, join_tagged
from abcrnn.commands.cli import main as cli
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import read_tsv, write_text, write_tsv
from abcrnn.analysis.novelty import repetition
from abcrnn.report.plots import plot_blocks
from abcrnn.generation.render import RENDER_COLUMNS
from abcrnn.generation.sample import SAMPLE_COLUMNS
from abcrnn.analysis.validity import SUMMARY_COLUMNS, TUNE_COLUMNS
from abcrnn.commands.generate import main_validity


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ABCGabcgzxZy|:[]()<>{}!\"^_=,'/0123-.~ \nMLK&\\%", max_size=200),
       st.sampled_from(["C", "6/8", "0/0", "none", "", "x/y"]), st.sampled_from(["1/8", "1/0", ""]))
def test_measures_never_fail_on_garbage(music, meter, unit):
    # temperature 2 writes any characters at all; the table must still be made
    text = f"X:1\nT:x\nM:{meter}\nL:{unit}\nK:G\n{music}"
    judged, share = bar_check(text)
    assert judged >= 0 and (math.isnan(share) or 0 <= share <= 1)
    assert 0 <= repetition(text) <= 1 and 0 <= repetition(music) <= 1


def write_sample_dir(directory: Path, tunes: list[str], ended: list[bool], renders: list[dict]) -> None:
    rows = []
    for n, (text, end) in enumerate(zip(tunes, ended), 1):
        write_text(directory / f"{n:02d}.abc", text + "\n")
        rows.append({"n": n, "file": f"{n:02d}.abc", "seed": n - 1, "temperature": directory.name, "ended": end,
                     "chars": len(text), "prime": "<start>\\n"})
    write_tsv(directory / "samples.tsv", rows, SAMPLE_COLUMNS)
    write_render(directory, renders)


def write_render(directory: Path, renders: list[dict]) -> None:
    rows = [{"file": f"{n:02d}.abc", "timed_out": False, "message": "", **r} for n, r in enumerate(renders, 1)]
    write_tsv(directory / "render.tsv", rows, RENDER_COLUMNS)


def test_validity_table_has_one_row_per_temperature_and_the_baseline(tmp_path):
    ok = {"midi_ok": True, "notes": 16, "errors": 0, "warnings": 1, "score_ok": True}
    broken = {"midi_ok": False, "notes": 3, "errors": 2, "warnings": 0, "score_ok": False}
    write_sample_dir(tmp_path / "0.5", [tune("GABc dedB|dBAG A4|]"), tune("GAB]c|")], [True, False], [ok, broken])
    write_sample_dir(tmp_path / "argmax", [ARGMAX], [True], [ok])
    baseline = tmp_path / "baseline"
    for n, text in enumerate(ONEILLS[:3], 1):
        write_text(baseline / f"{n:02d}.abc", text + "\n")
    write_render(baseline, [ok, ok, broken])
    out, tunes_out, plot = tmp_path / "validity.tsv", tmp_path / "tunes.tsv", tmp_path / "validity.png"
    rc = cli(["validity", "--samples", f"0.5={tmp_path / '0.5'}", f"argmax={tmp_path / 'argmax'}",
              "--baseline", str(baseline), "--min-notes", "8", "--run", "lstm-h150", "--out", str(out),
              "--tunes-out", str(tunes_out), "--plot", str(plot)])
    assert rc == 0
    rows = read_tsv(out)
    assert list(rows[0]) == SUMMARY_COLUMNS
    assert [(r["temperature"], r["run"], r["tunes"]) for r in rows] == [
        ("0.5", "lstm-h150", "2"), ("argmax", "lstm-h150", "1"), ("test-set", "", "3")]
    half = rows[0]
    assert (half["renders_ok"], half["has_notes"], half["ended"], half["mean_errors"], half["header_complete"]) == (
        "0.5", "0.5", "0.5", "1", "1")
    assert float(rows[1]["repetition"]) > 0.4 and rows[1]["bars_match_meter"] == "0"
    assert rows[2]["ended"] == "1" and float(rows[2]["renders_ok"]) == pytest.approx(2 / 3)
    per_tune = read_tsv(tunes_out)
    assert list(per_tune[0]) == TUNE_COLUMNS and len(per_tune) == 6
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # without --train the novelty columns are there but blank
    assert {(r["longest_copy"], r["copied"]) for r in rows + per_tune} == {("", "")}
    # the workflow names each set by its render.tsv: the same tables
    first = out.read_bytes(), tunes_out.read_bytes()
    assert cli(["validity", "--samples", f"0.5={tmp_path / '0.5' / 'render.tsv'}",
                f"argmax={tmp_path / 'argmax' / 'render.tsv'}", "--baseline", str(baseline / "render.tsv"),
                "--min-notes", "8", "--run", "lstm-h150", "--out", str(out), "--tunes-out", str(tunes_out)]) == 0
    assert (out.read_bytes(), tunes_out.read_bytes()) == first


def test_validity_with_train_measures_copying(tmp_path):
    ok = {"midi_ok": True, "notes": 16, "errors": 0, "warnings": 0, "score_ok": True}
    new, borrowed = tune("zzABc dedzz"), tune("zz" + body(ONEILLS[0])[:7] + "zz")
    write_sample_dir(tmp_path / "1.0", [new, borrowed], [True, True], [ok, ok])
    baseline = tmp_path / "baseline"
    for n, text in enumerate(ONEILLS[:2], 1):
        write_text(baseline / f"{n:02d}.abc", text + "\n")
    write_render(baseline, [ok, ok])
    train = tmp_path / "train.txt"
    write_text(train, join_tagged([tune("GABc dedB|")] + ONEILLS))
    out, plot = tmp_path / "validity.tsv", tmp_path / "validity.png"
    assert cli(["validity", "--samples", f"1.0={tmp_path / '1.0'}", "--baseline", str(baseline),
                "--train", str(train), "--out", str(out), "--plot", str(plot)]) == 0
    per_tune = read_tsv(tmp_path / "sample_tunes.tsv")
    assert [(r["file"], r["longest_copy"], float(r["copied"])) for r in per_tune] == [
        ("01.abc", "7", pytest.approx(7 / 11)), ("02.abc", "7", pytest.approx(7 / 11)),
        ("01.abc", str(len(body(ONEILLS[0]))), 1.0), ("02.abc", str(len(body(ONEILLS[1]))), 1.0)]
    summary = read_tsv(out)
    assert list(summary[0]) == SUMMARY_COLUMNS
    assert [(r["temperature"], float(r["longest_copy"]), float(r["copied"])) for r in summary] == [
        ("1.0", 7.0, pytest.approx(7 / 11, abs=1e-6)),
        ("test-set", pytest.approx((len(body(ONEILLS[0])) + len(body(ONEILLS[1]))) / 2), 1.0)]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_validity_reports_missing_renderings(tmp_path):
    write_text(tmp_path / "1.0" / "01.abc", tune("GABc|") + "\n")
    with pytest.raises(AbcrnnError, match=r"render\.tsv: cannot read the render table \(run `abcrnn render --dir"):
        main_validity(["--samples", f"1.0={tmp_path / '1.0'}", "--out", str(tmp_path / "v.tsv")])
    for spec in (str(tmp_path / "1.0"), f":1.0={tmp_path / '1.0'}", f"lstm:={tmp_path / '1.0'}"):
        with pytest.raises(AbcrnnError, match=r"\[RUN:\]LABEL=DIR"):
            main_validity(["--samples", spec, "--out", str(tmp_path / "v.tsv")])


def test_validity_reports_a_bad_training_split(tmp_path):
    write_sample_dir(tmp_path / "1.0", [tune("GABc|")], [True], [{"midi_ok": True, "notes": 4, "errors": 0,
                                                                 "warnings": 0, "score_ok": True}])
    args = ["--samples", f"1.0={tmp_path / '1.0'}", "--out", str(tmp_path / "v.tsv"), "--train"]
    with pytest.raises(AbcrnnError, match=r"--train .*missing\.txt: not found"):
        main_validity(args + [str(tmp_path / "missing.txt")])
    write_text(tmp_path / "plain.abc", tune("GABc|"))
    with pytest.raises(AbcrnnError, match=r"--train .*plain\.abc: no <start>…<end> tunes"):
        main_validity(args + [str(tmp_path / "plain.abc")])


OK = {"midi_ok": True, "notes": 16, "errors": 0, "warnings": 0, "score_ok": True}
BROKEN = {"midi_ok": False, "notes": 3, "errors": 2, "warnings": 0, "score_ok": False}


def test_samples_of_every_run_get_a_row_each_in_the_given_order(tmp_path):
    # the layout of `sample.runs: all`: the best run's samples, then every run's, then the baseline
    samples, runs = tmp_path / "samples", tmp_path / "samples" / "runs"
    for directory in (samples / "1.0", samples / "argmax", runs / "lstm" / "1.0", runs / "lstm" / "argmax"):
        write_sample_dir(directory, [tune("GABc dedB|dBAG A4|]")], [True], [OK])
    for directory in (runs / "rnn" / "1.0", runs / "rnn" / "argmax"):
        write_sample_dir(directory, [tune("GAB]c|"), tune("GAB]c|")], [False, False], [BROKEN, BROKEN])
    baseline = tmp_path / "baseline"
    write_text(baseline / "01.abc", ONEILLS[0] + "\n")
    write_render(baseline, [OK])
    best = tmp_path / "best_run.tsv"
    write_tsv(best, [{"run": "lstm", "val_loss": 1.0}], ["run", "val_loss"])
    out, plot = tmp_path / "validity.tsv", tmp_path / "validity.png"
    specs = [f"1.0={samples / '1.0'}", f"argmax={samples / 'argmax'}"] + [
        f"{run}:{t}={runs / run / t}" for run in ("lstm", "rnn") for t in ("1.0", "argmax")]
    assert cli(["validity", "--samples", *specs, "--baseline", str(baseline), "--best-run", str(best),
                "--min-notes", "4", "--out", str(out), "--plot", str(plot)]) == 0
    rows = read_tsv(out)
    assert list(rows[0]) == SUMMARY_COLUMNS
    assert [(r["run"], r["temperature"], r["tunes"], r["renders_ok"]) for r in rows] == [
        ("lstm", "1.0", "1", "1"), ("lstm", "argmax", "1", "1"),
        ("lstm", "1.0", "1", "1"), ("lstm", "argmax", "1", "1"),
        ("rnn", "1.0", "2", "0"), ("rnn", "argmax", "2", "0"),
        ("", "test-set", "1", "1")]
    # the best run's two sets of samples are told apart by where they came from
    assert [r["samples"] for r in rows] == [str(samples / "1.0"), str(samples / "argmax")] + [
        str(runs / run / t) for run in ("lstm", "rnn") for t in ("1.0", "argmax")] + [str(baseline)]
    per_tune = read_tsv(tmp_path / "sample_tunes.tsv")
    assert [(r["run"], r["temperature"], r["file"]) for r in per_tune if r["samples"] == str(runs / "rnn" / "argmax")] == [
        ("rnn", "argmax", "01.abc"), ("rnn", "argmax", "02.abc")]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the plot: one panel per run's set of temperatures, each with the baseline beside it
    assert [[(r["run"], r["temperature"]) for r in block] for block in plot_blocks(rows)] == [
        [("lstm", "1.0"), ("lstm", "argmax"), ("", "test-set")],
        [("lstm", "1.0"), ("lstm", "argmax"), ("", "test-set")],
        [("rnn", "1.0"), ("rnn", "argmax"), ("", "test-set")]]


def test_the_run_of_plain_samples_comes_from_run_or_best_run(tmp_path):
    write_sample_dir(tmp_path / "1.0", [tune("GABc|")], [True], [OK])
    out = tmp_path / "v.tsv"
    assert main_validity(["--samples", f"1.0={tmp_path / '1.0'}", f"gru:1.0={tmp_path / '1.0'}",
                          "--run", "lstm", "--out", str(out)]) == 0
    assert [(r["run"], r["temperature"]) for r in read_tsv(out)] == [("lstm", "1.0"), ("gru", "1.0")]
    with pytest.raises(AbcrnnError, match=r"--samples: given more than once: lstm:1\.0="):
        main_validity(["--samples", f"1.0={tmp_path / '1.0'}", f"lstm:1.0={tmp_path / '1.0'}",
                       "--run", "lstm", "--out", str(out)])
    with pytest.raises(AbcrnnError, match=r"missing\.tsv: cannot read the best-run table"):
        main_validity(["--samples", f"1.0={tmp_path / '1.0'}", "--best-run", str(tmp_path / "missing.tsv"),
                       "--out", str(out)])
    with pytest.raises(AbcrnnError, match="'test-set' is the baseline's label"):
        main_validity(["--samples", f"lstm:test-set={tmp_path / '1.0'}", "--out", str(out)])
