"""Musical quality: every metric tells real tunes from a model's tunes from noise; novelty catches
copies, transposed or not, by name; diversity catches a set of one tune; the `abcrnn quality` stage."""

from __future__ import annotations

import random
import re
from pathlib import Path

import music21
import numpy as np
import pytest

from abcrnn.notation.tunes import join_tagged, split_tagged
from abcrnn.commands.cli import main as cli
from abcrnn.analysis.distributions import FAMILIES, features, overlaps, profiles
from abcrnn.fileio import read_tsv, write_text, write_tsv
from abcrnn.notation.melody import four_bar_parts, read_melody, two_part_form
from abcrnn.analysis.quality import SUMMARY_COLUMNS, TUNE_COLUMNS, TuneSet, measure
from abcrnn.data.reader import read_abc_text
from abcrnn.generation.sample import SAMPLE_COLUMNS
from abcrnn.analysis.similarity import MelodyIndex, mean_within, ngrams, similarity

DATA = Path(__file__).parents[1] / "data"
ONEILLS = Path(music21.__file__).parent / "corpus" / "oneills1850"


def abc_tunes(path: Path) -> list[str]:
    return [t.text for t in read_abc_text(path.read_text(encoding="utf-8"), str(path))[0]]


@pytest.fixture(scope="module")
def corpus() -> list[str]:
    """O'Neill's collection as music21 ships it, in a seeded order: the first 300 tunes are the real
    tunes everything is compared with (as the test split is in the pipeline), the next 20 a real set."""
    tunes = [t for path in sorted(ONEILLS.glob("*.abc")) for t in abc_tunes(path)]
    random.Random(0).shuffle(tunes)
    return tunes


@pytest.fixture(scope="module")
def reference(corpus) -> list[str]:
    return corpus[:300]


@pytest.fixture(scope="module")
def sets(corpus) -> dict[str, list[str]]:
    """Twenty tunes each: real ones (not in the reference), and the default model's samples at
    T = 0.7 and T = 2.0 (tests/data/quality/README.md)."""
    samples = {t: split_tagged((DATA / "quality" / f"samples-{t}.txt").read_text(encoding="utf-8"))
               for t in ("0.7", "2.0")}
    return {"real": corpus[300:320], **samples}


def test_every_distribution_ranks_real_tunes_first_then_t07_then_noise(reference, sets):
    ref = profiles([features(read_melody(t)) for t in reference])
    scores = {name: overlaps([features(read_melody(t)) for t in tunes], ref) for name, tunes in sets.items()}
    for family in FAMILIES:
        real, warm, hot = (scores[name][family] for name in ("real", "0.7", "2.0"))
        assert real > warm > hot, f"{family}: real {real:.3f}, T 0.7 {warm:.3f}, T 2.0 {hot:.3f}"


FORM = {  # measure: (per tune, summary over a set) as quality.tsv has them
    "two-part form": (lambda m: float(two_part_form(m)), np.mean),
    "parts of whole 4-bar phrases": (lambda m: float(four_bar_parts(m)), np.mean),
    "ends on the tonic": (lambda m: float(m.ends_on_tonic()), np.mean),
    "final bar complete": (lambda m: float(m.final_complete()), np.mean),
}


def test_every_form_measure_ranks_real_tunes_first_then_t07_then_noise(reference, sets):
    melodies = {name: [read_melody(t) for t in tunes] for name, tunes in sets.items()}
    target = {k: summary([f(read_melody(t)) for t in reference]) for k, (f, summary) in FORM.items()}
    for measure_, (f, summary) in FORM.items():
        gap = {name: abs(summary([f(m) for m in ms]) - target[measure_]) for name, ms in melodies.items()}
        assert gap["real"] < gap["0.7"] < gap["2.0"], f"{measure_}: distance from the reference {gap}"


def transposed_up_a_tone(tune: str) -> str:
    """A K:G tune without accidentals, a tone higher in A: each note letter one step up."""
    step = {**dict(zip("CDEFGAcdefga", "DEFGABdefgab")), "B": "c", "b": "c'"}
    head, body = tune.split("K:G\n", 1)
    return head + "K:A\n" + re.sub(r"[A-Ga-g]", lambda m: step[m.group(0)], body)


def test_novelty_names_a_copied_training_tune_in_any_key(reference):
    training = [read_melody(t) for t in reference]
    index = MelodyIndex(training)
    source = next(t for t in reference if "\nK:G\n" in t and not any(c in t.split("K:G\n")[1] for c in "^_=,'")
                  and len(read_melody(t).notes) > 60)
    title = read_melody(source).title
    copy = source.replace(f"T:{title}", "T:A New Tune").replace("X:", "X:9")
    moved = transposed_up_a_tone(copy)
    assert [p + 2 for p in read_melody(copy).pitches] == read_melody(moved).pitches  # a true transposition
    for text in (copy, moved):
        nearest = index.nearest(read_melody(text))
        assert nearest.similarity == 1.0
        assert training[nearest.index].title == title
    unrelated = index.nearest(read_melody(abc_tunes(DATA / "tiny" / "oneills-1801-1840.abc")[0]))
    assert unrelated.similarity < 0.3


def test_a_set_of_one_tune_repeated_has_no_diversity(sets):
    one = [ngrams(read_melody(sets["real"][0]))] * 5
    assert mean_within(one) == 1.0
    real = mean_within([ngrams(read_melody(t)) for t in sets["real"]])
    assert real < 0.1
    assert similarity(frozenset(), one[0]) == 0.0


def write_samples(folder: Path, tunes: list[str], primes: list[str]) -> None:
    rows = []
    for n, (text, prime) in enumerate(zip(tunes, primes), 1):
        write_text(folder / f"{n:02d}.abc", text.strip("\n") + "\n")
        rows.append({"n": n, "file": f"{n:02d}.abc", "seed": n - 1, "temperature": folder.name, "ended": True,
                     "chars": len(text), "prime": prime.replace("\n", "\\n")})
    write_tsv(folder / "samples.tsv", rows, SAMPLE_COLUMNS)


@pytest.fixture
def stage(tmp_path, reference, sets):
    """A quality stage's inputs: splits from the reference tunes, and two sample folders."""
    write_text(tmp_path / "train.txt", join_tagged(reference[:200]))
    write_text(tmp_path / "test.txt", join_tagged(reference[200:]))
    copy = reference[5].replace("T:", "T:Copy of ", 1)
    write_samples(tmp_path / "0.7", sets["0.7"][:5] + [copy], ["<start>\n"] * 6)
    write_samples(tmp_path / "2.0", sets["2.0"][:6], ["<start>\n"] * 6)
    return tmp_path


def run_quality(folder: Path, out: str = "quality.tsv", *extra: str) -> int:
    return cli(["quality", "--samples", f"0.7={folder / '0.7'}", "--samples", f"2.0={folder / '2.0' / 'samples.tsv'}",
                "--run", "lstm", "--train", str(folder / "train.txt"), "--test", str(folder / "test.txt"),
                "--draws", "5", "--out", str(folder / out), "--tunes-out", str(folder / f"tunes-{out}"), *extra])


def test_quality_stage_writes_the_table_the_tunes_and_the_plots(stage):
    plots = [f"--plot-{f}" for f in ("distributions", "form", "novelty", "diversity")]
    flags = [x for f in plots for x in (f, str(stage / f"{f[7:]}.png"))]
    assert run_quality(stage, "quality.tsv", *flags) == 0
    rows = read_tsv(stage / "quality.tsv")
    assert list(rows[0]) == SUMMARY_COLUMNS
    assert [(r["temperature"], r["role"], r["reference"]) for r in rows] == [
        ("0.7", "samples", "test"), ("2.0", "samples", "test"), ("test-set", "ceiling", "train"),
        ("shuffled", "floor", "train")]
    by = {r["temperature"]: r for r in rows}
    assert float(by["test-set"]["distribution"]) > float(by["0.7"]["distribution"]) > float(by["2.0"]["distribution"])
    assert float(by["shuffled"]["distribution"]) < float(by["test-set"]["distribution"])
    assert float(by["0.7"]["copies"]) == pytest.approx(1 / 6, abs=1e-6)  # the copied tune, and only it
    tunes = read_tsv(stage / "tunes-quality.tsv")
    assert list(tunes[0]) == TUNE_COLUMNS
    copied = next(t for t in tunes if t["title"].startswith("Copy of "))
    assert copied["copy"] == "True" and float(copied["similarity"]) == 1.0
    assert copied["nearest_title"] == read_melody(reference_tune(stage, 5)).title
    assert copied["nearest_x"] == read_melody(reference_tune(stage, 5)).x
    assert sum(t["temperature"] == "test-set" for t in tunes) == 100  # each test tune with its nearest tune
    for f in plots:
        assert (stage / f"{f[7:]}.png").stat().st_size > 20000


def reference_tune(stage: Path, k: int) -> str:
    return split_tagged((stage / "train.txt").read_text(encoding="utf-8"))[k]


def test_same_inputs_give_the_same_tables_byte_for_byte(stage):
    assert run_quality(stage, "a.tsv") == 0 and run_quality(stage, "b.tsv") == 0
    assert (stage / "a.tsv").read_bytes() == (stage / "b.tsv").read_bytes()
    assert (stage / "tunes-a.tsv").read_bytes() == (stage / "tunes-b.tsv").read_bytes()


def test_a_missing_tune_is_named_in_one_line(stage, capsys):
    (stage / "2.0" / "03.abc").unlink()
    assert run_quality(stage) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "03.abc" in err[0] and "cannot read the tune" in err[0]


def test_reference_rows_are_measured_at_the_sample_sets_size(reference):
    tunes = [read_melody(t) for t in reference[:40]]
    small = TuneSet("0.7", "", "samples", [str(k) for k in range(10)], tunes[:10])
    result = measure([small], reference[40:120], reference[120:200], 0.5, 8, 0)
    test_row = result.summary[1]
    assert test_row["temperature"] == "test-set" and test_row["tunes"] == 80
    big = measure([TuneSet("0.7", "", "samples", [], tunes)], reference[40:120], reference[120:200], 0.5, 8, 0)
    # drawn at 10 tunes, the real tunes' overlaps are lower than drawn at 40: the same small-sample penalty
    assert test_row["distribution"] < big.summary[1]["distribution"]
