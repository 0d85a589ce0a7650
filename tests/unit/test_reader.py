"""The ABC reader on crafted messy files: every tune and every drop reason exactly."""

from collections import Counter
from pathlib import Path

import pytest

from abcrnn.notation.tunes import join_tagged
from abcrnn.data.reader import Tune, decode_bytes, read_abc_bytes, read_abc_text

MESSY = Path(__file__).parents[1] / "data" / "messy"


def read(name: str, comments: str = "strip") -> tuple[list[Tune], Counter]:
    return read_abc_bytes((MESSY / name).read_bytes(), name, comments)


def texts(name: str, comments: str = "strip") -> list[str]:
    return [t.text for t in read(name, comments)[0]]


# --- line ends, encodings -----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["crlf.abc", "cr.abc"])
def test_crlf_and_lone_cr_line_ends_read_as_lf(name):
    stem = name.split(".")[0].capitalize()
    tunes, dropped = read(name)
    assert [t.title for t in tunes] == [f"{stem} One", f"{stem} Two"]
    assert all("\r" not in t.text for t in tunes)
    assert tunes[0].text.split("\n")[-2:] == ["ABc def|", "gfe dcB|"]
    assert not dropped


def test_crlf_tunes_exactly():
    assert texts("crlf.abc") == [
        "X:1\nT:Crlf One\nM:6/8\nL:1/8\nK:D\nABc def|\ngfe dcB|",
        "X:2\nT:Crlf Two\nM:2/4\nK:G\nGA Bc|",
    ]


def test_utf8_bom_is_not_part_of_the_first_tune():
    assert texts("bom.abc") == ["X:1\nT:Café Bom\nK:G\nGABc|"]


def test_windows_1252_file_is_decoded_to_unicode():
    assert texts("cp1252.abc") == ["X:1\nT:“Smart” Quotes – Reel\nK:D\ndefg|"]


def test_latin1_fallback_and_control_characters_make_a_tune_unreadable():
    # Byte 0x90 has no Windows-1252 meaning: the file is Latin-1, where it is a control character.
    tunes, dropped = read("latin1.abc")
    assert [t.text for t in tunes] == ["X:1\nT:Garçon Latin\nK:A\nABcd|"]
    assert dropped == Counter(unreadable=1)


def test_decode_bytes_order():
    assert decode_bytes("Café".encode("utf-8")) == "Café"
    assert decode_bytes(b"\xef\xbb\xbfX:1") == "X:1"
    assert decode_bytes(b"\x93q\x94") == "“q”"  # cp1252 before latin-1
    assert decode_bytes(b"\x81") == "\x81"  # latin-1 never fails
    assert decode_bytes("X:1 é".encode("utf-16")) == "X:1 é"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_bom_is_detected(encoding):
    # Windows tools write UTF-16 without a BOM: read as UTF-8 or cp1252 it was NULs between letters.
    text = "% from a Windows tool\r\nX:1\r\nT:Café Ж\r\nK:G\r\nGABc|\r\n\r\nX:2\r\nT:Second\r\nK:D\r\ndefg|\r\n"
    data = text.encode(encoding)
    assert decode_bytes(data) == text
    tunes, dropped = read_abc_bytes(data)
    assert [t.text for t in tunes] == ["X:1\nT:Café Ж\nK:G\nGABc|", "X:2\nT:Second\nK:D\ndefg|"]
    assert not dropped
    # an editor's newline after the last character: still the whole text
    assert decode_bytes(data + b"\n") == text
    # a stray byte at the end is one unreadable character (its tune dropped and counted), not a lost file
    tunes, dropped = read_abc_bytes(data + b"\xff")
    assert [t.title for t in tunes] == ["Café Ж"] and dropped == Counter(unreadable=1)


def test_nul_bytes_at_both_positions_are_binary_not_utf16():
    data = bytes(range(256)) * 4
    assert decode_bytes(data) == data.decode("latin-1")


def test_binary_garbage_in_a_tune_drops_only_that_tune():
    tunes, dropped = read("unreadable.abc")
    assert [(t.title, t.index) for t in tunes] == [("Fine", 2)]
    assert dropped == Counter(unreadable=1)



UTF8_BAD_BYTE = ("X:1\nT:Café\nK:G\nGABc|\n\nX:2\nT:Night 🌙 Reel\nK:D\ndefg|\n\n".encode()
                 + b"X:3\nT:Bad Byte\nK:A\nAB\xffcd|\n\n"  # one byte that is no UTF-8
                 + "X:4\nT:Çà et là\nK:E\nEFGA|\n".encode())


def test_one_bad_byte_spoils_only_its_own_tune():
    """A UTF-8 file with one invalid byte is not read as Windows-1252 as a whole (which turned every
    accent and emoji into mojibake such as `CafÃ©`): the tune holding the byte is dropped and
    counted, the others keep their text."""
    tunes, dropped = read_abc_bytes(UTF8_BAD_BYTE)
    assert [(t.title, t.index) for t in tunes] == [("Café", 1), ("Night 🌙 Reel", 2), ("Çà et là", 4)]
    assert dropped == Counter(unreadable=1)
    assert "Ã" not in decode_bytes(UTF8_BAD_BYTE) and decode_bytes(UTF8_BAD_BYTE).count("\ufffd") == 1


def test_a_byte_windows_1252_lacks_spoils_only_its_own_tune():
    # 0x81 has no Windows-1252 meaning: only its tune is read as Latin-1 (and is unreadable there)
    data = (b"X:1\nT:\x93Smart\x94 \x96 Reel\nK:D\ndefg|\n\nX:2\nT:Odd\nK:G\nGA\x81Bc|\n\n"
            b"X:3\nT:Caf\xe9\nK:A\nABcd|\n")
    tunes, dropped = read_abc_bytes(data)
    assert [t.title for t in tunes] == ["“Smart” – Reel", "Café"] and dropped == Counter(unreadable=1)
    assert decode_bytes(b"\xc9\x94 X:1\nT:Caf\xe9 \xe9t\xe9\n") == "É” X:1\nT:Café été\n"  # not UTF-8 for one pair


# --- structure: file header, separation, fields ---------------------------------------------------


def test_file_header_before_first_x_belongs_to_no_tune():
    tunes, dropped = read("file_header.abc")
    assert [t.text for t in tunes] == ["X:1\nT:After Header\nK:Em\nEFG ABc|"]
    assert not dropped


def test_tunes_without_blank_lines_between_them():
    tunes, _ = read("no_blank_lines.abc")
    assert [t.text for t in tunes] == [
        "X:1\nT:First\nK:G\nGABc|",
        "X:2\nT:Second\nK:D\ndefg|",
        "X:3\nT:Third\nK:A\nabcd|",
    ]
    assert [t.index for t in tunes] == [1, 2, 3]


def test_fields_after_k_are_read_and_k_closes_the_header():
    (tune,), _ = read("field_order.abc")
    assert tune.text == "X:7\nT:Odd Order\nM:9/8\nL:1/8\nR:slip jig\nK:Bm\nB3 cde fed|"
    assert (tune.X, tune.title, tune.key, tune.meter, tune.rhythm) == ("7", "Odd Order", "Bm", "9/8", "slip jig")


def test_whitespace_is_stripped_and_field_lines_spelled_one_way():
    assert texts("whitespace.abc") == ["X:5\nT:Spaced Out\nM:3/4\nK:G\nGAB  cde |\ndBG  AFD |"]


def test_line_continuations_are_joined():
    assert texts("continuation.abc") == ["X:1\nT:Long Title\nK:D\nabc def|gfe dcB|ABC DEF|\nAB cd|fed cBA|"]


def test_header_only_and_keyless_tunes_are_dropped_and_free_text_ignored():
    tunes, dropped = read("dropped.abc")
    assert [(t.text, t.index) for t in tunes] == [("X:3\nT:Kept\nK:C\ncdef|", 3)]
    assert dropped == Counter(no_music=2, fragment=1)


# --- comments ------------------------------------------------------------------------------------


def test_comments_strip_removes_comments_but_not_percent_in_quotes():
    (tune,), _ = read("comments.abc", "strip")
    assert tune.text == 'X:1\nT:Comment Tune\nM:3/4\nK:A\n"A"abc "50% slower"def|\nABc \\%de|\ncBA|]'


def test_comments_keep_leaves_them_but_header_values_are_clean():
    (tune,), _ = read("comments.abc", "keep")
    assert tune.text == (
        "X:1\nT:Comment Tune % the title\n% a whole-line comment\n%%MIDI program 41\nM:3/4\nK:A % key of A\n"
        '"A"abc "50% slower"def|  % trailing comment\nABc \\%de|\n%%MIDI transpose 2\ncBA|]'
    )
    assert (tune.title, tune.key, tune.meter) == ("Comment Tune", "A", "3/4")


# --- the corpus format ---------------------------------------------------------------------------


def test_tagged_text_blocks_and_fragments():
    tunes, dropped = read("tagged.txt")
    assert [(t.text, t.index) for t in tunes] == [
        ("X:1\nT:Tagged One\nK:G\nGABc dedB|", 1),
        ("X:2\nT:Tagged Two\nM:3/4\nK:D\ndef gfe|", 4),
    ]
    assert dropped == Counter(fragment=3)  # no X:, empty, cut off before <end>


def test_block_cut_off_by_the_next_start_is_a_fragment():
    text = "<start>\nX:1\nT:Cut\nK:G\nGA\n<start>\nX:2\nT:Whole\nK:G\nGABc|\n<end>\n"
    tunes, dropped = read_abc_text(text)
    assert [t.title for t in tunes] == ["Whole"]
    assert dropped == Counter(fragment=1)


def test_reading_corpus_format_gives_back_the_tunes_written():
    originals = texts("crlf.abc") + texts("field_order.abc") + texts("comments.abc")
    assert [t.text for t in read_abc_text(join_tagged(originals))[0]] == originals


# --- tag text: <start> and <end> inside tunes and free text ----------------------------------------


def test_tag_text_in_an_abc_file_does_not_make_it_a_corpus_file():
    # `<start>` in the file header, lyrics and free text used to turn the file into one cut-off block.
    tunes, dropped = read("tag_text.abc")
    assert [(t.text, t.index) for t in tunes] == [
        ("X:1\nT:Plain Reel\nM:4/4\nK:D\ndefg abag|", 1),
        ("X:4\nT:Quiet Jig\nM:6/8\nK:A\nabc cBA|", 4),
        ("X:5\nT:Last One\nK:C\ncdef gfed|", 5),
    ]
    assert dropped == Counter(tag_in_text=2)  # `W: lyrics <start> here`, `T:The <end> of the Road`


def test_tag_text_left_in_a_kept_comment_drops_the_tune():
    tunes, dropped = read("tag_text.abc", "keep")
    assert [t.index for t in tunes] == [1, 5]  # X:4 keeps its `% sing <end> softly` comment
    assert dropped == Counter(tag_in_text=3)


def test_corpus_file_blocks_end_only_at_an_end_line():
    # `W:to the <end> we go` no longer ends its block: the whole tune is dropped, not kept cut short.
    tunes, dropped = read("tagged_tag_text.txt")
    assert [(t.text, t.index) for t in tunes] == [
        ("X:1\nT:First Block\nK:G\nGABc|", 1),
        ("X:4\nT:Indented Tags\nK:Em\nEFGA|", 4),  # tag lines with spaces and tabs around them
        ("X:5\nT:After Them\nK:C\ncdef|", 5),
    ]
    assert dropped == Counter(tag_in_text=2)


@pytest.mark.parametrize(
    "text, titles, dropped",
    [
        ("X:1\nT:A <start> B\nK:G\nGABc|\n\nX:2\nT:Two\nK:G\nGABc|\n", ["Two"], {"tag_in_text": 1}),
        ("X:1\nT:One\nK:G\nGABc|\n<end>\n\nX:2\nT:Two\nK:G\nGABc|\n", ["Two"], {"tag_in_text": 1}),
        ("<start>X:1\nT:One\nK:G\nGABc|<end>\n", [], {}),  # tags not on their own lines: no corpus format
        (" <start> \nX:1\nT:One\nK:G\nGABc|\n <end>\n", ["One"], {}),
        ("<start>\nX:1\nT:One\nK:G\nGABc|\nW:<end> here\n", [], {"fragment": 1}),  # no <end> line
    ],
)
def test_which_tag_text_is_a_tag(text, titles, dropped):
    tunes, counts = read_abc_text(text)
    assert [t.title for t in tunes] == titles and counts == Counter(dropped)


def test_duplicates_are_the_corpus_stages_business():
    # The reader keeps every readable tune; exact and near duplicates are dropped by `abcrnn corpus`.
    assert len(read("duplicates.abc")[0]) == 4
