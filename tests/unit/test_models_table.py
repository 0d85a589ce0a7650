"""models.tsv: one row per model kind and vocabulary, its best run with that run's own sample quality."""
from abcrnn.commands.cli import main
from abcrnn.fileio import read_tsv, write_tsv

RUN_COLUMNS = ["run", "model", "unit", "corpus", "params", "epochs_trained", "train_seconds", "chars_per_s",
               "val_loss", "val_loss_char", "test_loss", "test_loss_char", "test_bits_char"]


def run(name, model, unit, val_char, test_char):
    return {"run": name, "model": model, "unit": unit, "corpus": "X,T,M,L,K", "params": 1000, "epochs_trained": 3,
            "train_seconds": 10, "chars_per_s": 5000, "val_loss": val_char * 1.2, "val_loss_char": val_char,
            "test_loss": test_char * 1.2, "test_loss_char": test_char, "test_bits_char": test_char / 0.693}


def test_each_kind_and_unit_gets_its_best_run_and_that_runs_quality(tmp_path, capsys):
    runs = [run("lstm-small", "lstm", "char", 1.30, 1.31), run("lstm-big", "lstm", "char", 1.10, 1.12),
            run("tf-token", "transformer", "token", 1.05, 1.02)]
    write_tsv(tmp_path / "test_loss.tsv", runs, RUN_COLUMNS)
    validity = [{"temperature": t, "run": r, "bars_match_meter": fit, "renders_ok": 0.9, "valid": fit}
                for r, fit in (("lstm-small", 0.2), ("lstm-big", 0.6), ("tf-token", 0.8))
                for t in ("0.7", "0.7-meter", "2.0")]
    validity.append({"temperature": "test-set", "run": "", "bars_match_meter": 0.99, "renders_ok": 1.0})
    write_tsv(tmp_path / "validity.tsv", validity, ["temperature", "run", "bars_match_meter", "renders_ok"])
    quality = [{"temperature": t, "run": r, "distribution": d, "copies": 0.0}
               for r, d in (("lstm-small", 0.1), ("lstm-big", 0.5), ("tf-token", 0.7)) for t in ("0.7", "0.7-meter")]
    quality.append({"temperature": "test-set", "run": "", "distribution": 0.9, "copies": 0.0})
    write_tsv(tmp_path / "quality.tsv", quality, ["temperature", "run", "distribution", "copies"])
    assert main(["models", "--test-loss", str(tmp_path / "test_loss.tsv"), "--validity", str(tmp_path / "validity.tsv"),
                 "--quality", str(tmp_path / "quality.tsv"), "--out", str(tmp_path / "models.tsv"),
                 "--plot", str(tmp_path / "models.png")]) == 0
    rows = read_tsv(tmp_path / "models.tsv")
    assert [(r["model"], r["unit"], r["run"]) for r in rows] == [
        ("lstm", "char", "lstm-big"), ("transformer", "token", "tf-token"), ("test-set", "", "(real tunes)")]
    big, tf, real = rows
    assert big["runs_of_kind"] == "2" and big["test_loss_char"] == "1.12"
    assert (big["bars_match_meter_0.7"], big["distribution_0.7"]) == ("0.6", "0.5")  # its own samples, not the other LSTM's
    assert tf["bars_match_meter_0.7-meter"] == "0.8" and real["bars_match_meter_0.7"] == "0.99"
    assert "bars_match_meter_2.0" not in big  # only the headline temperatures
    assert (tmp_path / "models.png").stat().st_size > 20000


def test_a_table_without_the_needed_columns_is_named(tmp_path, capsys):
    write_tsv(tmp_path / "t.tsv", [{"run": "a"}], ["run"])
    assert main(["models", "--test-loss", str(tmp_path / "t.tsv"), "--validity", str(tmp_path / "t.tsv"),
                 "--quality", str(tmp_path / "t.tsv"), "--out", str(tmp_path / "m.tsv")]) == 1
    err = capsys.readouterr().err
    assert "t.tsv: not a test-loss table (missing column(s) model, val_loss, test_loss_char)" in err
