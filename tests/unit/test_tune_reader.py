"""The reader behind grammar-aware decoding (generation/constrain/tune.py): it never leaves a tune
with no way to go on, and what it lets through is valid ABC at each strength, by the project's
own readers (renderer checks: tests/e2e/test_grammar_render.py)."""

import random
from fractions import Fraction

import pytest

from abcrnn.generation.constrain.forms import Plan, slots
from abcrnn.generation.constrain.context import ABC, DONE, FORM, METER, Context
from abcrnn.generation.constrain.tune import Reader
from abcrnn.notation.bars import bar_check
from abcrnn.notation.defects import defects
from abcrnn.notation.melody import four_bar_parts, parse_key, part_lengths, read_melody, two_part_form
from abcrnn.notation.tunes import header_fields, meter_length, unit_length

ALPHABET = [chr(i) for i in range(32, 127)] + ["\n"]
HEADERS = [("M:6/8\nL:1/8\nK:G", "A8r B8r"), ("M:C|\nL:1/8\nK:D", "A8r1 B8r1 pickup 1/8"),
           ("M:3/4\nL:1/8\nK:Ador", "A16"), ("M:2/4\nL:1/16\nK:Em", "A4r B4 pickup 1/8"),
           ("M:9/8\nL:1/8\nK:F", "A4r B4r C4r")]


def context(level: int, header: str, plan: str | None = None) -> Context:
    fields = header_fields("X:1\nT:t\n" + header)
    meter = meter_length(fields["M"])
    planned = slots(Plan.parse(plan), meter) if plan else ()
    return Context(level, meter, unit_length(fields.get("L"), meter), parse_key(fields["K"]), planned)


def allowed(reader: Reader) -> list[str]:
    return [c for c in ALPHABET if reader.copy().step(c)]


def walk(ctx: Context, seed: int, soft_limit: int = 250, close_at: int | None = None) -> str:
    """A tune written by choosing, at random, among the characters the reader allows; every state
    met is checked to allow something, and to allow what an earlier state of the same key did.
    From `close_at` characters on, the reader is asked to close (as the sampler does near max_chars)."""
    rng, reader, text, seen = random.Random(seed), Reader(ctx), "", {}
    while reader.mode != DONE:
        if close_at is not None and len(text) >= close_at:
            reader.start_closing()
        chars = allowed(reader)
        assert chars, f"no way on after {text!r}"
        known = seen.setdefault(reader.key(), chars)
        assert known == chars, f"two states of one key allow different characters, at {text!r}"
        ending = [c for c in chars if c in "\n<|:]"] if len(text) > soft_limit else []
        c = rng.choice(ending) if ending and rng.random() < 0.8 else rng.choice(chars)
        if "<" in chars and len(text) > soft_limit / 2:
            c = "<"
        assert reader.step(c)
        text += c
    assert text.endswith("\n<end>")
    return text[: -len("\n<end>")]


@pytest.mark.parametrize("level", [ABC, METER, FORM])
def test_random_writers_always_finish_valid_tunes(level):
    for k, (header, plan) in enumerate(HEADERS):
        ctx = context(level, header, plan if level == FORM else None)
        tune = f"X:1\nT:t\n{header}\n" + walk(ctx, seed=10 * level + k)
        found = defects(tune)
        assert not found.any, tune  # no sign without its note, no run without notes
        if level >= METER:
            judged, share = bar_check(tune)
            assert judged and share == 1.0, tune
        if level == FORM:
            melody = read_melody(tune)
            planned = Plan.parse(plan)
            assert [round(n) for n in part_lengths(melody)] == [p.bars for p in planned.parts], tune
            assert melody.ends_on_tonic() and melody.final_complete(), tune
            assert two_part_form(melody) == (len(planned.parts) == 2 and all(p.repeated for p in planned.parts)), tune
            assert four_bar_parts(melody), tune


@pytest.mark.parametrize("level", [ABC, METER, FORM])
def test_a_tune_asked_to_close_at_any_point_still_finishes_valid(level):
    # Near max_chars the sampler closes the reader; it must never be left with no way on (it was, when
    # closed inside a begun `|` in a repeat, or after `:|2`, whose second ending still needs its bar).
    for seed in range(15):  # (900 such walks, 300 per strength, ran clean when this was written)
        header, plan = HEADERS[seed % len(HEADERS)]
        ctx = context(level, header, plan if level == FORM else None)
        tune = f"X:1\nT:t\n{header}\n" + walk(ctx, seed=100 + seed, close_at=random.Random(seed).randrange(1, 200))
        assert not defects(tune).any, tune
        if level >= METER:
            assert bar_check(tune)[1] == 1.0, tune


def test_closing_waits_for_a_bar_line_it_can_finish_and_ends_after_the_second_ending():
    reader = feed("M:6/8\nL:1/8\nK:G", "|:GAB c2d|e2f g3|", ABC)
    assert reader is not None and not reader.start_closing() and not reader.closing  # `|` begun: only `:|` closes the repeat
    assert reader.feed("\nGAB c2d") and reader.start_closing() and reader.copy().feed(":|\n<end>")
    reader = feed("M:6/8\nL:1/8\nK:G", "|:GAB c2d|1e2f g3", ABC)
    assert reader.start_closing()
    assert reader.feed(":|2")
    assert not reader.copy().feed("\n<end>")                # the second ending needs its bar
    assert reader.feed("e2f g3||\n<end>") and reader.mode == DONE


def feed(header: str, body: str, level: int = METER) -> Reader | None:
    reader = Reader(context(level, header))
    return reader if reader.feed(body) else None


@pytest.mark.parametrize("body, ok", [
    ("GAB c2-c|", True), ("GAB c2-d|", False),     # a tie joins two notes of one pitch
    ("GAB c2-=c|", False),                          # … written alike (abc2midi reads `=c` after `_c'` apart)
    ("GAB c>c c2|", False), ("GA>B c2d|", True),   # broken rhythm: two plain notes of one length
    ("G2>A B2c|", False),                           # (a>b of unequal lengths: abc2midi's error)
    ("(3GAB c3|", True), ("(3GA B c3|", False),     # a tuplet's notes together, of one length
    ("GAB c2d|e2f g3:|", True), ("|1GAB", False),   # an ending only inside a repeat
    ("^ G", False), ("~~G", False), ('"H"G', False), ('"Am7"G', True),  # a sign with its note
    ("GAB c2d e|", False), ("G|GAB c2|G", False),   # bars fill the meter (the first may be short)
    ("G|GAB c2d|", True), ("G|GAB c2d|B|G", False),  # a pickup, but no other short bar
])
def test_what_may_be_written(body, ok):
    assert (feed("M:6/8\nL:1/8\nK:G", body) is not None) == ok


def test_the_tune_ends_only_when_everything_is_closed():
    for body, ends in [("|:GAB c2d|e2f g3|\n", False), ("|:GAB c2d|e2f g3:|\n", True), ("GAB c2d|e2f g3|\n", True),
                       ("GAB c2d|e2f g3-|\n", False), ("GAB c2d|e2f g2|\n", False)]:
        reader = feed("M:6/8\nL:1/8\nK:G", body.replace("g2|", "g2"), METER) if "g2|" in body else \
            feed("M:6/8\nL:1/8\nK:G", body, METER)
        assert (reader is not None and reader.can_end()) == ends, body


def test_form_closes_parts_where_planned_and_ends_on_the_tonic():
    ctx = context(FORM, "M:6/8\nL:1/8\nK:G", "A2r B2r")
    reader = Reader(ctx)
    assert not reader.copy().feed("GAB")              # a repeated part opens with |:
    assert reader.feed("|:GAB c2d|")
    assert not reader.copy().feed("e2f g3|")          # bar 2 of part A is closed by a repeat sign
    assert reader.feed("e2f g3:|")
    assert not reader.copy().feed("\n<end>")          # part B is still to come
    assert reader.feed("|:d2B c2A|")
    assert not reader.copy().feed("B2A G2A:|")        # the last note is G, the tonic
    assert reader.feed("B2A A2G:|\n<end>") and reader.mode == DONE


def test_a_note_letter_then_colon_never_starts_a_line():
    assert feed("M:6/8\nL:1/8\nK:G", "z:|") is None  # `z:` would be a field line to abcm2ps
    assert feed("M:6/8\nL:1/8\nK:G", "z6|") is not None


def test_lengths_follow_the_unit_and_tuplets():
    reader = feed("M:2/4\nL:1/16\nK:G", "(3GAB (3cde c4|\n")
    assert reader is not None and reader.bar == 0 and reader.line_start
    assert context(METER, "M:2/4\nL:1/16\nK:G").meter_t == 64 and Fraction(1, 2) == 64 * reader.ctx.tick
