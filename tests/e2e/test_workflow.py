"""End-to-end: the Snakemake workflow on the tiny corpus, as a user runs it, and its rerun behaviour."""

import shutil
from pathlib import Path

import mido
import pytest
import torch
import yaml

from abcrnn.fileio import read_tsv

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


DATA_TARGETS = ("results/data/char/train.pt", "results/data/char/val.pt", "results/data/char/test.pt",
                "results/tables/corpus_stats_char.tsv")


@pytest.fixture(scope="module")
def data_run(tmp_path_factory, workflow):
    workdir = tmp_path_factory.mktemp("data")
    workflow.config(workdir)
    out = workflow.run(workdir, *DATA_TARGETS)
    assert out.returncode == 0, out.stderr[-3000:]
    return workdir


def test_data_stages_write_corpus_splits_vocab_and_tables(data_run):
    report = read_tsv(data_run / "results/tables/corpus_report.tsv")
    total = report[-1]
    assert total["source"] == "total"
    for row in report:
        dropped = sum(int(v) for k, v in row.items() if k.startswith("dropped"))
        assert int(row["read"]) == int(row["kept"]) + dropped
    assert int(total["read"]) == 48
    tunes = read_tsv(data_run / "results/tables/tunes.tsv")
    assert len(tunes) == int(total["kept"])
    split = {r["id"]: r for r in read_tsv(data_run / "results/data/split.tsv")}
    # Near-duplicate transcriptions (tunes 626-629 twice) are grouped and land in one split.
    groups = {}
    for t in tunes:
        groups.setdefault(t["group"], set()).add(split[t["id"]]["split"])
    assert any(sum(1 for t in tunes if t["group"] == g) > 1 for g in groups)
    assert all(len(s) == 1 for s in groups.values())
    for name in ("char/vocab.json", "train.txt", "val.txt", "test.txt"):
        assert (data_run / "results/data" / name).stat().st_size > 0
    for name in ("corpus", "split", "vocab/char", "encode/char"):
        assert (data_run / f"results/logs/{name}.log").exists()
        assert (data_run / f"results/benchmarks/{name}.tsv").exists()


def test_rerun_does_nothing_and_a_new_seed_reruns_only_the_split_onwards(data_run, workflow):
    assert workflow.planned(data_run, *DATA_TARGETS) == {}
    workflow.config(data_run, split={"seed": 1})
    jobs = workflow.planned(data_run, *DATA_TARGETS)
    assert "corpus" not in jobs
    assert {"split", "vocab", "encode"} <= set(jobs)
    workflow.config(data_run)  # back to the original config: nothing to do again
    assert workflow.planned(data_run, *DATA_TARGETS) == {}


def test_bad_config_stops_before_any_job_with_one_line(tmp_path, workflow):
    workflow.config(tmp_path, split={"val": 0.7, "test": 0.5})
    out = workflow.run(tmp_path, "-n")
    assert out.returncode != 0
    lines = [line for line in (out.stderr + out.stdout).splitlines() if line.startswith("abcrnn:")]
    assert lines == ["abcrnn: config key split: val + test must be below 1 (nothing left to train on), got 1.2"]


def test_missing_source_names_it(tmp_path, workflow):
    path = workflow.config(tmp_path)
    config = yaml.safe_load(path.read_text())
    config["corpus"]["sources"] = ["music21:no-such-collection"]
    path.write_text(yaml.safe_dump(config))
    out = workflow.run(tmp_path, "results/data/corpus.txt")
    assert out.returncode != 0
    assert "no-such-collection" in (tmp_path / "results/logs/corpus.log").read_text()


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, workflow):
    if not (shutil.which("abc2midi") and shutil.which("abcm2ps")):
        pytest.skip("abc2midi/abcm2ps not installed (make setup installs them)")
    workdir = tmp_path_factory.mktemp("full")
    workflow.config(workdir)
    out = workflow.run(workdir)
    assert out.returncode == 0, out.stderr[-4000:]
    return workdir


def midi_notes(path: Path) -> int:
    return sum(1 for m in mido.MidiFile(path) if m.type == "note_on" and m.velocity > 0)


def test_full_pipeline_trains_evaluates_samples_and_renders(full_run):
    rows = read_tsv(full_run / "results/tables/test_loss.tsv")
    assert [r["model"] for r in rows] == ["lstm", "rnn"]
    assert all(r["heads"] == r["context"] == "" for r in rows)  # Transformer settings: blank, not NaN
    for r in rows:
        assert 0 < float(r["test_loss"]) < 5 and float(r["test_bits"]) == pytest.approx(float(r["test_loss"]) / 0.6931472, rel=1e-3)
    best = read_tsv(full_run / "results/tables/best_run.tsv")[0]
    assert best["run"] == min(rows, key=lambda r: float(r["val_loss"]))["run"]
    for plot in ("loss_curves.png", "test_loss.png", "sample_validity.png", "rnn_vs_lstm.png",
                 "activations_hidden.png", "activations_cell.png"):
        assert (full_run / "results/plots" / plot).stat().st_size > 5000
    assert not (full_run / "results/plots/hidden_sweep.png").exists()  # one hidden size in tiny.yaml
    for t in ("1.0", "argmax"):
        d = full_run / "results/samples" / t
        assert sorted(p.name for p in d.glob("*.abc")) == ["01.abc", "02.abc", "03.abc"]
        renders = read_tsv(d / "render.tsv")
        assert [r["file"] for r in renders] == ["01.abc", "02.abc", "03.abc"]
        for r in renders:  # a MIDI file for every tune abc2midi rendered, with the notes the table counts
            mid = d / "rendered" / r["file"].replace(".abc", ".mid")
            if r["midi_ok"] == "True":
                assert midi_notes(mid) == int(r["notes"])
            assert r["score_ok"] in ("True", "False")
        assert list((d / "rendered").glob("*.svg"))
    validity = read_tsv(full_run / "results/tables/sample_validity.tsv")
    assert [r["temperature"] for r in validity] == ["1.0", "argmax", "test-set"]
    baseline = validity[-1]
    assert float(baseline["header_complete"]) == 1.0 and float(baseline["has_notes"]) == 1.0
    midi = sorted((full_run / "results/baseline/rendered").glob("*.mid"))
    assert len(midi) == 4 and midi_notes(midi[0]) > 10


def test_every_file_the_pipeline_writes_is_declared(full_run, workflow):
    out = workflow.run(full_run, "--summary")
    assert out.returncode == 0, out.stderr[-3000:]
    declared = {line.split("\t")[0] for line in out.stdout.splitlines()[1:] if line.strip()}
    folders = [d for d in declared if (full_run / d).is_dir()]
    written = {str(p.relative_to(full_run)) for p in (full_run / "results").rglob("*")
               if p.is_file() and p.name != ".snakemake_timestamp"}
    undeclared = {f for f in written - declared
                  if not f.startswith(("results/logs/", "results/benchmarks/"))
                  and not any(f.startswith(d + "/") for d in folders)}
    assert undeclared == set()
    assert {"results/plots/rnn_vs_lstm.png", "results/plots/activations_cell.png"} <= declared


def test_same_config_gives_identical_tables(full_run, tmp_path, workflow):
    # Determinism: a second run from scratch gives the same result tables, byte for byte.
    workflow.config(tmp_path)
    out = workflow.run(tmp_path, "results/tables/test_loss.tsv")
    assert out.returncode == 0, out.stderr[-3000:]
    def results(workdir):  # every column but the training time and speed, and the trained weights
        rows = [{k: v for k, v in r.items() if k not in ("train_seconds", "chars_per_s")}
                for r in read_tsv(workdir / "results/tables/test_loss.tsv")]
        weights = {p.parent.name: torch.load(p, weights_only=True)["model_state"]
                   for p in (workdir / "results/models").glob("*/best.pt")}
        return rows, weights

    (rows_a, weights_a), (rows_b, weights_b) = results(full_run), results(tmp_path)
    assert rows_a == rows_b and len(rows_a) == 2
    assert weights_a.keys() == weights_b.keys()
    for run in weights_a:  # bit for bit, not approximately
        assert all(torch.equal(weights_a[run][k], weights_b[run][k]) for k in weights_a[run])


def test_adding_a_grid_value_trains_only_the_new_run(full_run, workflow):
    assert workflow.planned(full_run) == {}
    workflow.config(full_run, grid={"hidden": [32, 16]})
    jobs = workflow.planned(full_run)
    assert jobs["train"] == 2 and jobs["evaluate"] == 2  # the new hidden size, for lstm and rnn
    assert "corpus" not in jobs and "encode" not in jobs
    workflow.config(full_run)


def test_a_missing_source_stops_even_when_an_old_corpus_exists(data_run, workflow):
    path = workflow.config(data_run)
    config = yaml.safe_load(path.read_text())
    config["corpus"]["sources"].append("nope/missing.abc")
    path.write_text(yaml.safe_dump(config))
    out = workflow.run(data_run, "-n", *DATA_TARGETS)
    workflow.config(data_run)
    assert out.returncode != 0
    assert "abcrnn: config key corpus.sources: nope/missing.abc does not exist" in out.stderr + out.stdout


def test_quality_table_plots_and_gallery(full_run):
    rows = read_tsv(full_run / "results/tables/quality.tsv")
    assert [(r["temperature"], r["role"]) for r in rows] == [
        ("1.0", "samples"), ("argmax", "samples"), ("test-set", "ceiling"), ("shuffled", "floor")]
    assert all(0 <= float(r["distribution"]) <= 1 for r in rows)
    tunes = read_tsv(full_run / "results/tables/quality_tunes.tsv")
    assert sum(t["temperature"] in ("1.0", "argmax") for t in tunes) == 6
    assert all(t["nearest_title"] for t in tunes if float(t["similarity"]) > 0)
    for family in ("distributions", "form", "novelty", "diversity"):
        assert (full_run / f"results/plots/quality_{family}.png").stat().st_size > 20000
    gallery = full_run / "results/gallery"
    pages = sorted(p.name for p in gallery.glob("*.html"))
    assert pages[:2] == ["compare.html", "index.html"] and len(pages) == 4  # and a page per temperature
    assert "results/samples/argmax" in (gallery / "index.html").read_text(encoding="utf-8")


def test_every_model_kind_and_vocabulary_runs_end_to_end_with_form_aware_sampling(tmp_path, workflow):
    if not (shutil.which("abc2midi") and shutil.which("abcm2ps")):
        pytest.skip("abc2midi/abcm2ps not installed (make setup installs them)")
    workflow.config(tmp_path, corpus={"header_fields": ["X", "T", "M", "L", "K", "R"]},
                    vocab={"unit": {"gru": ["char", "token"], "transformer": ["token"]}},
                    grid={"model": ["gru", "transformer"], "lr": {"gru": [0.01], "transformer": [0.003]},
                          "layers": {"gru": [2], "transformer": [1]}, "dropout": {"gru": [0.1], "transformer": [0.0]},
                          "context": [64]},
                    sample={"runs": "all", "temperatures": [1.0], "per_temperature": 2, "constrain": ["none", "form"]},
                    gallery={"audio": False})
    out = workflow.run(tmp_path)
    assert out.returncode == 0, out.stderr[-4000:]
    rows = {r["run"]: r for r in read_tsv(tmp_path / "results/tables/test_loss.tsv")}
    assert sorted(rows) == ["gru-h32-l2-c50-lr0.01-b4-d0.1", "gru-h32-l2-c50-lr0.01-b4-d0.1-token",
                            "transformer-h32-l1-c50-lr0.003-b4-d0-heads2-ctx64-token"]
    for r in rows.values():
        assert r["corpus"] == "X,T,M,L,K,R"
        per_char = float(r["test_loss"]) * int(r["test_symbols"]) / int(r["test_chars"])
        assert float(r["test_loss_char"]) == pytest.approx(per_char, rel=1e-6) and 0 < per_char < 5
    # the same test text, whatever the unit: every character after the first symbol is scored, and the
    # first symbol is `<` for characters, `<start>` (7 characters) for tokens
    chars = {r["unit"]: int(r["test_chars"]) for r in rows.values()}
    assert chars["char"] - chars["token"] == len("<start>") - 1
    assert int(rows["gru-h32-l2-c50-lr0.01-b4-d0.1-token"]["test_symbols"]) < int(rows["gru-h32-l2-c50-lr0.01-b4-d0.1"]["test_symbols"])
    models = read_tsv(tmp_path / "results/tables/models.tsv")
    assert [(m["model"], m["unit"]) for m in models] == [("gru", "char"), ("gru", "token"), ("transformer", "token"),
                                                         ("test-set", "")]
    for m in models[:3]:  # every run was sampled both ways: no blank quality cell
        assert all(m[f"{c}_{label}"] != "" for c in ("valid", "distribution", "two_part") for label in ("1.0", "1.0-form"))
    assert (tmp_path / "results/plots/models.png").stat().st_size > 20000
    best = read_tsv(tmp_path / "results/tables/best_run.tsv")[0]["run"]
    for run in rows:  # every run sampled once: the best run's sets in results/samples/, the others' under runs/
        folder = tmp_path / ("results/samples" if run == best else f"results/samples/runs/{run}")
        table = read_tsv(folder / "1.0-form/samples.tsv")
        assert [t["constrain"] for t in table] == ["form", "form"] and all(t["plan"] for t in table)
        assert (run == best) != (tmp_path / f"results/samples/runs/{run}").exists()
    validity = read_tsv(tmp_path / "results/tables/sample_validity.tsv")
    assert sorted((r["run"], r["temperature"]) for r in validity if r["temperature"] != "test-set") == sorted(
        (run, label) for run in rows for label in ("1.0", "1.0-form"))  # no set twice
    assert all(r["valid"] == "1" for r in validity if r["temperature"] == "1.0-form")
    assert workflow.planned(tmp_path) == {}
    assert (tmp_path / "results/plots/activations_hidden.png").exists()  # from the best recurrent run
    assert not (tmp_path / "results/plots/activations_cell.png").exists()  # no LSTM in this grid
