"""Form plans: read from real tunes, drawn by rhythm and meter, turned into the bars a decoder writes."""
from fractions import Fraction

import pytest

from abcrnn.generation.constrain.forms import Part, Plan, PlanBook, feasible, plan_of, slots

REEL = "X:1\nT:r\nR:reel\nM:C|\nL:1/8\nK:D\n|:" + "ABcd efge|" * 7 + "ABcd e4:|\n|:" + "fgaf gefd|" * 7 + "fgaf e4:|"
JIG = ("X:2\nT:j\nR:jig\nM:6/8\nL:1/8\nK:G\nD|:" + "GAB c2d|" * 6 + "e2f g2e|1 d3 d2D:|2 d3 d2||\n|:" + "gfe d2c|" * 7
       + "B3 G2:|")
AIR = "X:3\nT:a\nR:air\nM:3/4\nL:1/8\nK:Ador\n" + "A2 c2 e2|" * 15 + "A6|]"


def test_plans_of_real_tunes():
    assert plan_of(REEL) == Plan((Part(8, True), Part(8, True)))
    assert str(plan_of(JIG)) == "A8r1 B8r pickup 1/8"
    assert plan_of(AIR) == Plan((Part(16, False),))
    assert plan_of("X:4\nT:free\nM:none\nK:C\nABC|") is None


@pytest.mark.parametrize("text", ["A8r B8r", "A8r1 B8r1 pickup 1/8", "A16", "A4r B4 C12r2 pickup 3/16"])
def test_a_plan_reads_back_what_it_writes(text):
    assert str(Plan.parse(text)) == text
    with pytest.raises(ValueError):
        Plan.parse("eight bars")


def test_slots_close_parts_at_the_planned_bars():
    bars = slots(Plan.parse("A2r1 B2 pickup 1/8"), Fraction(3, 4))
    assert [(s.length, sorted(s.words), s.opens, s.last) for s in bars] == [
        (Fraction(1, 8), ["|"], True, False), (Fraction(3, 4), ["|1"], False, False),
        (Fraction(5, 8), [":|2"], False, False), (Fraction(5, 8), ["||"], False, False),
        (Fraction(1, 8), ["|"], False, False), (Fraction(3, 4), ["|"], False, False),
        (Fraction(5, 8), ["|]"], False, True)]
    assert feasible(Plan.parse("A8r B8r pickup 1/8"), Fraction(3, 4), Fraction(1, 8))
    assert not feasible(Plan.parse("A8r pickup 1/12"), Fraction(3, 4), Fraction(1, 8))  # no note is 1/12
    assert not feasible(Plan.parse("A8r pickup 3/4"), Fraction(3, 4), Fraction(1, 8))


def test_plans_are_drawn_from_the_tunes_of_the_headers_rhythm_and_meter():
    book = PlanBook([REEL, JIG, AIR])
    reel, jig, air = plan_of(REEL), plan_of(JIG), plan_of(AIR)
    assert book.draw("X:9\nT:n\nR:Reel\nM:C|\nK:D", seed=1) == reel
    assert book.draw("X:9\nT:n\nR:slide\nM:6/8\nK:D", seed=1) == jig  # no slide: the meter alone
    assert book.draw("X:9\nT:n\nM:3/4\nK:D", seed=1) == air
    assert book.draw("X:9\nT:n\nM:5/4\nK:D", seed=1) is None
    assert book.draw("X:9\nT:n\nR:reel\nM:C|\nK:D", seed=1, fits=lambda p: p.bars < 10) is None
