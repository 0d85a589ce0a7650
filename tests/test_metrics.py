"""Validity measures: header completeness, bar lengths, repetition, copying, and the validity table."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcrnn.abc import body, join_tagged, split_tagged
from abcrnn.cli import main as cli
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import read_tsv, write_text, write_tsv
from abcrnn.metrics import (SEPARATOR, SUMMARY_COLUMNS, TUNE_COLUMNS, CopyFinder, bar_check, header_complete,
                            main_validity, meter_length, novelty, plot_blocks, repetition, unit_length)
from abcrnn.render import RENDER_COLUMNS
from abcrnn.sample import SAMPLE_COLUMNS

DATA = Path(__file__).parent / "data" / "render"
ONEILLS = split_tagged((DATA / "oneills.txt").read_text(encoding="utf-8"))
ARGMAX = (DATA / "argmax-loop.abc").read_text(encoding="utf-8")
HEAD = "X:1\nT:Test\nM:{meter}\nL:1/8\nK:G\n"


def tune(music: str, meter: str = "4/4") -> str:
    return HEAD.format(meter=meter) + music


def test_header_complete_needs_x_t_m_k_but_not_l():
    assert header_complete("X:1\nT:A\nM:6/8\nL:1/8\nK:D\nABc|")
    assert header_complete("X:1\nT:A\nM:6/8\nK:D\nABc|")  # L: defaults from M:
    assert not header_complete("X:1\nM:6/8\nL:1/8\nK:D\nABc|")  # no title
    assert not header_complete("X:1\nT:A\nL:1/8\nK:D\nABc|")  # no meter
    assert not header_complete("X:1\nT:A\nM:6/8\nL:1/8\nABc|")  # no key
    assert not header_complete("ABc dBA|")


def test_meter_and_default_unit_follow_abc_rules():
    assert [meter_length(m) for m in ("C", "C|", "6/8", "2+3/8", "none", None)] == [
        1, 1, Fraction(3, 4), Fraction(5, 8), None, None]
    assert unit_length(None, Fraction(1, 2)) == Fraction(1, 16)  # 2/4: sixteenths
    assert unit_length(None, Fraction(3, 4)) == Fraction(1, 8)
    assert unit_length("1/4", Fraction(3, 4)) == Fraction(1, 4)


@pytest.mark.parametrize("music, meter", [
    ("GABc dedB|dBAG A4|]", "4/4"),
    ("A/B/c/d/ e2 f3/2g/ a2|B>A G<F E2 D2|]", "4/4"),          # halves, dotted, broken rhythm
    ("(3ABc d2 [CEG]2 z2|[G2B2d2] {ag}f2 !trill!e2 \"D\"d2|]", "4/4"),  # tuplet, chords, graces, annotations
    ("D|G2A BAG|A2B c2d|[M:2/4] e2 d2|[L:1/16] e4 d4|]", "6/8"),  # pickup, inline meter and unit
    ("ABc|\nM:3/4\nABc dBA|z6|]", "3/8"),                     # meter change on its own line
    ("|:GAB cBA|1 GAB c3:|2 GAB c2B||", "6/8"),                # repeats and variant endings
])
def test_well_formed_bars_match_the_meter(music, meter):
    judged, share = bar_check(tune(music, meter))
    assert judged >= 2 and share == 1.0


def test_wrong_bars_are_counted():
    # the second bar is one eighth short in the middle of the tune, the third one eighth long
    assert bar_check(tune("GABc dedB|dBAG A3|dBAG A4 B|GABc dedB|]")) == (4, 0.5)
    # pickups at the start, the end and around a double bar are not judged
    assert bar_check(tune("A|GABc dedB|dBAG A2||B|GABc dedB|A2")) == (2, 1.0)
    judged, share = bar_check("X:1\nT:Free\nM:none\nK:G\nABc|def|")
    assert judged == 0 and math.isnan(share)


def test_real_oneills_tunes_score_high_and_the_argmax_loop_does_not():
    shares = [bar_check(t)[1] for t in ONEILLS]
    assert min(shares) >= 0.8 and sum(shares) / len(shares) >= 0.9
    assert bar_check(ARGMAX)[1] == 0.0  # its two-beat bars under M:9/8


def test_repetition_catches_dead_loops_but_not_real_tunes():
    assert repetition(tune("B2 B2 | B2 B2 | B2 B2 |")) == 1.0
    endless = tune("~A3 AB|d2 dB | B2 BA | " + "B2 B2 | " * 200)  # an argmax sample cut off at --max-chars
    assert repetition(endless) > 0.95
    assert repetition(ARGMAX) > 0.4  # the paper's argmax tune (Figure 21)
    assert all(repetition(t) < 0.1 for t in ONEILLS)
    assert repetition(tune("")) == 0.0


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ABCGabcgzxZy|:[]()<>{}!\"^_=,'/0123-.~ \nMLK&\\%", max_size=200),
       st.sampled_from(["C", "6/8", "0/0", "none", "", "x/y"]), st.sampled_from(["1/8", "1/0", ""]))
def test_measures_never_fail_on_garbage(music, meter, unit):
    # temperature 2 writes any characters at all; the table must still be made
    text = f"X:1\nT:x\nM:{meter}\nL:{unit}\nK:G\n{music}"
    judged, share = bar_check(text)
    assert judged >= 0 and (math.isnan(share) or 0 <= share <= 1)
    assert 0 <= repetition(text) <= 1 and 0 <= repetition(music) <= 1


def finder_of(*musics: str) -> CopyFinder:
    return CopyFinder(body(tune(m)) for m in musics)


def test_a_tune_found_in_the_training_set_is_fully_copied():
    finder = CopyFinder(body(t) for t in ONEILLS)
    assert all(novelty(t, finder) == (len(body(t)), 1.0) for t in ONEILLS)


def test_longest_copy_is_the_longest_shared_run_of_the_body():
    # 'ABc ded' (7 characters) is the longest run of the body found in the training tune
    assert novelty(tune("zzABc dedzz"), finder_of("GABc dedB|")) == (7, pytest.approx(7 / 11))
    # the header is not music: 'L:1/8' is in every header but in no training body
    assert novelty(tune("L:1/8"), finder_of("ABC")) == (0, 0.0)
    assert novelty(tune(""), finder_of("ABC")) == (0, 0.0)
    assert novelty("ABC", finder_of("ABC")) == (0, 0.0)  # no K: line, no body


def test_a_copy_never_runs_across_two_training_tunes():
    finder = finder_of("ABCD", "EFGH")
    assert finder.longest_copy("CDEFG") == 3  # 'EFG'; joined without a separator it would be 5
    assert finder.longest_copy("ABCD" + SEPARATOR + "EFGH") == 4
    assert CopyFinder(["AB" + SEPARATOR + "CD"]).longest_copy("BC") == 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ab|", max_size=12), min_size=1, max_size=4), st.text(alphabet="ab|c", max_size=16))
def test_longest_copy_matches_a_brute_force_search(training, query):
    finder = CopyFinder(training)
    expected = max((j - i for i in range(len(query)) for j in range(i + 1, len(query) + 1)
                    if any(query[i:j] in t for t in training)), default=0)
    assert finder.longest_copy(query) == expected


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
    with pytest.raises(AbcrnnError, match=r"render\.tsv: not found \(run `abcrnn render --dir"):
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
    with pytest.raises(AbcrnnError, match=r"missing\.tsv: not found \(the best-run table"):
        main_validity(["--samples", f"1.0={tmp_path / '1.0'}", "--best-run", str(tmp_path / "missing.tsv"),
                       "--out", str(out)])
    with pytest.raises(AbcrnnError, match="'test-set' is the baseline's label"):
        main_validity(["--samples", f"lstm:test-set={tmp_path / '1.0'}", "--out", str(out)])
