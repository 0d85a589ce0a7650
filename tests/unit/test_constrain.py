"""Meter-aware decoding: the masks of constrain.MeterConstraint, for character and token vocabularies."""

import random
import re
from pathlib import Path

import pytest
import torch

from abcrnn.generation.constrain import meter as constrain
from abcrnn.notation.tunes import END, START, bar_check, header_text, join_tagged
from abcrnn.generation.constrain.meter import MeterConstraint, clear_tables
from abcrnn.data.reader import read_abc_text

TINY = Path(__file__).parents[1] / "data" / "tiny"
JIG = f"{START}\nX:1\nT:Jig\nR:jig\nM:6/8\nL:1/8\nK:G\n"
REEL = f"{START}\nX:2\nT:Reel\nR:reel\nM:4/4\nL:1/8\nK:D\n"


def _tiny_tunes() -> list[str]:
    tunes = []
    for path in sorted(TINY.glob("*.abc")):
        tunes += [t.text for t in read_abc_text(path.read_text(encoding="utf-8"), str(path))[0]]
    return tunes


TUNES = _tiny_tunes()
CHARS = ["<unk>", *sorted(set(join_tagged(TUNES)) | set("<end>zx"))]


# ABC tokens as folk-rnn has them (the tags, inline fields, short chord symbols, decorations, bar
# lines with their endings, tuplets, pitches with accidentals and octave marks, durations, broken
# rhythm, runs of spaces), everything else one character: the texts join back exactly.
_TOKEN = re.compile(r"""<start>|<end>|\[[A-Za-z]:[^\]\n]{0,24}\]|"[^"\n]{0,8}"|![^!|\n]{1,20}!
    |:{0,3}\[?\|{1,2}\]?:{0,3}(?:\d+(?:[,-]\d+)*)?|:{2,3}|\[\d+|\(\d+(?::\d*){0,2}
    |(?:\^{1,2}|_{1,2}|=)?[A-Ga-g][',]*|\d+(?:/+\d*)?|/+\d*|>{1,3}|<{1,3}|\ +|.""", re.DOTALL | re.VERBOSE)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _token_symbols() -> list[str]:
    found = set(_tokens(join_tagged(TUNES) + "".join(TUNES)))
    found |= {"|", "||", "|:", ":|", "|]", "2", "/", "3/2", "A", "B", "c", "d", "e", "f", "g", " ", "\n", "E"}
    return ["<unk>", START, END, *sorted(found - {START, END})]


TOKENS = _token_symbols()


def allowed(symbols: list[str], text: str) -> set[str]:
    """The symbols a stream whose text so far is `text` may take next."""
    row = MeterConstraint(symbols, [text]).mask()[0]
    return {s for s, ok in zip(symbols, row.tolist()) if ok}


def ok(symbols: list[str], text: str, symbol: str) -> bool:
    return symbol in allowed(symbols, text)


def judged_share(text: str) -> tuple[int, float]:
    """bar_check of a stream's tune, cut after its last bar line if it did not reach <end>."""
    tune = text[text.index(START) + len(START):]
    tune = tune[: tune.index(END)] if END in tune else tune[: tune.rfind("|") + 1]
    return bar_check(tune.strip("\n"))


# --- bar lines ------------------------------------------------------------------------------------

@pytest.mark.parametrize("prime, full, short", [
    (JIG + "ABc def|", "ABc def", "ABc de"),
    (REEL + "ABcd efga|", "ABcd efga", "ABcd efg"),
])
def test_chars_a_bar_closes_when_full_and_only_as_a_section_line_before(prime, full, short):
    assert ok(CHARS, prime + full, "|")
    assert ok(CHARS, prime + full + "|", " ") and ok(CHARS, prime + full + "|", "\n")
    # Short: `|` may only start a section line (`||`, `|]`, `|:`, `|1`): a plain bar line is masked.
    assert ok(CHARS, prime + short, "|")
    after = allowed(CHARS, prime + short + "|")
    assert {"|", "]", ":", "1"} <= after
    assert not after & {" ", "\n", "A", "a", "z", "<"}


@pytest.mark.parametrize("prime, full, short", [
    (JIG + "ABc def|", ["A", "B", "c", " ", "d", "e", "f"], ["A", "B", "c", " ", "d", "e"]),
    (REEL + "ABcd efga|", ["A", "B", "c", "d", " ", "e", "f", "g", "A"], ["A", "B", "c", "d", " ", "e", "f", "g"]),
])
def test_tokens_a_plain_bar_line_is_masked_before_the_bar_is_full(prime, full, short):
    assert ok(TOKENS, prime + "".join(full), "|")
    assert not ok(TOKENS, prime + "".join(short), "|")
    assert ok(TOKENS, prime + "".join(short), "||") and ok(TOKENS, prime + "".join(short), ":|")
    assert ok(TOKENS, prime + "".join(short), "f")  # the note that fills it


def test_no_bar_may_overflow_not_even_a_pickup_or_one_beside_a_section_line():
    for symbols in (CHARS, TOKENS):
        assert not ok(symbols, JIG + "ABc def", "A")           # full: no more notes
        assert not ok(symbols, JIG + "ABc def|| ABc def", "A")
        assert not ok(symbols, JIG + "|: ABc def", "g")
        assert ok(symbols, JIG + "ABc def", "|")


# --- durations -------------------------------------------------------------------------------------

@pytest.mark.parametrize("symbols", [CHARS, TOKENS], ids=["chars", "tokens"])
def test_a_duration_that_overflows_the_bar_is_masked(symbols):
    text = JIG + "ABc def|ABc de"  # 5 eighths: one left
    assert ok(symbols, text, "f")              # a note letter may stand: one eighth fits …
    assert not ok(symbols, text + "f", "2")    # … but not as a quarter
    assert ok(symbols, text + "f", "/")        # shorter is fine
    assert ok(symbols, text + "f", "|")
    assert ok(symbols, JIG + "ABc def|ABc d", "e") and ok(symbols, JIG + "ABc def|ABc d" + "e", "2")
    assert not ok(symbols, JIG + "ABc def|ABc d" + "e", "3")
    if "3/2" in symbols:
        assert ok(symbols, JIG + "ABc def|ABc d" + "e", "3/2")


def test_chars_a_note_that_does_not_fit_must_be_shortened():
    text = JIG + "ABc def|ABc de f/"   # 5 1/2 eighths: a sixteenth left
    assert ok(CHARS, text, "g")                 # `g` may still become `g/`
    assert ok(CHARS, text + "g", "/")
    for after in (" ", "|", "A", "2", "\n"):   # but it may not stay an eighth
        assert not ok(CHARS, text + "g", after)
    assert ok(CHARS, text + "g/", "|")


def test_tuplets_and_broken_rhythm_count_as_the_reader_counts_them():
    jig, reel = JIG + "GAB cBA|", REEL + "ABcd efga|"
    assert ok(CHARS, jig + "AB (3cde f2|", " ")   # in 6/8, (3 is three notes in the time of two
    assert not ok(CHARS, jig + "AB (3cde f|", " ")
    assert ok(CHARS, jig + "AB (3cde f", "2")
    assert not ok(CHARS, jig + "AB (3cde f", "3")
    assert ok(CHARS, reel + "AB (3cde f3", "|")    # in 4/4, three in the time of two as well
    assert ok(CHARS, reel + "A>B c>d e>f g", "a")     # 7 eighths: one more
    assert ok(CHARS, reel + "A>B c>d e>f g", ">")     # g> and a half-length note fill the bar …
    assert not ok(CHARS, reel + "A>B c>d e>f g2", ">")  # … a longer g> makes it overflow
    assert ok(CHARS, reel + "A>B c>d e>f g2", "<")


# --- pickups, section lines and the end ---------------------------------------------------------

@pytest.mark.parametrize("symbols, bar", [(CHARS, ["|", " "]), (TOKENS, ["|", " "])], ids=["chars", "tokens"])
def test_a_pickup_may_be_short(symbols, bar):
    assert ok(symbols, JIG + "D", bar[0]) and ok(symbols, JIG + "D" + bar[0], bar[1])
    assert ok(symbols, JIG + "D|", "G")
    # the second bar may not: it is judged
    assert not ok(symbols, JIG + "D|GAB cBA|GA" + ("|" if symbols is CHARS else ""), bar[1 if symbols is CHARS else 0])


@pytest.mark.parametrize("symbols", [CHARS, TOKENS], ids=["chars", "tokens"])
def test_short_bars_beside_section_lines_are_allowed(symbols):
    # opened after a section or repeat line: the bar reader does not judge it
    for section in ("||", "|:", ":|", "|]"):
        text = JIG + "GAB cBA|GAB cBA" + section + "D"
        assert ok(symbols, text, "|"), section
        assert ok(symbols, text + "|", "G"), section
    # closed by one
    text = JIG + "GAB cBA|GAB c"
    assert ok(symbols, text, ":|") if symbols is TOKENS else ok(symbols, text, ":") and ok(symbols, text + ":", "|")
    assert ok(symbols, text, "||") if symbols is TOKENS else ok(symbols, text + "|", "|")
    assert ok(symbols, text, "|]") if symbols is TOKENS else ok(symbols, text + "|", "]")
    # but a plain bar line after a plain one is judged
    assert not ok(symbols, JIG + "GAB cBA|GAB cBA|D" + ("|" if symbols is CHARS else ""), " " if symbols is CHARS else "|")


def test_the_end_is_masked_in_mid_bar():
    assert not ok(CHARS, JIG + "GAB cBA|GAB c\n", "<")
    assert ok(CHARS, JIG + "GAB cBA|GAB cBA|\n", "<")
    assert ok(CHARS, JIG + "GAB cBA|GAB cBA|\n<en", "d")
    assert not ok(TOKENS, JIG + "GAB cBA|GAB c\n", END)
    assert ok(TOKENS, JIG + "GAB cBA|GAB cBA|\n", END)
    assert ok(TOKENS, JIG + "GAB cBA|GAB cBA|]\n", END)
    assert ok(TOKENS, JIG + "GAB cBA|GAB cB\n", END) is False


def test_inline_and_body_meter_changes_follow_the_reader():
    assert ok(CHARS, JIG + "GAB cBA|[M:3/4]GAB c", "B")        # 3/4 with L:1/8: six eighths too
    assert ok(CHARS, JIG + "GAB cBA|\nM:2/4\nGAB c", "|")      # 2/4: four eighths
    assert not ok(CHARS, JIG + "GAB cBA|\nM:2/4\nGAB c", "B")
    assert ok(CHARS, JIG + "GAB cBA|\nL:1/16\nGAB cBA", "B")   # now sixteenths: room for more
    assert ok(CHARS, JIG + "GAB cBA|\nM:none\nGAB cBA", "B")   # free meter: nothing is judged


def test_a_meter_change_in_mid_bar_must_suit_the_bar_so_far():
    text = JIG + "GAB cBA|GAB\nM:"   # three eighths in the bar
    assert ok(CHARS, text + "2/", "4") and not ok(CHARS, text + "1/", "4")  # 2/4 holds them, 1/4 does not
    assert ok(CHARS, text + "2/4", "\n")  # the line may always end: its field counted as it was written
    assert ok(CHARS, JIG + "GAB cBA|GAB[M:2/", "4") and not ok(CHARS, JIG + "GAB cBA|GAB[M:1/", "4")


def test_the_header_and_a_tune_without_meter_are_not_constrained():
    for prime in (f"{START}\nX:1\nT:", f"{START}\nX:1\nM:6/8\nL:1/8\n", f"{START}\n"):
        assert allowed(CHARS, prime) == set(CHARS) - {"<unk>"}
    free = f"{START}\nX:1\nT:Free\nM:none\nL:1/8\nK:G\nABcdefgabcdefg"
    assert allowed(CHARS, free) == set(CHARS) - {"<unk>"}
    assert allowed(CHARS, JIG + "ABc" + f"\n{END}\n") == set(CHARS) - {"<unk>"}  # ended


def test_comments_chord_symbols_and_decorations_are_not_music():
    assert ok(CHARS, JIG + "ABc def|% a comment: ABCDEFG", "G")
    assert ok(CHARS, JIG + "ABc def|", '"') and ok(CHARS, JIG + 'ABc def"G', "7")  # "G7" after the bar
    assert ok(CHARS, JIG + 'ABc def|"Am7', '"')
    assert ok(CHARS, JIG + "ABc def!fermata", "!")
    assert ok(CHARS, JIG + "ABc def{ag", "}") and not ok(CHARS, JIG + "ABc def{ag}", "a")


def test_a_bar_stays_on_the_grid_of_quarter_units_out_of_tuplets():
    text = JIG + "GAB cBA|A/"
    assert ok(CHARS, text, "2") and ok(CHARS, text, "4")
    assert not ok(CHARS, text, "3")  # A/3 would leave a remainder only odd durations fill


def test_a_span_left_open_too_long_counts_as_music_and_may_no_longer_close():
    bar = JIG + "GAB cBA|"
    assert ok(CHARS, bar + '"Am7', '"') and ok(CHARS, bar + '"Am7"', "A")
    rests = bar + '"' + "x" * 23  # 23 rests if the quote is never closed: the bar would overflow
    assert ok(CHARS, rests, '"')
    assert not ok(CHARS, rests, " ") and not ok(CHARS, rests, "x")
    words = bar + '"' + "T" * 24  # decorations: waited for too long, it is read alone (as music) …
    assert not ok(CHARS, words, '"')  # … and can no longer close
    assert ok(CHARS, words, "A") and ok(CHARS, words + "A", "|")


# --- never stalling -------------------------------------------------------------------------------

def test_a_stream_with_nothing_legal_falls_back_to_everything():
    symbols = ["<unk>", "| ", "A4", END]  # in a half-full bar: a plain bar line, an overflow, the end
    constraint = MeterConstraint(symbols, [JIG + "ABc def|ABc", JIG + "ABc def|ABc def"])
    mask = constraint.mask()
    assert constraint.fallbacks == 1
    assert mask[0].tolist() == [False, True, True, True]   # everything but <unk>
    assert mask[1].tolist() == [False, True, False, True]
    assert constraint.mask() is mask and constraint.fallbacks == 1  # once per step
    choice = torch.where(mask, torch.tensor([0.0, 0.1, 0.5, 0.2]), float("-inf")).argmax(-1)
    assert mask[torch.arange(2), choice].all()
    constraint.advance(choice)
    assert constraint.mask().shape == (2, 4)


def test_advance_takes_lists_and_tensors_and_checks_the_count():
    constraint = MeterConstraint(CHARS, [JIG, REEL])
    constraint.advance(torch.tensor([CHARS.index("A"), CHARS.index("B")]))
    constraint.advance([CHARS.index("2"), CHARS.index("2")])
    with pytest.raises(ValueError):
        constraint.advance([1])


# --- real tunes and random streams ----------------------------------------------------------------

def _good_tunes(count: int) -> list[str]:
    chosen, meters = [], set()
    for tune in TUNES:
        meter = next(line for line in tune.split("\n") if line.startswith("M:"))
        if bar_check(tune)[1] == 1.0 and (meter not in meters or len(chosen) < 3):
            chosen.append(tune)
            meters.add(meter)
        if len(chosen) == count:
            break
    return chosen


@pytest.mark.parametrize("mode", ["chars", "tokens"])
def test_real_tunes_are_never_masked(mode):
    tunes = _good_tunes(7)
    assert len({line for t in tunes for line in t.split("\n") if line.startswith("M:")}) >= 4
    clear_tables()
    symbols = CHARS if mode == "chars" else TOKENS
    index = {s: i for i, s in enumerate(symbols)}
    texts = [f"{START}\n{t}\n{END}" for t in tunes]
    starts = [t.index("\n", t.index("\nK:") + 1) + 1 for t in texts]
    pieces = [list(t[s:]) if mode == "chars" else _tokens(t[s:]) for t, s in zip(texts, starts)]
    constraint = MeterConstraint(symbols, [t[:s] for t, s in zip(texts, starts)])
    for step in range(max(map(len, pieces))):
        mask = constraint.mask()
        ids = [index[p[step]] if step < len(p) else 1 for p in pieces]
        for k, (p, i) in enumerate(zip(pieces, ids)):
            if step < len(p):
                assert mask[k, i], (mode, k, "".join(p[: step + 1])[-60:])
        constraint.advance(ids)
    assert constraint.fallbacks == 0
    assert all(constraint.ended)


def _random_streams(symbols: list[str], primes: list[str], steps: int, seed: int):
    rng = random.Random(seed)
    constraint = MeterConstraint(symbols, primes)
    texts, history = list(primes), []
    for _ in range(steps):
        mask = constraint.mask()
        history.append(mask.clone())
        ids = [rng.choice(row.nonzero().flatten().tolist()) for row in mask]
        constraint.advance(ids)
        texts = [t if END in t else t + symbols[i] for t, i in zip(texts, ids)]
    return constraint, texts, history


def test_random_streams_keep_every_bar_in_its_meter():
    primes = [f"{START}\n{header_text(t)}\n" for t in _good_tunes(6)[:5]] + [JIG, REEL]
    constraint, texts, _ = _random_streams(CHARS, primes, 400, seed=1)
    assert constraint.fallbacks == 0
    shares = [judged_share(text) for text in texts]
    assert sum(judged for judged, _ in shares) >= 20
    for text, (judged, share) in zip(texts, shares):
        assert judged == 0 or share == 1.0, text


def test_a_streams_mask_depends_on_its_own_text_alone():
    """Cached rows and steps are shared between states that behave alike: a stream's masks must be
    those of a constraint that sees only its text, built from scratch."""
    primes = [JIG, REEL, f"{START}\n{header_text(_good_tunes(4)[3])}\n"]
    clear_tables()
    _, texts, history = _random_streams(CHARS, primes, 120, seed=7)
    index = {s: i for i, s in enumerate(CHARS)}
    for k, (prime, text) in enumerate(zip(primes, texts)):
        body = text[len(prime):]
        for step in range(0, min(len(body), 120), 3):
            clear_tables()
            alone = MeterConstraint(CHARS, [prime + body[:step]]).mask()[0]
            assert torch.equal(alone, history[step][k]), (k, step, (prime + body[:step])[-40:])
        assert all(symbol in index for symbol in body)


@pytest.mark.parametrize("mode", ["chars", "tokens"])
def test_the_shortcuts_agree_with_reading_every_symbol_in_full(mode, monkeypatch):
    """Masks come from cached rows, equivalent symbols and states before or after the token being
    written; they must equal those of reading each symbol appended to each stream's whole text."""
    symbols = CHARS if mode == "chars" else TOKENS
    weights = [12 if s[:1] in "ABCDEFGabcdefg" else 6 if s in (" ", "|", "2", "/", "\n", '"', "{", "}", "(3", ">")
               else 1 for s in symbols]
    rng = random.Random(3)
    clear_tables()
    primes = [JIG, REEL, f"{START}\n{header_text(_good_tunes(4)[3])}\n"]
    constraint, texts = MeterConstraint(symbols, primes), list(primes)
    for step in range(90):
        mask = constraint.mask()
        if step % 6 == 5:
            monkeypatch.setattr(constrain, "_SHORTCUTS", False)
            for k, text in enumerate(texts):
                clear_tables()
                full = MeterConstraint(symbols, [text]).mask()[0]
                assert torch.equal(full, mask[k]), (mode, step, text[-40:])
            monkeypatch.setattr(constrain, "_SHORTCUTS", True)
            clear_tables()
        ids = [rng.choices(range(len(symbols)), [w * a for w, a in zip(weights, row)])[0] for row in mask.tolist()]
        constraint.advance(ids)
        texts = [t if END in t else t + symbols[i] for t, i in zip(texts, ids)]
