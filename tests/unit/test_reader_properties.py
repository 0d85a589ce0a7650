"""Properties of the ABC reader: it never raises, and what it writes it reads back unchanged."""

from hypothesis import given, settings
from hypothesis import strategies as st

from abcrnn.notation.tunes import END, START, header_fields, join_tagged, split_tagged
from abcrnn.data.reader import DROP_REASONS, read_abc_bytes, read_abc_text

SETTINGS = settings(max_examples=150, deadline=None)

# Text made of the pieces that steer the reader, so examples reach its every branch.
ABC_PIECES = st.sampled_from([
    "X:", "X:1", "T:", "K:", "K:G", "M:6/8", "L:1/8", "B:O'Neill's 5", "W:", "%", "%%MIDI", "\\", '"', "!",
    "<start>", "<end>", " <start>", "<end>\t", "W:to the <end>", "\n", "\r", "\r\n", "\n\n", " ", "\t", "|", "abc", "ABc", "z2", "\x00", "é", "\ufeff",
])
ABC_LIKE = st.lists(st.one_of(ABC_PIECES, st.text(max_size=5)), max_size=60).map("".join)


def check_tunes(tunes, dropped):
    for tune in tunes:
        lines = tune.text.split("\n")
        assert lines[0].startswith("X:")
        assert all(line and line == line.strip() for line in lines)
        assert "K" in header_fields(tune.text, to_key=False) and "\r" not in tune.text
        tune.text.encode("utf-8")  # every kept tune can be written out
        assert START not in tune.text and END not in tune.text  # ... and read back from the corpus whole
    assert set(dropped) <= set(DROP_REASONS)


@SETTINGS
@given(text=st.one_of(st.text(), ABC_LIKE), comments=st.sampled_from(["strip", "keep"]))
def test_reader_never_raises_on_any_text(text, comments):
    check_tunes(*read_abc_text(text, "prop", comments))


@SETTINGS
@given(data=st.binary())
def test_reader_never_raises_on_any_bytes(data):
    check_tunes(*read_abc_bytes(data, "prop"))


@SETTINGS
@given(text=ABC_LIKE)
def test_reading_is_idempotent(text):
    # Tunes the reader kept come back unchanged through the corpus format, and so does each count.
    tunes, _ = read_abc_text(text)
    again, dropped = read_abc_text(join_tagged([t.text for t in tunes]))
    assert [t.text for t in again] == [t.text for t in tunes] and not dropped


WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz' ", min_size=1, max_size=20).map(str.strip).filter(bool)
MUSIC = st.text(alphabet="ABCDEFGabcdefgz,'2/|: [](){}=^_", min_size=1, max_size=40).map(str.strip).filter(
    lambda s: any(c in "ABCDEFGabcdefgz" for c in s) and s[1:2] != ":")  # `A:…` is a field line, not music


@st.composite
def clean_tune(draw):
    header = [f"X:{draw(st.integers(1, 9999))}", f"T:{draw(WORD).title()}"]
    header += draw(st.lists(st.sampled_from(["M:6/8", "M:C|", "L:1/8", "R:reel", "C:Trad.", "N:a note"]), unique=True))
    music = draw(st.lists(MUSIC, min_size=1, max_size=6))
    return "\n".join(header + [f"K:{draw(st.sampled_from(['G', 'D', 'Ador', 'Bm']))}"] + music)


@SETTINGS
@given(tunes=st.lists(clean_tune(), max_size=5), crlf=st.booleans())
def test_clean_tunes_survive_the_round_trip(tunes, crlf):
    tagged = join_tagged(tunes)
    read, dropped = read_abc_text(tagged.replace("\n", "\r\n") if crlf else tagged)
    assert [t.text for t in read] == tunes and not dropped
    # As a plain ABC file (tunes between empty lines) they read back the same too.
    assert [t.text for t in read_abc_text("\n\n".join(tunes))[0]] == tunes


TAG_LINE = st.builds("{}:{} {} {}".format, st.sampled_from("TWNw"), WORD, st.sampled_from([START, END]), WORD)


@st.composite
def tunes_with_tag_text(draw):
    """Clean tunes, some with a line of tag text (title, lyrics, notes) put after one of their lines."""
    tunes, tagged = [], []
    for tune in draw(st.lists(clean_tune(), min_size=1, max_size=5)):
        if draw(st.booleans()):
            lines = tune.split("\n")
            at = draw(st.integers(1, len(lines)))
            tune = "\n".join(lines[:at] + [draw(TAG_LINE)] + lines[at:])
        tunes.append(tune)
        tagged.append(START in tune or END in tune)
    return tunes, tagged


@SETTINGS
@given(case=tunes_with_tag_text())
def test_tunes_with_tag_text_are_dropped_and_the_rest_kept(case):
    tunes, tagged = case
    clean = [t for t, has_tag in zip(tunes, tagged) if not has_tag]
    expected = {"tag_in_text": sum(tagged)} if any(tagged) else {}
    # The same tunes as an ABC file and as a corpus file: tag text never ends a block early.
    for text in ("\n\n".join(tunes), join_tagged(tunes)):
        read, dropped = read_abc_text(text)
        assert [t.text for t in read] == clean and dropped == expected
        assert split_tagged(join_tagged([t.text for t in read])) == clean
