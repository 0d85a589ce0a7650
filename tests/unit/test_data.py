import torch

from abcrnn.notation.tunes import join_tagged, split_tagged
from abcrnn.commands.cli import main
from abcrnn.data.splits import assign_splits, hash_fraction, header_stats, normalise
from abcrnn.fileio import read_tsv
from abcrnn.data.vocab import UNK, Vocab


def make_tunes(n, offset=0):
    return [f"X:{i}\nT:Tune {i}\nM:6/8\nL:1/8\nK:{'GDA'[i % 3]}\n{'ABc' * (i % 5 + 1)}|d2e f2g|" for i in range(offset, offset + n)]


def test_split_fractions_follow_config():
    names = assign_splits(make_tunes(2000), None, val=0.1, test=0.2, seed=0)
    assert abs(names.count("val") / 2000 - 0.1) < 0.03
    assert abs(names.count("test") / 2000 - 0.2) < 0.03


def test_adding_tunes_never_moves_existing_ones():
    old = make_tunes(300)
    new = old + make_tunes(200, offset=300)
    assert assign_splits(new, None, 0.1, 0.1, 0)[:300] == assign_splits(old, None, 0.1, 0.1, 0)


def test_seed_changes_the_split_and_is_reproducible():
    tunes = make_tunes(300)
    assert assign_splits(tunes, None, 0.1, 0.1, 1) == assign_splits(tunes, None, 0.1, 0.1, 1)
    assert assign_splits(tunes, None, 0.1, 0.1, 1) != assign_splits(tunes, None, 0.1, 0.1, 0)


def test_near_duplicate_groups_never_straddle_splits():
    tunes = make_tunes(400)
    groups = [i - i % 4 for i in range(400)]  # groups of four copies, led by their first tune
    names = assign_splits(tunes, groups, 0.2, 0.2, 0)
    for leader in range(0, 400, 4):
        assert len(set(names[leader:leader + 4])) == 1


def test_normalise_collapses_whitespace_and_keeps_everything_else():
    assert normalise("  X:1\r\nT:Reel \t\n\nK:D\n|:abc  d2|\n") == "X:1 T:Reel K:D |:abc d2|"
    assert normalise("abc d") != normalise("abcd")  # a space inside a line is collapsed, not removed
    assert normalise("ABc") != normalise("abc")


def test_hash_is_seeded_and_in_the_unit_interval():
    assert hash_fraction("a b", 0) != hash_fraction("a b", 1)
    assert hash_fraction("a b", 3) == hash_fraction("a b", 3)
    assert all(0 <= hash_fraction(f"tune {i}", 7) < 1 for i in range(200))


def test_split_ignores_whitespace_layout_but_not_notes():
    tunes = make_tunes(300)
    relaid = ["  " + t.replace("\n", " \r\n\t") + "\n\n" for t in tunes]  # same text, other line ends and spacing
    assert assign_splits(relaid, None, 0.3, 0.3, 0) == assign_splits(tunes, None, 0.3, 0.3, 0)
    changed = [t.replace("d2e", "d2f") for t in tunes]  # one note different: a different tune
    assert assign_splits(changed, None, 0.3, 0.3, 0) != assign_splits(tunes, None, 0.3, 0.3, 0)


def test_vocab_modes_and_unknown_symbols():
    text = join_tagged(["X:1\nK:G\nABc|"])
    chars = Vocab.build(text, "chars")
    token = Vocab.build(text, "token")
    assert chars.symbols[0] == token.symbols[0] == UNK
    assert "<start>" not in chars.symbols and "<" in chars.symbols
    assert "<start>" in token.symbols and "<end>" in token.symbols
    assert len(token.encode(text)) == len(text) - 6 - 4  # <start> (7 chars) and <end> (5) are one symbol each
    assert chars.decode(chars.encode(text)) == text == token.decode(token.encode(text))
    assert chars.encode("Z")[0] == 0 and chars.count_unknown("ZZA") == 2


def test_data_stages_cli(tmp_path, capsys):
    tunes = make_tunes(60)
    (tmp_path / "corpus.txt").write_text(join_tagged(tunes))
    data = tmp_path / "data"
    assert main(["split", "--corpus", str(tmp_path / "corpus.txt"), "--val", "0.2", "--test", "0.2",
                 "--seed", "0", "--out-dir", str(data)]) == 0
    parts = {s: split_tagged((data / f"{s}.txt").read_text()) for s in ("train", "val", "test")}
    assert sorted(sum(parts.values(), [])) == sorted(tunes)  # every tune in exactly one split
    assert main(["vocab", "--train", str(data / "train.txt"), "--tags", "chars", "--out", str(data / "vocab.json")]) == 0
    stats = tmp_path / "corpus_stats.tsv"
    assert main(["encode", "--vocab", str(data / "vocab.json"), "--data-dir", str(data), "--out-dir", str(data),
                 "--stats", str(stats)]) == 0
    vocab = Vocab.load(data / "vocab.json")
    ids = torch.load(data / "train.pt", weights_only=True)
    assert ids.dtype == torch.int64 and vocab.decode(ids.tolist()) == (data / "train.txt").read_text()
    rows = {(r["category"], r["name"]): r["value"] for r in read_tsv(stats)}
    assert int(rows[("train", "tunes")]) == len(parts["train"])
    assert int(rows[("vocab", "size")]) == len(vocab)
    assert float(rows[("train", "unknown_rate")]) == 0.0
    assert int(rows[("key", "G")]) == 20 and int(rows[("meter", "6/8")]) == 60


def test_empty_split_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "corpus.txt").write_text(join_tagged(make_tunes(2)))
    code = main(["split", "--corpus", str(tmp_path / "corpus.txt"), "--val", "0.1", "--test", "0.1",
                 "--out-dir", str(tmp_path / "d")])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "split is empty" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "d").exists()  # nothing half-written


def test_header_stats_most_common_first():
    rows = header_stats(make_tunes(9) + ["X:1\nT:x\nR:reel\nK:G\nabc|"])
    keys = [(r["name"], r["value"]) for r in rows if r["category"] == "key"]
    assert keys[0] == ("G", 4)
    assert ("reel", 1) in [(r["name"], r["value"]) for r in rows if r["category"] == "rhythm"]


def test_token_vocabulary_cli_encodes_fewer_symbols_and_decodes_back(tmp_path, capsys):
    tunes = make_tunes(60)
    (tmp_path / "corpus.txt").write_text(join_tagged(tunes))
    data = tmp_path / "data"
    assert main(["split", "--corpus", str(tmp_path / "corpus.txt"), "--out-dir", str(data)]) == 0
    out = {}
    for unit in ("char", "token"):
        folder = data / unit
        assert main(["vocab", "--train", str(data / "train.txt"), "--unit", unit, "--corpus", "X,T,M,L,K",
                     "--out", str(folder / "vocab.json")]) == 0
        assert main(["encode", "--vocab", str(folder / "vocab.json"), "--data-dir", str(data), "--out-dir",
                     str(folder), "--stats", str(folder / "stats.tsv")]) == 0
        vocab = Vocab.load(folder / "vocab.json")
        assert (vocab.unit, vocab.corpus) == (unit, "X,T,M,L,K")
        ids = torch.load(folder / "test.pt", weights_only=True)
        assert vocab.decode(ids.tolist()) == (data / "test.txt").read_text()  # the same text, whatever the unit
        assert vocab.chars_of(ids.tolist()) == len((data / "test.txt").read_text())
        out[unit] = ids.numel()
    assert out["token"] < out["char"]


def test_a_vocabulary_refuses_text_of_another_corpus_variant(tmp_path, capsys):
    (tmp_path / "train.txt").write_text(join_tagged(["X:1\nT:A\nZ:someone\nM:4/4\nL:1/8\nK:D\nABcd|"]))
    assert main(["vocab", "--train", str(tmp_path / "train.txt"), "--unit", "token", "--corpus", "X,T,M,L,K",
                 "--out", str(tmp_path / "vocab.json")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("abcrnn vocab: error: corpus.header_fields:") and "has Z: lines" in err
    assert len(err.splitlines()) == 1


def test_a_vocabulary_takes_the_lines_every_variant_keeps(tmp_path):
    """V:, P:, U:, m: lines shape the music, so the corpus keeps them in every variant (a two-voice
    tune keeps its voices) and the vocabulary of that variant accepts them."""
    tune = "X:1\nT:A\nM:4/4\nL:1/8\nK:D\nV:1\nABcd|\nV:2\nP:B\nFGAB|"
    (tmp_path / "train.txt").write_text(join_tagged([tune]))
    assert main(["vocab", "--train", str(tmp_path / "train.txt"), "--unit", "token", "--corpus", "X,T,M,L,K",
                 "--out", str(tmp_path / "vocab.json")]) == 0
    assert Vocab.load(tmp_path / "vocab.json").corpus == "X,T,M,L,K"
