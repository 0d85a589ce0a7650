"""Marks that write no note: junk a valid tune never holds, whatever its bars add up to."""
import pytest
from abc_examples import ONEILLS

from abcrnn.notation.bars import bar_check
from abcrnn.notation.defects import defects


def tune(music: str) -> str:
    return f"X:1\nT:t\nM:6/8\nL:1/8\nK:G\n{music}"


@pytest.mark.parametrize("music", ["GAB ^ c2d|", "GAB c2d ~|e6|", 'GAB "G"|e6|', 'GAB c2d|""e6|', "GAB (3c2|e6|",
                                   "GAB c2d|>e6|", "GAB c2d|e6-", "(3(3(3GAB c2d|"])
def test_a_sign_without_its_note_is_found(music):
    assert defects(tune(music)).stray_signs >= 1


def test_a_run_without_notes_is_found_and_its_bar_does_not_fit():
    junk = tune("GAB ^^^^^^^^^^^^ c2d|e6|")
    found = defects(junk)
    assert found.noteless_run and found.any and found.bars == {0}
    assert bar_check(junk) == (2, 1.0)                # the lengths alone add up …
    assert bar_check(junk, found.bars) == (2, 0.5)    # … but the bar with the junk does not fit


def test_real_tunes_hold_none_but_a_transcription_slip():
    found = {t.split("\n")[1]: defects(t) for t in ONEILLS}
    slips = {title: d for title, d in found.items() if d.any}
    # O'Neill's 9 ends on `A>G G>  ||`: broken rhythm with no note after it, a slip of its transcriber
    assert list(slips) == ["T:I Could But I Wont"] and slips["T:I Could But I Wont"].stray_signs == 1
    assert not defects(tune('"G"{ag}~G3 "C"(ce>d) ~c3|"D"d>-c (3Bcd -d3|]')).any  # chord symbols, slurs, ties
