"""ABC notation: comments, header fields, header and body, note letters, and bar lengths."""

import math
from fractions import Fraction

import pytest
from abc_examples import ARGMAX, ONEILLS, tune

from abcrnn.notation.bars import bar_check
from abcrnn.notation.tunes import (body, header_complete, header_fields, header_text, join_tagged, meter_length,
                                   note_letters, split_tagged, strip_comment, unit_length)

# --- comments ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, expected",
    [
        ("abc % note", "abc"),
        ('"50%"abc % note', '"50%"abc'),
        ("abc \\% def", "abc \\% def"),
        ("% all comment", ""),
        ("no comment", "no comment"),
    ],
)
def test_strip_comment(line, expected):
    assert strip_comment(line) == expected


# --- header helpers ------------------------------------------------------------------------------


def test_header_fields_not_to_key_reads_fields_wherever_k_stands():
    fields = header_fields("X:1\nT:A\nK:G\nM:6/8\nR:jig\nGAB|\nM:3/4", to_key=False)
    assert fields == {"X": "1", "T": "A", "K": "G", "M": "6/8", "R": "jig"}


def test_header_fields_to_key_stops_at_k_and_keeps_comments():
    text = "X:1\nT:A % title\nK:G\nM:6/8\nGAB|"
    assert header_fields(text) == {"X": "1", "T": "A % title", "K": "G"}
    assert header_fields(text, to_key=False) == {"X": "1", "T": "A", "K": "G", "M": "6/8"}
    assert header_fields("X:1\nT:A\n+:B\nK:G\nGAB|", to_key=False) == {"X": "1", "T": "A", "K": "G"}


def test_existing_helpers_keep_their_behaviour():
    tune = "X:1\nT:Title\nM:2/4\nK:D\nabc|\ndef|"
    assert header_fields(tune) == {"X": "1", "T": "Title", "M": "2/4", "K": "D"}
    assert body(tune) == "abc|\ndef|"
    assert split_tagged(join_tagged([tune, tune])) == [tune, tune]
    assert join_tagged([tune]) == f"<start>\n{tune}\n<end>\n"


def test_header_text_is_the_header_through_the_first_k_line():
    assert header_text("X:1\nT:Title\nK:D\nabc|\nK:G\ndef|") == "X:1\nT:Title\nK:D"
    assert header_text("X:1\nT:No key\nabc|") is None


def test_note_letters_leave_out_what_is_not_a_note():
    text = 'X:1\nT:Title\nK:D\n"Am"A!trill!B {ag}c [K:G]d|\nW:words\n% comment\n+slide+e'
    assert note_letters(text) == "ABcde"
    assert note_letters("X:1\nT:No key\nABC") == ""


# --- bar lengths ---------------------------------------------------------------------------------


def test_header_complete_needs_x_t_m_k_but_not_l():
    assert header_complete("X:1\nT:A\nM:6/8\nL:1/8\nK:D\nABc|")
    assert header_complete("X:1\nT:A\nM:6/8\nK:D\nABc|")  # L: defaults from M:
    assert not header_complete("X:1\nM:6/8\nL:1/8\nK:D\nABc|")  # no title
    assert not header_complete("X:1\nT:A\nL:1/8\nK:D\nABc|")  # no meter
    assert not header_complete("X:1\nT:A\nM:6/8\nL:1/8\nABc|")  # no key
    assert not header_complete("ABc dBA|")


def test_meter_and_default_unit_follow_abc_rules():
    assert [meter_length(m) for m in ("C", "C|", "6/8", "2+3/8", "none", None)] == [
        1, 1, Fraction(3, 4), Fraction(5, 8), None, None]
    assert unit_length(None, Fraction(1, 2)) == Fraction(1, 16)  # 2/4: sixteenths
    assert unit_length(None, Fraction(3, 4)) == Fraction(1, 8)
    assert unit_length("1/4", Fraction(3, 4)) == Fraction(1, 4)


@pytest.mark.parametrize("music, meter", [
    ("GABc dedB|dBAG A4|]", "4/4"),
    ("A/B/c/d/ e2 f3/2g/ a2|B>A G<F E2 D2|]", "4/4"),          # halves, dotted, broken rhythm
    ("(3ABc d2 [CEG]2 z2|[G2B2d2] {ag}f2 !trill!e2 \"D\"d2|]", "4/4"),  # tuplet, chords, graces, annotations
    ("D|G2A BAG|A2B c2d|[M:2/4] e2 d2|[L:1/16] e4 d4|]", "6/8"),  # pickup, inline meter and unit
    ("ABc|\nM:3/4\nABc dBA|z6|]", "3/8"),                     # meter change on its own line
    ("|:GAB cBA|1 GAB c3:|2 GAB c2B||", "6/8"),                # repeats and variant endings
])
def test_well_formed_bars_match_the_meter(music, meter):
    judged, share = bar_check(tune(music, meter))
    assert judged >= 2 and share == 1.0


def test_wrong_bars_are_counted():
    # the second bar is one eighth short in the middle of the tune, the third one eighth long
    assert bar_check(tune("GABc dedB|dBAG A3|dBAG A4 B|GABc dedB|]")) == (4, 0.5)
    # pickups at the start, the end and around a double bar are not judged
    assert bar_check(tune("A|GABc dedB|dBAG A2||B|GABc dedB|A2")) == (2, 1.0)
    judged, share = bar_check("X:1\nT:Free\nM:none\nK:G\nABc|def|")
    assert judged == 0 and math.isnan(share)


def test_real_oneills_tunes_score_high_and_the_argmax_loop_does_not():
    shares = [bar_check(t)[1] for t in ONEILLS]
    assert min(shares) >= 0.8 and sum(shares) / len(shares) >= 0.9
    assert bar_check(ARGMAX)[1] == 0.0  # its two-beat bars under M:9/8
