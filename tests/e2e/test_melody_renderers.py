"""The note and bar readers against two independent implementations: abc2midi's MIDI pitches and
abc2abc's bar check, on the O'Neill tunes of tests/data/tiny."""
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import mido
import pytest

from abcrnn.notation.melody import read_melody

from conftest import oneills

def midi_melody(path: Path) -> list[int]:
    """The pitches of the busiest channel of a MIDI file (abc2midi's melody), in order."""
    channels: dict[int, list[int]] = {}
    for msg in mido.MidiFile(path):
        if msg.type == "note_on" and msg.velocity > 0:
            channels.setdefault(msg.channel, []).append(msg.note)
    return max(channels.values(), key=len)


def in_order(mine: list[int], theirs: list[int]) -> int:
    """How many of `mine` appear in `theirs` in the same order (longest common subsequence)."""
    previous = [0] * (len(theirs) + 1)
    for x in mine:
        current = [0]
        for j, y in enumerate(theirs):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


@pytest.mark.skipif(not shutil.which("abc2midi"), reason="abc2midi not installed (make setup installs abcmidi)")
def test_pitches_agree_with_abc2midi_on_oneills_tunes(tmp_path):
    """abc2midi's MIDI plays repeats twice and grace notes too: every note read here must appear in
    it, in order."""
    found = total = 0
    for text in oneills():
        (tmp_path / "t.abc").write_text(text, encoding="utf-8")
        subprocess.run(["abc2midi", "t.abc", "-o", "t.mid"], cwd=tmp_path, capture_output=True, timeout=30,
                       check=True)
        mine = read_melody(text).pitches
        found += in_order(mine, midi_melody(tmp_path / "t.mid"))
        total += len(mine)
    assert total > 4000
    assert found / total >= 0.99


_BAR_ERROR = re.compile(r"^%Error : Bar (\d+) is (\d+(?:/\d+)?) not")


def abc2abc_verdicts(text: str, folder: Path) -> dict[int, Fraction]:
    """abc2abc's bar check: {bar number: length} of the bars it reports as not filling the meter."""
    (folder / "t.abc").write_text(text, encoding="utf-8")
    out = subprocess.run(["abc2abc", "t.abc"], cwd=folder, capture_output=True, text=True, timeout=30).stdout
    return {int(m[1]): Fraction(m[2]) for m in map(_BAR_ERROR.match, out.splitlines()) if m}


def bar_verdicts(text: str, carry_at_repeats: bool) -> dict[int, Fraction | None]:
    """The bar reader's verdict on each bar abc2abc numbers (1 on; bar 0, before the first bar line,
    is not checked): its length where it does not fill the meter, else None.

    abc2abc's own rule, found by comparing the two: a bar closed by a repeat sign (:|) that does not
    fill the meter is not reported, and its length is carried into the next bar with notes."""
    verdicts, carry = {}, Fraction(0)
    for k, bar in enumerate(read_melody(text).bars):
        length = bar.length + carry
        if bar.music:
            carry = Fraction(0)
        if k == 0 or not bar.music:
            continue
        fits = bar.full_rest or bar.meter is None or length == bar.meter
        if carry_at_repeats and bar.line.startswith(":") and not fits:
            carry, fits = length, True
        verdicts[k] = None if fits else length
    return verdicts


@pytest.mark.skipif(not shutil.which("abc2abc"), reason="abc2abc not installed (make setup installs abcmidi)")
def test_bar_reader_agrees_with_abc2abc_bar_check(tmp_path):
    """The bar reader (abc.py, through melody.py) and abc2abc's bar check, on 48 O'Neill tunes.

    They agree on every bar once abc2abc's repeat rule is applied (bar_verdicts). Without it they
    differ only at repeat signs: there abc2abc reports a short bar before `:|` together with the
    first bar after it (X:1821 `D3 D2 :| |: (D2F)(E2G)` is one 11/8 bar to abc2abc, a 5/8 bar
    that ends a part and a full 6/8 bar to abcrnn, which judges pickups and part endings apart)."""
    agree = total = 0
    raw_differences = []
    for text in oneills():
        theirs = abc2abc_verdicts(text, tmp_path)
        mine = bar_verdicts(text, carry_at_repeats=True)
        raw = bar_verdicts(text, carry_at_repeats=False)
        assert set(theirs) <= set(mine), f"{text.splitlines()[0]}: abc2abc reports bars the reader does not have"
        agree += sum(mine[k] == theirs.get(k) for k in mine)
        total += len(mine)
        bars = read_melody(text).bars
        raw_differences += [(k, bars) for k in raw if raw[k] != theirs.get(k)]
    assert total > 900
    assert agree / total >= 0.95, f"bar reader and abc2abc agree on {agree} of {total} bars"
    for k, bars in raw_differences:  # every difference sits beside a repeat sign
        assert ":" in bars[k].line or ":" in bars[k - 1].line or any(":" in b.line for b in bars[k - 2:k]), k
