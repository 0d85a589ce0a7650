import json
import time
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from abcrnn.notation.tunes import END, START, join_tagged
from abcrnn.errors import AbcrnnError
from abcrnn.notation.tokens import (
    duration_multiplier,
    is_bar_line,
    is_chord_symbol,
    is_decoration,
    is_duration,
    is_ending,
    is_field_key,
    is_inline_field,
    is_note,
    is_pitch,
    is_rest,
    is_tuplet,
    tokenize,
)
from abcrnn.data.vocab import UNK, Vocab

# Pieces ABC text is made of, several characters long ones included, so that random texts hit
# every rule and its edges (unclosed quotes, fields amid music, tags anywhere).
ABC_PIECES = list("ABCDEFGabcdefgzxZX^_=',/0123456789|:[]{}()<>-~.HTuv\"!%+ \n\tMKLTXRw") + [
    START, END, "\n", "M:", "K:", "T:", "X:", "L:", "[K:G]", '"Am7"', '"a long annotation"', "!trill!",
    "(3", "|:", ":|", "|1", "[2", "<st", "art>", "6/8", "  "]
abc_text = st.lists(st.sampled_from(ABC_PIECES), max_size=60).map("".join)
quick = settings(max_examples=200, deadline=None)


# --- the round trip ------------------------------------------------------------------------------

@quick
@given(st.text())
def test_tokens_partition_any_text(text):
    tokens = tokenize(text)
    assert "".join(tokens) == text
    assert all(tokens)  # no empty pieces


@quick
@given(abc_text)
def test_tokens_partition_abc_like_text(text):
    tokens = tokenize(text)
    assert "".join(tokens) == text and all(tokens)
    assert all(t in (START, END) for t in tokens if "<start>" in t or "<end>" in t)  # a tag is a token of its own


@quick
@given(st.data(), st.one_of(abc_text, st.text()), st.integers(1, 3))
def test_token_vocab_round_trip_over_known_characters(data, train, min_count):
    vocab = Vocab.build(train, "chars", unit="token", min_count=min_count)
    assert vocab.tags == "token" and vocab.symbols[:3] == (UNK, START, END)
    known = sorted(set(train))
    pieces = known + [t for t in tokenize(train) if len(t) > 1]
    if pieces:
        text = "".join(data.draw(st.lists(st.sampled_from(pieces), max_size=40)))
    else:
        text = ""
    ids = vocab.encode(text)
    assert vocab.decode(ids) == text
    assert len(vocab.tokenize(text)) == len(ids) and vocab.count_unknown(text) == 0
    assert vocab.chars_of(ids) == len(text)


@quick
@given(abc_text, st.text())
def test_unseen_characters_are_the_only_unknowns(train, text):
    assume(START not in text and END not in text)  # the tags are symbols of every token vocabulary
    vocab = Vocab.build(train, unit="token")
    unseen = sum(1 for ch in text if ch not in set(train))
    ids = vocab.encode(text)
    assert vocab.count_unknown(text) == unseen == ids.count(0)
    assert len(vocab.tokenize(text)) == len(ids)
    assert vocab.chars_of(ids) == len(text)  # <unk> stands for one character


# --- the split on real ABC -----------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("|:^c'2 B/A G>A|", ["|:", "^c'", "2", " ", "B", "/", "A", " ", "G", ">", "A", "|"]),
    ("_B,,3/2 =F// z2 x4 Z3", ["_B,,", "3/2", " ", "=F", "//", " ", "z", "2", " ", "x", "4", " ", "Z", "3"]),
    ("^^f/4 __e3/ c''", ["^^f", "/4", " ", "__e", "3/", " ", "c''"]),
    ("A>>B C<D", ["A", ">>", "B", " ", "C", "<", "D"]),
    ("(3abc (3:2:3def (5", ["(3", "a", "b", "c", " ", "(3:2:3", "d", "e", "f", " ", "(5"]),
    ("[ceg]2 [C,E]", ["[", "c", "e", "g", "]", "2", " ", "[", "C,", "E", "]"]),
    ("{ed}c2-c (AB)", ["{", "e", "d", "}", "c", "2", "-", "c", " ", "(", "A", "B", ")"]),
    ('"Am7"A "G"B', ['"Am7"', "A", " ", '"G"', "B"]),
    ('"D.C. al fine"A', ['"', "D", ".", "C", ".", " ", "a", "l", " ", "f", "i", "n", "e", '"', "A"]),
    ("!trill!c ~d .e HA TB uc vd +fermata+G", ["!trill!", "c", " ", "~", "d", " ", ".", "e", " ", "H", "A", " ",
                                               "T", "B", " ", "u", "c", " ", "v", "d", " ", "+fermata+", "G"]),
    ("A|B||c|]d[|e::f:|:g", ["A", "|", "B", "||", "c", "|]", "d", "[|", "e", "::", "f", ":|:", "g"]),
    ("|1 A:|2 B:|[2 c|[1 d|1,3 e", ["|1", " ", "A", ":|2", " ", "B", ":|", "[2", " ", "c", "|", "[1", " ", "d",
                                   "|1,3", " ", "e"]),
    ("A[K:G]B [M:3/4] [L:1/16]c", ["A", "[K:G]", "B", " ", "[M:3/4]", " ", "[L:1/16]", "c"]),
    ("A   B\tc", ["A", "   ", "B", "\t", "c"]),
    ("ABc % a comment", ["A", "B", "c", " ", "%", " ", "a", " ", "c", "o", "m", "m", "e", "n", "t"]),
    ("<start>\nX:1\n<end>\n", [START, "\n", "X:", "1", "\n", END, "\n"]),
])
def test_music_split(text, expected):
    assert tokenize(text) == expected


@pytest.mark.parametrize("line, expected", [
    ("M:6/8", ["M:", "6/8"]),
    ("M:C|", ["M:", "C|"]),
    ("L:1/8", ["L:", "1/8"]),
    ("K:Gmaj", ["K:", "Gmaj"]),
    ("K: G mix", ["K:", " ", "G mix"]),
    ("K:D % tune in D", ["K:", "D", " ", "%", " ", "t", "u", "n", "e", " ", "i", "n", " ", "D"]),
    ("R:slip jig", ["R:", "slip jig"]),
    ("Q:1/4=120", ["Q:", "1/4=120"]),
    ("P:AABB", ["P:", "AABB"]),
    ("X:12", ["X:", "1", "2"]),  # tune numbers are nearly all different: spelled in digits
    ("T:The Kesh", ["T:", "T", "h", "e", " ", "K", "e", "s", "h"]),
    ("N:ABc", ["N:", "A", "B", "c"]),  # free text, not notes
    ("+:more", ["+:", "m", "o", "r", "e"]),
    ("M:", ["M:"]),
])
def test_field_lines(line, expected):
    assert tokenize(line) == expected


def test_fields_are_read_at_line_starts_only():
    assert tokenize("X:1\nT:A\nK:G\nGA|") == ["X:", "1", "\n", "T:", "A", "\n", "K:", "G", "\n", "G", "A", "|"]
    assert tokenize("ABc M:6/8")[-3:] == ["M", ":", "6/8"]  # no field amid music: `M` and a stray `:`


def test_predicates():
    assert all(is_bar_line(t) for t in ["|", "||", "|]", "[|", "|:", ":|", "::", ":|:", "|1", ":|2"])
    assert not any(is_bar_line(t) for t in ["[1", ":", "]", "[", "A"])
    assert all(is_ending(t) for t in ["|1", ":|2", "[1", "[2", "|1,3"]) and not is_ending("|")
    assert all(is_duration(t) for t in ["2", "/2", "3/2", "/", "//", "3/"]) and not is_duration("A")
    assert [duration_multiplier(t) for t in ["2", "/2", "3/2", "/", "//", "3/"]] == [
        2, Fraction(1, 2), Fraction(3, 2), Fraction(1, 2), Fraction(1, 4), Fraction(3, 2)]
    assert all(is_pitch(t) for t in ["c", "^c'", "_B,,", "=F", "^^f"]) and not is_pitch("z")
    assert is_rest("z") and is_note("z") and is_note("A") and not is_note("|")
    assert is_tuplet("(3") and is_tuplet("(3:2:3") and not is_tuplet("(")
    assert is_field_key("M:") and is_inline_field("[K:G]") and is_chord_symbol('"Am7"')
    assert is_decoration("!trill!") and is_decoration("~") and not is_decoration("A")


# --- the vocabulary ------------------------------------------------------------------------------

TUNE = "X:1\nT:The Kesh\nM:6/8\nL:1/8\nK:Gmaj\n|:^c'2 B/A G>A|^c'2 d/e f2:|\n"


def test_token_vocab_has_tokens_seen_twice_and_every_character():
    text = join_tagged([TUNE, TUNE.replace("The Kesh", "Other")])
    vocab = Vocab.build(text, "chars", unit="token", corpus="X,T,M,L,K")
    assert vocab.tags == "token" and vocab.unit == "token" and vocab.corpus == "X,T,M,L,K"
    for token in ["^c'", "6/8", "Gmaj", "|:", ":|", "M:", START, END]:
        assert token in vocab.symbols
    assert set(text) <= set(vocab.symbols)
    once = Vocab.build(join_tagged([TUNE]), unit="token")  # Gmaj once: min_count 2 leaves it out
    assert "Gmaj" not in once.symbols and "Gmaj" in Vocab.build(join_tagged([TUNE]), unit="token", min_count=1).symbols
    assert once.tokenize("K:Gmaj") == list("K:Gmaj")  # K: once too and once.decode(once.encode(text)) == text
    ids = vocab.encode("M:6/8\n^c'2")
    assert vocab.tokenize("M:6/8\n^c'2") == ["M:", "6/8", "\n", "^c'", "2"] and len(ids) == 5
    assert vocab.chars_of(ids) == 10 and vocab.chars_of([0, 0]) == 2


def test_char_unit_is_unchanged():
    text = join_tagged([TUNE])
    for tags in ("chars", "token"):
        vocab = Vocab.build(text, tags)
        assert vocab.unit == "char" and vocab.corpus == "all"
        specials = [START, END] if tags == "token" else []
        assert vocab.symbols == (UNK, *specials, *sorted(set(text.replace(START, "").replace(END, "")) if specials
                                                         else set(text)))
        assert vocab.decode(vocab.encode(text)) == text and vocab.chars_of(vocab.encode(text)) == len(text)
    assert Vocab.build(text).tokenize("^c'") == ["^", "c", "'"]


def test_save_and_load_carry_unit_and_corpus(tmp_path):
    vocab = Vocab.build(join_tagged([TUNE, TUNE]), unit="token", corpus="X,T,M,L,K,R,Q,P")
    vocab.save(tmp_path / "vocab.json")
    loaded = Vocab.load(tmp_path / "vocab.json")
    assert loaded == vocab and (loaded.unit, loaded.corpus, loaded.tags) == ("token", "X,T,M,L,K,R,Q,P", "token")
    assert Vocab.from_dict(vocab.to_dict()) == vocab
    old = {"tags": "chars", "size": 3, "symbols": [UNK, "A", "B"]}  # a vocab.json from before units
    (tmp_path / "old.json").write_text(json.dumps(old))
    assert (Vocab.load(tmp_path / "old.json").unit, Vocab.load(tmp_path / "old.json").corpus) == ("char", "all")


def test_bad_settings_are_one_line_errors(tmp_path):
    with pytest.raises(AbcrnnError, match="vocab.unit"):
        Vocab.build("abc", unit="word")
    with pytest.raises(AbcrnnError, match="vocab.min_count"):
        Vocab.build("abc", unit="token", min_count=0)
    (tmp_path / "bad.json").write_text(json.dumps({"tags": "chars", "unit": "word", "symbols": [UNK]}))
    with pytest.raises(AbcrnnError, match="bad.json") as exc:
        Vocab.load(tmp_path / "bad.json")
    assert "\n" not in str(exc.value)


# --- the default corpus --------------------------------------------------------------------------

def test_default_corpus_round_trip_and_vocabulary_size():
    pytest.importorskip("music21")
    from abcrnn.data.sources import read_sources

    results = read_sources(["music21:oneills1850"], "strip")
    text = join_tagged([t.text for r in results for t in r.tunes])
    started = time.perf_counter()
    tokens = tokenize(text)
    seconds = time.perf_counter() - started
    assert "".join(tokens) == text
    vocab = Vocab.build(text, unit="token")
    ids = vocab.encode(text)
    assert vocab.decode(ids) == text and vocab.count_unknown(text) == 0 and vocab.chars_of(ids) == len(text)
    print(f"\ndefault corpus: {len(text)} characters, {len(tokens)} tokens, {len(ids)} symbols encoded; "
          f"token vocabulary {len(vocab)} (character vocabulary {len(Vocab.build(text))}); "
          f"tokenize {seconds:.2f} s")
    assert len(ids) < len(text)
    assert 100 < len(vocab) < 600
    for token in ["6/8", "C|", "1/8", "G", "Dmix", "|:", ":|", "||", "|]", "(3", "/2", "^f", "=c", "M:", "K:"]:
        assert token in vocab.symbols
    assert seconds < 5
