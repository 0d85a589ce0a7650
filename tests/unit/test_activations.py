import numpy as np
import torch

from abcrnn.analysis.activations import effect_sizes, header_mask, record_states
from abcrnn.models.checkpoint import save_checkpoint
from abcrnn.settings import RunSettings
from abcrnn.commands.cli import main
from abcrnn.fileio import read_tsv, write_tsv
from abcrnn.models.recurrent import CharRNN
from abcrnn.data.vocab import Vocab

TUNE = "<start>\nX:1\nT:A\nM:3/4\nK:G\nGAB c2 d|e3 d2 B|\n<end>\n"


def test_header_mask_covers_start_through_the_key_line():
    pieces = list(TUNE + TUNE)
    mask = header_mask(pieces)
    header = "".join(p for p, m in zip(pieces, mask) if m)
    assert header.startswith("<start>\nX:1\nT:A\nM:3/4\nK:G\n")
    assert "GAB" not in header and header.count("K:G") == 2  # the second tune's header too


def test_effect_size_finds_the_neuron_that_separates_header_from_music():
    rng = np.random.default_rng(0)
    mask = np.array([True] * 30 + [False] * 70)
    acts = rng.normal(0, 0.1, (100, 8))
    acts[~mask, 5] += 0.8
    d = effect_sizes(acts, mask)
    assert int(np.argmax(np.abs(d))) == 5 and d[5] > 3


def test_record_states_matches_a_full_forward_pass():
    torch.manual_seed(0)
    vocab = Vocab.build(TUNE)
    model = CharRNN(len(vocab), "lstm", hidden=12).eval()
    ids = vocab.encode(TUNE)
    states = record_states(model, ids)
    with torch.no_grad():
        _, (h, c) = model(torch.tensor([ids]))
    assert states["hidden"].shape == (len(ids), 12)
    np.testing.assert_allclose(states["hidden"][-1], h[-1, 0].numpy(), atol=1e-6)
    np.testing.assert_allclose(states["cell"][-1], c[-1, 0].numpy(), atol=1e-6)


def test_cli_writes_heatmaps_and_neuron_table(tmp_path):
    torch.manual_seed(0)
    vocab = Vocab.build(TUNE)
    model = CharRNN(len(vocab), "lstm", hidden=16)
    ckpt = tmp_path / "run-a" / "best.pt"
    save_checkpoint(ckpt, model, vocab, RunSettings(model="lstm", hidden=16), epoch=1)
    assert main(["activations", "--checkpoint", str(ckpt), "--length", "120", "--hidden-plot", str(tmp_path / "p" / "h.png"),
                 "--cell-plot", str(tmp_path / "p" / "c.png"), "--table", str(tmp_path / "neurons.tsv")]) == 0
    rows = read_tsv(tmp_path / "neurons.tsv")
    assert {r["state"] for r in rows} == {"hidden", "cell"} and rows[0]["run"] == "run-a"
    assert (tmp_path / "p" / "h.png").stat().st_size > 10000
    assert (tmp_path / "p" / "c.png").stat().st_size > 10000


def test_runs_table_picks_the_best_run_and_the_best_lstm(tmp_path, capsys):
    torch.manual_seed(0)
    vocab = Vocab.build(TUNE)
    rows = []
    for name, kind, val in (("gru-a", "gru", 1.0), ("lstm-b", "lstm", 1.5), ("lstm-c", "lstm", 1.2)):
        save_checkpoint(tmp_path / "m" / name / "best.pt", CharRNN(len(vocab), kind, hidden=8), vocab,
                        RunSettings(model=kind, hidden=8), epoch=1)
        rows.append({"run": name, "model": kind, "val_loss": val})
    write_tsv(tmp_path / "test_loss.tsv", rows, ["run", "model", "val_loss"])
    argv = ["activations", "--runs", str(tmp_path / "test_loss.tsv"), "--models-dir", str(tmp_path / "m"),
            "--length", "60", "--hidden-plot", str(tmp_path / "h.png"), "--table", str(tmp_path / "n.tsv")]
    assert main([*argv, "--cell-plot", str(tmp_path / "c.png")]) == 0
    chosen = {(r["state"], r["run"]) for r in read_tsv(tmp_path / "n.tsv")}
    assert chosen == {("hidden", "gru-a"), ("cell", "lstm-c")}
    write_tsv(tmp_path / "test_loss.tsv", rows[:1], ["run", "model", "val_loss"])
    assert main([*argv, "--cell-plot", str(tmp_path / "c.png")]) == 1
    assert "no LSTM run" in capsys.readouterr().err
