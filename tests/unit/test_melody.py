"""Reading a tune's melody from its ABC text: keys, pitches, lengths, bars and parts (cross-checked
against abc2midi and abc2abc in tests/e2e/test_melody_renderers.py)."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abcrnn.analysis.distributions import features
from abcrnn.notation.melody import bars_per_part, parse_key, played_parts, read_melody, sections, two_part_form
from abcrnn.analysis.similarity import ngrams


def tune(music: str, key: str = "G", meter: str = "4/4", unit: str = "1/8") -> str:
    return f"X:1\nT:Test\nM:{meter}\nL:{unit}\nK:{key}\n{music}\n"


@pytest.mark.parametrize("value, tonic, fifths, signature", [
    ("G", 7, 1, {"F": 1}),
    ("Em", 4, 1, {"F": 1}),
    ("Ador", 9, 1, {"F": 1}),
    ("Dmix", 2, 1, {"F": 1}),
    ("F#m", 6, 3, {"F": 1, "C": 1, "G": 1}),
    ("Bb", 10, -2, {"B": -1, "E": -1}),
    ("Gm", 7, -2, {"B": -1, "E": -1}),
    ("D ^g", 2, 2, {"F": 1, "C": 1, "G": 1}),
    ("none", 0, 0, {}),
])
def test_keys(value, tonic, fifths, signature):
    key = parse_key(value)
    assert (key.tonic, key.fifths, key.signature) == (tonic, fifths, signature)


def test_pitches_follow_the_key_accidentals_bars_and_octaves():
    # K:D sharpens F and C; ^G holds to the bar line; =F cancels the key's sharp; c' is two octaves up
    m = read_melody(tune("DFA ^G G =F F c'|G C, z [DFA]2|", key="D"))
    assert m.pitches == [62, 66, 69, 68, 68, 65, 65, 85, 67, 49, 69]  # the chord counts as its highest note


def test_lengths_follow_broken_rhythm_tuplets_and_ties():
    m = read_melody(tune("A>B (3cde f2- f2|g4 a/b/c d|"))
    eighth = Fraction(1, 8)
    assert [n.length for n in m.notes] == [eighth * 3 / 2, eighth / 2, eighth * 2 / 3, eighth * 2 / 3,
                                           eighth * 2 / 3, eighth * 4, eighth * 4, eighth / 2, eighth / 2,
                                           eighth, eighth]
    assert [n.bar for n in m.notes][:6] == [0, 0, 0, 0, 0, 0]  # the tied f is one note in bar 0


def test_intervals_do_not_depend_on_the_key():
    g = read_melody(tune("GABc d2 BG|"))
    a = read_melody(tune("ABcd e2 cA|", key="A"))  # the same tune a tone higher
    assert [p + 2 for p in g.pitches] == a.pitches
    assert g.intervals() == a.intervals()


def test_two_part_form_with_repeat_signs_endings_or_written_out():
    a, b = "GABc dBAG|FGAB cAFD|GABc dBAG|FGAB cAFD", "gfed cBAG|FGAB G4|gfed cBAG|FGAB G4"
    assert two_part_form(read_melody(tune(f"|:{a}:|\n|:{b}:|")))
    assert two_part_form(read_melody(tune(f"{a}||\n{a}||\n{b}||\n{b}|]")))  # AABB written out
    assert two_part_form(read_melody(tune(f"|:{a}|{a}||\n{b}|{b}|]")))  # each part written twice in one section
    assert two_part_form(read_melody(tune(f"|:GABc dBAG|FGAB cAFD|GABc dBAG|1FGAB cAFD:|2FGAB G4||\n|:{b}:|")))
    assert not two_part_form(read_melody(tune(f"|:{a}:|\n|:{b}:|\n|:gggg ffff|eeee dddd:|")))  # three parts
    assert not two_part_form(read_melody(tune(f"{a}|{b}|]")))  # no repeats: A B
    assert not two_part_form(read_melody(tune("")))


def test_parts_and_final_bar_count_a_pickup_with_the_bar_it_completes():
    m = read_melody(tune("D|:GABc dBAG|FGAB cAFD|GABc dBAG|FGAB G3:|", meter="4/4"))
    assert [s.length for s in sections(m)] == [4.0]  # the 1/8 pickup and the 7/8 last bar: 4 bars
    assert [p for p, _ in played_parts(m)] == [0, 0]
    assert bars_per_part(m) == 4.0
    assert m.final_complete()  # the 7/8 last bar and the 1/8 pickup make a bar
    assert not read_melody(tune("GABc dBAG|FGAB G2|")).final_complete()


def test_the_tonic_is_the_last_note_and_the_mode_is_where_the_notes_centre():
    assert read_melody(tune("GABc dBAG|", key="G")).ends_on_tonic()
    assert not read_melody(tune("GABc dBAG|D4|", key="G")).ends_on_tonic()  # a half cadence
    # the mode comes from all the notes, whatever the last one: Krumhansl-Schmuckler within the signature
    assert read_melody(tune("GABc dBAG|GBdg dBG2|B2AG F2G2|", key="G")).mode() == "ionian"
    assert read_melody(tune("GABc dBAG|GBdg dBG2|B2AG F2D2|", key="G")).mode() == "ionian"
    assert read_melody(tune("A2BA GAEA|A2Bc d2ed|cABG A4|EAAG A4|", key="Ador")).mode() == "dorian"
    assert read_melody(tune("E2BE GEBE|E2B2 e2dB|GABG E4|B,E EF G2FE|E4 z4|", key="Em")).mode() == "aeolian"
    assert read_melody(tune("D2FA dAFA|D2FA c2BA|GFGA dcAF|D4 D4|", key="Dmix")).mode() == "mixolydian"
    assert read_melody(tune("d4 d4|", key="D")).mode() == "none"  # one pitch class: no mode
    assert read_melody(tune("z4|", key="G")).mode() == "none"


def test_meter_used_is_the_bar_length_most_bars_fill():
    assert read_melody(tune("GAB cBA|GAB cBA|GAB cBA|", meter="6/8")).meter_used() == "6/8"
    assert read_melody(tune("GABc|GABc|GABc|GABc|", meter="C")).meter_used() == "2/4"
    assert read_melody(tune("GABc dBAG|FGAB cAFD|GABc dBAG|", meter="C|")).meter_used() == "4/4"


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ABCGabcgzxZ|:[]()<>{}!\"^_=,'/0123-.~ \nMLK&\\%", max_size=200),
       st.sampled_from(["C", "6/8", "0/0", "none", ""]), st.sampled_from(["G", "Ador", "", "H#", "none"]))
def test_any_text_reads_as_a_melody(music, meter, key):
    # temperature 2 writes any characters at all: every measure must still be taken
    m = read_melody(f"X:1\nT:x\nM:{meter}\nL:1/8\nK:{key}\n{music}")
    assert all(n.length > 0 and 0 <= n.bar < len(m.bars) for n in m.notes)
    assert m.mode() and m.meter_used() and isinstance(two_part_form(m), bool) and bars_per_part(m) >= 0
    assert isinstance(m.final_complete(), bool) and isinstance(m.ends_on_tonic(), bool)
    f = features(m)
    assert f.bars >= 0 and f.pitch_range >= 0 and len(ngrams(m)) <= max(0, len(m.notes) - 4)
