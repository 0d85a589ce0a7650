"""`abcrnn corpus` end to end: mixed sources, the three outputs, duplicates, clean errors."""

import os
import shutil
from pathlib import Path

import pytest

from abcrnn.notation.tunes import join_tagged, split_tagged
from abcrnn.commands.cli import main
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import read_tsv

MESSY = Path(__file__).parents[1] / "data" / "messy"
DUPLICATES = MESSY / "duplicates.abc"


def corpus(capsys, tmp_path, *args):
    """Run `abcrnn corpus` into tmp_path/out: (exit code, stderr, corpus tunes, tunes rows, report rows)."""
    out = tmp_path / "out"
    argv = ["corpus", *args, "--out", str(out / "corpus.txt"), "--tunes", str(out / "tunes.tsv"),
            "--report", str(out / "report.tsv")]
    code = main(argv)
    err = capsys.readouterr().err
    if code:
        return code, err, None, None, None
    tunes = split_tagged((out / "corpus.txt").read_text(encoding="utf-8"))
    return code, err, tunes, read_tsv(out / "tunes.tsv"), read_tsv(out / "report.tsv")


def counts(row):
    return {k: int(v) for k, v in row.items() if k != "source"}


@pytest.fixture
def abc_dir(tmp_path):
    """A directory source: two messy files, a copy of a tune under another X:, and a subfolder."""
    d = tmp_path / "abc"
    (d / "sub").mkdir(parents=True)
    shutil.copy(MESSY / "crlf.abc", d / "crlf.abc")
    shutil.copy(MESSY / "dropped.abc", d / "dropped.abc")
    (d / "extra.abc").write_text("X:9\nT:Crlf One\nM:6/8\nL:1/8\nK:D\nABc def|\ngfe dcB|\n", encoding="utf-8")
    shutil.copy(MESSY / "no_blank_lines.abc", d / "sub" / "no_blank_lines.abc")
    (d / "notes.txt").write_text("X:1\nT:Not read: only *.abc files count in a directory\nK:C\nC|\n")
    return d


def test_mixed_sources_give_corpus_tune_table_and_report(capsys, tmp_path, abc_dir):
    tagged = MESSY / "tagged.txt"
    code, err, tunes, rows, report = corpus(
        capsys, tmp_path, "--source", str(abc_dir), "--source", str(DUPLICATES), "--source", str(tagged))
    assert code == 0

    expected = {  # read, kept, dropped: no_music, fragment, unreadable, tag_in_text, duplicate, near_duplicate
        f"{abc_dir}/crlf.abc": (2, 2, 0, 0, 0, 0, 0, 0),
        f"{abc_dir}/dropped.abc": (4, 1, 2, 1, 0, 0, 0, 0),
        f"{abc_dir}/extra.abc": (1, 0, 0, 0, 0, 0, 1, 0),
        f"{abc_dir}/sub/no_blank_lines.abc": (3, 3, 0, 0, 0, 0, 0, 0),
        str(DUPLICATES): (4, 2, 0, 0, 0, 0, 1, 1),
        str(tagged): (5, 2, 0, 3, 0, 0, 0, 0),
        "total": (19, 10, 2, 4, 0, 0, 2, 1),
    }
    assert [r["source"] for r in report] == list(expected)
    columns = ["read", "kept", "dropped_no_music", "dropped_fragment", "dropped_unreadable",
               "dropped_tag_in_text", "dropped_duplicate", "dropped_near_duplicate"]
    assert list(report[0]) == ["source", *columns, "removed_field_lines"]
    for row in report:
        c = counts(row)
        assert tuple(c[k] for k in columns) == expected[row["source"]]
        assert c["read"] == c["kept"] + sum(v for k, v in c.items() if k.startswith("dropped_"))

    assert len(tunes) == len(rows) == 10
    assert list(rows[0]) == ["id", "source", "index", "X", "title", "key", "meter", "rhythm", "chars", "group", "removed"]
    assert [r["id"] for r in rows] == [str(i) for i in range(10)]
    assert [(r["title"], r["index"]) for r in rows] == [
        ("Crlf One", "1"), ("Crlf Two", "2"), ("Kept", "3"), ("First", "1"), ("Second", "2"), ("Third", "3"),
        ("The Dup Reel", "1"), ("The Dup Reel", "4"), ("Tagged One", "1"), ("Tagged Two", "4"),
    ]
    assert [int(r["chars"]) for r in rows] == [len(t) for t in tunes]
    assert [r["group"] for r in rows] == [r["id"] for r in rows]
    assert (rows[0]["X"], rows[0]["key"], rows[0]["meter"]) == ("1", "D", "6/8")
    assert tunes[0] == "X:1\nT:Crlf One\nM:6/8\nL:1/8\nK:D\nABc def|\ngfe dcB|"
    assert (tmp_path / "out" / "corpus.txt").read_text(encoding="utf-8") == join_tagged(tunes)

    assert err.count("\n") == 1 and "read 19 tunes from 6 files, kept 10" in err


def test_tunes_holding_tag_text_never_reach_the_corpus(capsys, tmp_path):
    # Written as-is, `W: lyrics <start> here` or `T:The <end> of the Road` would cut the corpus wrongly.
    abc, tagged = MESSY / "tag_text.abc", MESSY / "tagged_tag_text.txt"
    code, err, tunes, rows, report = corpus(capsys, tmp_path, "--source", str(abc), "--source", str(tagged))
    assert code == 0
    assert [(r["source"], r["title"], r["index"]) for r in rows] == [
        (str(abc), "Plain Reel", "1"), (str(abc), "Quiet Jig", "4"), (str(abc), "Last One", "5"),
        (str(tagged), "First Block", "1"), (str(tagged), "Indented Tags", "4"), (str(tagged), "After Them", "5"),
    ]
    assert tunes[1] == "X:4\nT:Quiet Jig\nM:6/8\nK:A\nabc cBA|"
    assert [int(r["chars"]) for r in rows] == [len(t) for t in tunes]  # split back whole, none cut short
    assert not any("<start>" in t or "<end>" in t for t in tunes)
    for row in report:
        c = counts(row)
        assert c["read"] == c["kept"] + sum(v for k, v in c.items() if k.startswith("dropped_"))
    assert [(r["read"], r["kept"], r["dropped_tag_in_text"]) for r in report] == [
        ("5", "3", "2"), ("5", "3", "2"), ("10", "6", "4")]
    assert "read 10 tunes from 2 files, kept 6 (dropped 4 tag-in-text)" in err


@pytest.mark.parametrize(
    "flags, kept_x, groups, near_dropped",
    [
        ([], ["1", "4"], [0, 1], 1),
        (["--near-duplicates", "group"], ["1", "3", "4"], [0, 0, 2], 0),
        (["--near-duplicates", "keep"], ["1", "3", "4"], [0, 1, 2], 0),
        (["--no-dedupe", "--near-duplicates", "group"], ["1", "2", "3", "4"], [0, 0, 0, 3], 0),
        (["--no-dedupe"], ["1", "4"], [0, 1], 2),
        (["--similarity", "0.99"], ["1", "3", "4"], [0, 1, 2], 0),  # X:3 scores 0.958
    ],
)
def test_duplicate_options(capsys, tmp_path, flags, kept_x, groups, near_dropped):
    # X:2 is X:1 with other spacing; X:3 is X:1 retranscribed; X:4 shares the title, not the tune.
    code, _, _, rows, report = corpus(capsys, tmp_path, "--source", str(DUPLICATES), *flags)
    assert code == 0
    assert [r["X"] for r in rows] == kept_x
    assert [int(r["group"]) for r in rows] == groups
    assert int(report[-1]["dropped_near_duplicate"]) == near_dropped


def test_comments_option_reaches_the_corpus(capsys, tmp_path):
    code, _, tunes, _, _ = corpus(capsys, tmp_path, "--source", str(MESSY / "comments.abc"), "--comments", "keep")
    assert code == 0 and "%%MIDI program 41" in tunes[0]
    code, _, tunes, _, _ = corpus(capsys, tmp_path, "--source", str(MESSY / "comments.abc"))
    assert code == 0 and "%" not in tunes[0].replace("50% slower", "").replace("\\%", "")


def test_glob_source_reads_matching_files_in_name_order(capsys, tmp_path):
    code, _, _, rows, _ = corpus(capsys, tmp_path, "--source", str(MESSY / "c*.abc"))
    assert code == 0
    assert [Path(r["source"]).name for r in rows] == [
        "comments.abc", "continuation.abc", "cp1252.abc", "cr.abc", "cr.abc", "crlf.abc", "crlf.abc"]


def test_a_file_named_twice_is_read_once(capsys, tmp_path):
    code, _, _, rows, report = corpus(capsys, tmp_path, "--source", str(DUPLICATES), "--source", str(DUPLICATES))
    assert code == 0
    assert [r["source"] for r in report] == [str(DUPLICATES), "total"]


@pytest.mark.parametrize(
    "source, message",
    [
        ("no/such/file.abc", "source no/such/file.abc: no such file or directory"),
        ("no/such/*.abc", "source no/such/*.abc: pattern matches no files"),
        ("music21:nosuchcorpus", "music21 has no ABC corpus 'nosuchcorpus' (ABC corpora: "),
    ],
)
def test_bad_source_is_one_clean_line(capsys, tmp_path, source, message):
    code, err, *_ = corpus(capsys, tmp_path, "--source", str(MESSY / "crlf.abc"), "--source", source)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("abcrnn corpus: error: ") and message in err
    assert not (tmp_path / "out").exists()


def test_unknown_music21_corpus_lists_the_real_ones(capsys, tmp_path):
    _, err, *_ = corpus(capsys, tmp_path, "--source", "music21:nosuchcorpus")
    assert "music21:oneills1850" in err


def test_source_without_tunes_is_an_error(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    notes = tmp_path / "notes.txt"
    notes.write_text("just some text\nwith no tunes in it\n", encoding="utf-8")
    code, err, *_ = corpus(capsys, tmp_path, "--source", str(notes))
    assert code == 1 and f"source {notes}: no tunes found" in err
    code, err, *_ = corpus(capsys, tmp_path, "--source", str(tmp_path / "empty"))
    assert code == 1 and "directory has no .abc files" in err


def test_no_tune_kept_is_an_error(capsys, tmp_path):
    bad = tmp_path / "bad.abc"
    bad.write_text("X:1\nT:Header only\nK:G\n", encoding="utf-8")
    code, err, *_ = corpus(capsys, tmp_path, "--source", str(bad))
    assert code == 1 and err.count("\n") == 1 and "no tunes kept" in err and "1 no-music" in err


def test_oneills_collection(capsys, tmp_path):
    code, err, tunes, rows, report = corpus(capsys, tmp_path, "--source", "music21:oneills1850")
    assert code == 0
    files = {r["source"]: counts(r) for r in report}
    assert len(files) == 40 and files["total"]["read"] == 2009
    assert 1800 <= files["total"]["kept"] <= 1850
    assert len(tunes) == len(rows) == files["total"]["kept"]
    # The same numbers transcribed twice (or three times): the later files lose them.
    name = "music21:oneills1850/{}.abc".format
    assert files[name("0626-0635")]["kept"] == 10
    assert files[name("0626-0700")]["dropped_near_duplicate"] == 10
    assert files[name("0732-0758_mh")]["kept"] == 0 and files[name("0732-0758_bs")]["kept"] == 27
    assert files[name("1116-1135_ml")]["dropped_near_duplicate"] == 20
    assert files[name("1577-1624")]["kept"] == 0

    code, _, _, grouped, report = corpus(capsys, tmp_path, "--source", "music21:oneills1850", "--near-duplicates", "group")
    assert code == 0 and len(grouped) == 2009 - int(report[-1]["dropped_duplicate"])
    assert len({r["group"] for r in grouped}) == len(rows)
    first = {(r["source"], r["X"]): r for r in grouped}
    for x in range(626, 636):
        a, b = first[(name("0626-0635"), str(x))], first[(name("0626-0700"), str(x))]
        assert a["group"] == b["group"] == a["id"]


# --- near-duplicates at scale: thousands of tunes in one bucket ---------------------------------


def near_copy(tune: str, changes: int = 2) -> str:
    """The tune transcribed again with `changes` notes altered (A<->B, c<->d, ...)."""
    head, body = tune.split("K:D\n")
    swap = str.maketrans("ABcdefgaDEFGb", "BAdcfegbEDGFa")
    notes = [i for i, ch in enumerate(body) if ch in "DEFGABcdefgab"]
    chars = list(body)
    for i in notes[5 :: len(notes) // changes][:changes]:
        chars[i] = chars[i].translate(swap)
    return head + "K:D\n" + "".join(chars)


class TooManyComparisons(Exception):
    pass


def counting_similar(monkeypatch, limit: int) -> list[int]:
    """Count the pairs given to neardup.similar, and stop the run once there are more than `limit`
    (the quadratic way would give one for every earlier tune: millions)."""
    import abcrnn.data.neardup as corpus_module

    count, original = [0], corpus_module.similar

    def similar(a, b, threshold):
        count[0] += 1
        if count[0] > limit:
            raise TooManyComparisons(f"more than {limit} comparisons")
        return original(a, b, threshold)

    monkeypatch.setattr(corpus_module, "similar", similar)
    return count


def test_thousands_of_same_titled_tunes_meet_few_others_and_near_duplicates_are_found(capsys, tmp_path, monkeypatch):
    from abcrnn.bench.suite import same_titled_tunes

    tunes = same_titled_tunes(3000)  # all X:1, T:Untitled: one bucket for all of them
    copies = [near_copy(tunes[i]) for i in range(0, 3000, 300)]  # 10 retranscriptions, each 2 notes changed
    source = tmp_path / "scraped.abc"
    source.write_text("\n".join(tunes + copies + [tunes[7]]), encoding="utf-8")  # and one exact copy
    count = counting_similar(monkeypatch, limit=2 * len(tunes))
    code, err, kept, rows, report = corpus(capsys, tmp_path, "--source", str(source))
    assert code == 0, err
    assert counts(report[-1])["read"] == 3011
    assert (counts(report[-1])["dropped_near_duplicate"], counts(report[-1])["dropped_duplicate"]) == (10, 1)
    assert len(kept) == 3000 and kept == [t.strip() for t in tunes]
    assert count[0] < 2 * len(tunes)  # about one comparison per tune, not one per pair (4.5 million)

    code, _, _, rows, _ = corpus(capsys, tmp_path, "--source", str(source), "--near-duplicates", "group")
    assert code == 0
    groups = [int(r["group"]) for r in rows]
    assert groups[3000:] == list(range(0, 3000, 300))  # each copy joins the tune it was copied from


def test_the_band_index_of_a_large_bucket_applies_the_same_rule(monkeypatch):
    """A bucket gets an index by band from LSH_INDEX_FROM tunes on; without one the answer is the same."""
    import abcrnn.data.neardup as corpus_module
    from abcrnn.bench.suite import same_titled_tunes
    from abcrnn.data.corpus import select
    from abcrnn.data.neardup import NearDuplicates
    from abcrnn.data.sources import FileResult
    from abcrnn.data.reader import read_abc_text

    tunes = same_titled_tunes(400, seed=1)
    tunes += [near_copy(tunes[i], changes) for i in range(0, 400, 20) for changes in (1, 3, 6)]
    read, _ = read_abc_text("\n".join(tunes))

    def run(near):
        index = NearDuplicates(corpus_module.SIMILARITY)
        kept, groups = select([FileResult("f", list(read))], True, near, index=index)
        return [t.index for t in kept], groups, index.comparisons, bool(index.band_index)

    indexed = run("group"), run("drop")
    monkeypatch.setattr(corpus_module, "LSH_INDEX_FROM", 10**9)
    compared = run("group"), run("drop")
    assert indexed[0][3] and not compared[0][3]
    assert [r[:3] for r in indexed] == [r[:3] for r in compared]
    assert len(indexed[1][0]) < 400 + 60  # retranscriptions were found


def test_minhash_is_fixed_and_estimates_the_jaccard_index():
    from abcrnn.data.neardup import LSH_BANDS, LSH_ROWS, Notes, band_keys, minhash

    a = "DEFGABcdefgabagfedcBAGFEDFAdfaf" * 2
    b = a[:30] + "gfedcBAG" + a[38:]
    signature = minhash(a)
    assert signature.shape == (LSH_BANDS * LSH_ROWS,) and signature.dtype.name == "uint32"
    assert signature.tolist()[:3] == minhash(a).tolist()[:3]  # no hash seed from the process
    na, nb = Notes(a, frozenset(a[i : i + 4] for i in range(len(a) - 3))), Notes(b, frozenset(b[i : i + 4] for i in range(len(b) - 3)))
    jaccard = len(na.grams & nb.grams) / len(na.grams | nb.grams)
    assert abs((na.signature == nb.signature).mean() - jaccard) < 0.1
    assert band_keys(signature).shape == (LSH_BANDS,) and (na.bands == nb.bands).any()


# --- what a source folder may hold: links to folders, named pipes ---------------------------------


def test_links_to_folders_are_not_followed(capsys, tmp_path, looped_dir, alarm):
    expected = [f"{looped_dir}/crlf.abc", f"{looped_dir}/sub/no_blank_lines.abc"]
    for source in (str(looped_dir), f"{looped_dir}/**/*.abc"):
        code, err, _, _, report = corpus(capsys, tmp_path, "--source", source)
        assert code == 0, err
        assert [r["source"] for r in report[:-1]] == expected

    from abcrnn.data.sources import local_files  # what the workflow watches: the same files

    assert local_files(str(looped_dir)) == local_files(f"{looped_dir}/**/*.abc") == expected


def test_a_named_pipe_is_refused_with_one_line(capsys, tmp_path, alarm):
    folder = tmp_path / "abc"
    folder.mkdir()
    shutil.copy(MESSY / "crlf.abc", folder / "crlf.abc")
    pipe = folder / "pipe.abc"
    os.mkfifo(pipe)
    sources = (str(pipe), str(folder), f"{folder}/*.abc", f"{tmp_path}/**/*.abc")
    for source in sources:
        code, err, *_ = corpus(capsys, tmp_path, "--source", source)
        assert code == 1 and err.count("\n") == 1, (source, err)
        assert err.startswith("abcrnn corpus: error: ") and f"{pipe}: not a regular file (a named pipe)" in err
    assert not (tmp_path / "out").exists()

    from abcrnn.data.sources import local_files  # what the workflow watches

    for source in sources:
        with pytest.raises(AbcrnnError, match=f"^{pipe}: not a regular file"):
            local_files(source)
    assert local_files(str(tmp_path / "missing.abc")) == [str(tmp_path / "missing.abc")]  # Snakemake's to report
    assert local_files(f"{tmp_path}/none/*.abc") == [] and local_files("music21:oneills1850") == []


METADATA_TUNE = """X:7
T:The Kesh
Z:Jane Doe <jane@example.org>
N:Played slowly
+: and with swing
B:O'Neill's 1850
R:jig
M:6/8
L:1/8
K:G
|:GAG GAB|ABA ABd:|
W:words after the tune
"""


def test_header_fields_keep_only_the_listed_fields_and_the_tables_say_what_went(capsys, tmp_path):
    src = tmp_path / "meta.abc"
    src.write_text(METADATA_TUNE, encoding="utf-8")
    code, err, tunes, rows, report = corpus(capsys, tmp_path, "--source", str(src), "--header-fields", "X,T,M,L,K,R")
    assert code == 0, err
    assert tunes[0] == "X:7\nT:The Kesh\nR:jig\nM:6/8\nL:1/8\nK:G\n|:GAG GAB|ABA ABd:|"
    assert rows[0]["removed"] == "B:1 N:2 W:1 Z:1"  # the N: line and its +: continuation: two lines
    assert report[-1]["removed_field_lines"] == "5"
    assert "removed 5 field lines" in err
    code, _, tunes, rows, report = corpus(capsys, tmp_path, "--source", str(src))  # all: the paper's text
    assert "Z:Jane Doe" in tunes[0] and "W:words" in tunes[0]  # the reader tidies `+: ` to `+:`
    assert rows[0]["removed"] == "" and report[-1]["removed_field_lines"] == "0"


@pytest.mark.parametrize("value, message", [("X,T,M,K", "must keep X, T, M, L, K (missing L)"),
                                            ("X,T,M,L,K,Rhythm", "must be `all` or a list of field letters")])
def test_bad_header_fields_name_the_key(capsys, tmp_path, value, message):
    code, err, *_ = corpus(capsys, tmp_path, "--source", str(DUPLICATES), "--header-fields", value)
    assert code == 1 and "corpus.header_fields" in err and message in err and len(err.strip().splitlines()) == 1


TWO_VOICES = """X:3
T:Two Voices
N:a note
+: that runs on
+: over three lines
M:4/4
L:1/8
U:T=!trill!
P:AB
V:1 name="Fiddle"
V:2 name="Bass" clef=bass
K:D
P:A
V:1
TdFA dFAd|[M:3/4]fed cBA|
V:2
D,4 A,,4|D,2 A,,2 D,2|
P:B
V:1
[K:G]GABc dBGB|
V:2
G,,4 D,4|
"""


def test_header_fields_never_drop_the_fields_that_shape_the_music(capsys, tmp_path):
    """A list without V: (or P:, U:) must not merge two voices into one line of music: those lines
    stay, and every line that goes is counted, +: continuations included."""
    src = tmp_path / "voices.abc"
    src.write_text(TWO_VOICES, encoding="utf-8")
    code, err, whole, *_ = corpus(capsys, tmp_path, "--source", str(src))
    assert code == 0, err
    code, err, tunes, rows, report = corpus(capsys, tmp_path, "--source", str(src), "--header-fields", "X,T,M,L,K")
    assert code == 0, err
    assert tunes[0] == whole[0].replace("N:a note\n+:that runs on\n+:over three lines\n", "")
    assert tunes[0].count("V:") == 6 and "U:T=!trill!" in tunes[0] and "P:AB" in tunes[0]
    assert rows[0]["removed"] == "N:3" and report[-1]["removed_field_lines"] == "3"


def test_a_bad_byte_is_counted_and_the_other_tunes_keep_their_text(capsys, tmp_path):
    src = tmp_path / "mixed.abc"
    src.write_bytes("X:1\nT:Café\nK:G\nGABc|\n\nX:2\nT:Emoji 🎻\nK:D\ndefg|\n\n".encode()
                    + b"X:3\nT:Bad\nK:A\nAB\xffcd|\n")
    code, err, tunes, rows, report = corpus(capsys, tmp_path, "--source", str(src))
    assert code == 0, err
    assert [r["title"] for r in rows] == ["Café", "Emoji 🎻"]
    assert report[0]["dropped_unreadable"] == "1" and report[0]["read"] == "3"
