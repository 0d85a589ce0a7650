"""Sampling: temperature, argmax, seeds, priming, stopping at <end>, and the `abcrnn sample` files."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from abcrnn.notation.tunes import END, START, join_tagged, split_tagged
from abcrnn.models.checkpoint import save_checkpoint
from abcrnn.settings import RunSettings
from abcrnn.commands.cli import main as cli
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import read_tsv, write_tsv
from abcrnn.models.recurrent import CharRNN, build_model
from abcrnn.generation.sample import SAMPLE_COLUMNS, make_primes, sample_batch, split_sample
from abcrnn.data.vocab import Vocab

DATA = Path(__file__).parents[1] / "data" / "render"
TEST_SPLIT = DATA / "oneills.txt"
TUNE = "X:1\nT:Loop\nM:4/4\nL:1/8\nK:G\nGABc dedB|dBAG A4|]"
SETTINGS = RunSettings(model="lstm", hidden=48, layers=1)


def random_model(vocab: Vocab, seed: int = 0, kind: str = "lstm") -> CharRNN:
    torch.manual_seed(seed)
    return CharRNN(len(vocab), kind, hidden=32).eval()


@pytest.fixture(scope="module")
def corpus_vocab() -> Vocab:
    return Vocab.build(TEST_SPLIT.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def trained():
    """A tiny LSTM that has learned one short tune by heart, so it reliably writes <end>."""
    torch.manual_seed(0)
    text = join_tagged([TUNE]) * 4
    vocab = Vocab.build(text)
    model = build_model(len(vocab), SETTINGS)
    ids = torch.tensor(vocab.encode(text))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(120):
        logits, _ = model(ids[None, :-1])
        loss = torch.nn.functional.cross_entropy(logits[0], ids[1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model.eval(), vocab


@pytest.fixture()
def checkpoint(trained, tmp_path) -> Path:
    model, vocab = trained
    path = tmp_path / "models" / "tiny-run" / "best.pt"
    save_checkpoint(path, model, vocab, SETTINGS, epoch=1)
    return path


def test_very_low_temperature_is_argmax(corpus_vocab):
    model = random_model(corpus_vocab)
    greedy = sample_batch(model, corpus_vocab, f"{START}\n", 3, "argmax", 120, seed=0)
    cold = sample_batch(model, corpus_vocab, f"{START}\n", 3, 1e-6, 120, seed=7)
    assert cold == greedy
    assert len(set(greedy)) == 1  # argmax ignores the seed


def test_top_k_one_is_argmax(corpus_vocab):
    model = random_model(corpus_vocab)
    greedy = sample_batch(model, corpus_vocab, f"{START}\nX:1\n", 2, "argmax", 80, seed=0)
    assert sample_batch(model, corpus_vocab, f"{START}\nX:1\n", 2, 1.5, 80, seed=3, top_k=1) == greedy


@pytest.mark.parametrize("kind, n", [("gru", 4), ("lstm", 9)])  # 9: large batches may take other kernels
def test_same_seed_same_text_and_batch_does_not_matter(corpus_vocab, kind, n):
    model = random_model(corpus_vocab, kind=kind)
    primes = make_primes("test-header", n, seed=10, test_path=TEST_SPLIT)
    batch = sample_batch(model, corpus_vocab, primes, n, 1.0, 150, seed=10, top_p=0.9)
    assert batch == sample_batch(model, corpus_vocab, primes, n, 1.0, 150, seed=10, top_p=0.9)
    for i, prime in enumerate(primes):
        alone = sample_batch(model, corpus_vocab, prime, 1, 1.0, 150, seed=10 + i, top_p=0.9)
        assert alone == [batch[i]]
    assert len(set(batch)) == n
    assert sample_batch(model, corpus_vocab, primes[0], 1, 1.0, 150, seed=11, top_p=0.9) != batch[:1]


def test_never_samples_unknown(corpus_vocab):
    model = random_model(corpus_vocab)
    with torch.no_grad():
        model.head.bias[0] = 50.0  # the model all but insists on <unk>
    for temperature in ("argmax", 1.0, 5.0):
        text = sample_batch(model, corpus_vocab, f"{START}\n", 2, temperature, 50, seed=0)[0]
        assert "<unk>" not in text


def test_stops_at_end_and_keeps_cut_off_tunes(trained):
    model, vocab = trained
    texts = sample_batch(model, vocab, f"{START}\n", 6, 0.5, 400, seed=0)
    for text in texts:
        assert text.endswith(END) and text.count(END) == 1
        sample = split_sample(text, f"{START}\n")
        assert sample.ended and sample.tune == TUNE
    cut = sample_batch(model, vocab, f"{START}\n", 1, 0.5, 20, seed=0)[0]
    assert len(cut) == len(f"{START}\n") + 20
    sample = split_sample(cut, f"{START}\n")
    assert not sample.ended and sample.tune == TUNE[:20].strip("\n")


def test_output_starts_with_prime(trained):
    model, vocab = trained
    prime = make_primes("X:1\\nT:Loop\\nM:4/4\\nL:1/8\\nK:G\\n", 1, 0)[0]
    assert prime == f"{START}\nX:1\nT:Loop\nM:4/4\nL:1/8\nK:G\n"
    text = sample_batch(model, vocab, prime, 1, "argmax", 200, seed=0)[0]
    assert text.startswith(prime) and text.endswith(END)
    assert split_tagged(text) == [TUNE]


def test_test_header_prime_is_a_real_test_tune_header():
    tunes = split_tagged(TEST_SPLIT.read_text(encoding="utf-8"))
    primes = make_primes("test-header", 5, seed=0, test_path=TEST_SPLIT)
    for prime in primes:
        header = prime[len(START) + 1 :]
        assert prime.startswith(f"{START}\nX:") and header.rstrip("\n").split("\n")[-1].startswith("K:")
        assert any(tune.startswith(header) for tune in tunes)
    assert primes == make_primes("test-header", 5, seed=0, test_path=TEST_SPLIT)
    assert make_primes("start", 2, 0) == [f"{START}\n"] * 2
    assert make_primes(f"{START}\nX:5\n", 1, 0) == [f"{START}\nX:5\n"]



def test_a_prime_holding_end_is_refused(checkpoint, tmp_path, capsys):
    """Sampling went on past a prime's own <end>: a prime is the start of a tune, so it is refused."""
    with pytest.raises(AbcrnnError, match="--prime: .*<end>"):
        make_primes("X:1\\nT:Done\\nK:G\\nGABc|\\n<end>\\n", 2, 0)
    argv = ["sample", "--checkpoint", str(checkpoint), "--prime", "X:1\\nK:G\\nabc|<end>", "--out-dir",
            str(tmp_path / "s")]
    assert cli(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "<end>" in err and not (tmp_path / "s").exists()


def test_token_mode_stops_at_end_symbol():
    vocab = Vocab.build(join_tagged([TUNE]), tags="token")
    model = random_model(vocab)
    with torch.no_grad():
        model.head.bias[vocab.id(END)] = 50.0
    texts = sample_batch(model, vocab, f"{START}\nX:1\n", 3, 1.0, 100, seed=0)
    assert texts == [f"{START}\nX:1\n{END}"] * 3
    assert split_sample(texts[0], f"{START}\nX:1\n").ended



def test_max_chars_counts_characters_for_token_models_too(corpus_vocab):
    """sample.max_chars is characters, as config/README.md says: a token model's symbols spell one
    to several characters each, and 300 of them made 321-344 characters."""
    text = TEST_SPLIT.read_text(encoding="utf-8")
    vocab = Vocab.build(text, unit="token")
    longest = max(vocab.symbol_lengths())
    model = random_model(vocab)
    with torch.no_grad():
        model.head.bias[vocab.id(END)] = -50.0  # never ends: every sample is cut off by max_chars
        model.head.bias[[vocab.id(s) for s in vocab.symbols if len(s) > 1]] += 3.0  # mostly long tokens
    prime = f"{START}\nX:1\n"
    for temperature in (1.0, "argmax"):
        texts = sample_batch(model, vocab, prime, 4, temperature, 300, seed=0)
        generated = [len(t) - len(prime) for t in texts]
        assert all(300 - longest < g <= 300 for g in generated), generated
        assert all(not split_sample(t, prime).ended for t in texts)
    chars = Vocab.build(text)
    texts = sample_batch(random_model(chars), chars, prime, 2, 1.0, 50, seed=0)  # characters: exactly 50
    assert [len(t) - len(prime) for t in texts if not t.endswith(END)] == [50] * sum(not t.endswith(END) for t in texts)


def test_bad_options_are_clear_errors(corpus_vocab):
    model = random_model(corpus_vocab)
    with pytest.raises(AbcrnnError, match="temperature"):
        sample_batch(model, corpus_vocab, f"{START}\n", 1, 0.0, 10, seed=0)
    with pytest.raises(AbcrnnError, match="top-p"):
        sample_batch(model, corpus_vocab, f"{START}\n", 1, 1.0, 10, seed=0, top_p=0.0)
    with pytest.raises(AbcrnnError, match="--test"):
        make_primes("test-header", 1, 0, None)


def test_cli_writes_numbered_tunes_and_table(checkpoint, tmp_path):
    out = tmp_path / "samples" / "0.5"
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("the user's own file\n")
    argv = ["sample", "--checkpoint", str(checkpoint), "--temperature", "0.5", "--prime", "start",
            "--max-chars", "300", "--seed", "4", "--out-dir", str(out)]
    assert cli([*argv, "-n", "7"]) == 0
    assert (out / "07.abc").exists()
    rc = cli([*argv, "-n", "3"])  # a smaller set replaces the earlier one, tunes 04-07 included
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["01.abc", "02.abc", "03.abc", "notes.txt", "raw.txt",
                                                      "samples.tsv"]
    assert (out / "01.abc").read_text() == TUNE + "\n"
    rows = read_tsv(out / "samples.tsv")
    assert list(rows[0]) == SAMPLE_COLUMNS
    assert [(r["n"], r["file"], r["seed"], r["temperature"], r["ended"]) for r in rows] == [
        ("1", "01.abc", "4", "0.5", "True"), ("2", "02.abc", "5", "0.5", "True"), ("3", "03.abc", "6", "0.5", "True")]
    assert rows[0]["prime"] == "<start>\\n"
    raw = (out / "raw.txt").read_text()
    assert raw.count(END) == 3 and "sample 02 | seed 5" in raw


def test_cli_never_overwrites_files_it_did_not_write(checkpoint, tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "1.abc").write_text("X:1\nT:mine\nK:D\nabc|\n")
    (out / "raw.txt").write_text("my notes\n")
    argv = ["sample", "--checkpoint", str(checkpoint), "--prime", "start", "-n", "2", "--max-chars", "30",
            "--out-dir", str(out)]
    assert cli(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "raw.txt, which abcrnn sample did not write" in err
    assert sorted(p.name for p in out.iterdir()) == ["1.abc", "raw.txt"]
    assert (out / "raw.txt").read_text() == "my notes\n"
    (out / "raw.txt").unlink()
    assert cli(argv) == 0  # files with other names are left alone
    assert (out / "1.abc").read_text() == "X:1\nT:mine\nK:D\nabc|\n"


def test_cli_best_run_prints_to_stdout(checkpoint, tmp_path, capsys):
    best = tmp_path / "best_run.tsv"
    write_tsv(best, [{"run": "tiny-run", "val_loss": 0.1}], ["run", "val_loss"])
    rc = cli(["sample", "--best-run", str(best), "--models-dir", str(tmp_path / "models"), "--temperature",
              "argmax", "--prime", "test-header", "--test", str(TEST_SPLIT), "-n", "2", "--max-chars", "50"])
    assert rc == 0
    printed = capsys.readouterr().out
    assert printed.count(f"{START}\nX:") == 2 and "sample 01" in printed and "sample 02" in printed


def test_cli_reports_bad_input_in_one_line(checkpoint, tmp_path, capsys):
    assert cli(["sample", "--checkpoint", str(tmp_path / "missing.pt")]) == 1
    assert cli(["sample", "--checkpoint", str(checkpoint), "--temperature", "hot"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"abcrnn sample: error: {tmp_path / 'missing.pt'}: checkpoint not found",
                   "abcrnn sample: error: temperature: must be a positive number or 'argmax', got 'hot'"]
