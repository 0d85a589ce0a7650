"""What the notes of a set of tunes do, as distributions, and how much two sets' distributions overlap.

After Yang & Lerch, "On the evaluation of generative models in music" (2020): the same features
(pitch-class histogram, pitch range, melodic intervals, note lengths, notes per bar, bars per
tune, and here the meter the bars fill and the mode the notes are in), each summarised per set and
compared with the real tunes by the overlapping area of the two distributions: 1 when they are the
same, 0 when they share nothing. Yang & Lerch compare the distributions of pairwise distances
between tunes; this compares the feature distributions directly, which needs no pairing and reads
the same way (overlap, 0..1).

Note lengths are counted with the place in the bar where each note starts ("1/8 at 3/8": an
eighth note on the fourth eighth of the bar), the note-length histogram of Yang & Lerch made
rhythmic: the lengths alone cannot tell T = 2 noise from music (noise draws the corpus's common
lengths too, in any order), where they fall in the bar can.

Per-note features (pitch class, interval, note length, notes per bar) are histograms per tune,
normalised and averaged over the set, so that every tune weighs the same (a 2000-character argmax
loop does not outweigh twenty real tunes). Per-tune numbers (pitch range, bars) are smoothed with
a Gaussian kernel before the overlap, which keeps sets of 20 tunes comparable with sets of 170.
Meter and mode are shares of tunes per category.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from abcrnn.notation.melody import Melody

# family: (label for tables and plots, kind)
FAMILIES = {
    "pitch_class": ("pitch classes (semitones above the tonic)", "notes"),
    "pitch_range": ("pitch range (semitones)", "smooth"),
    "intervals": ("melodic intervals (semitones)", "notes"),
    "note_lengths": ("note lengths, at their place in the bar", "notes"),
    "notes_per_bar": ("notes per bar", "notes"),
    "bars": ("bars per tune", "smooth"),
    "meter": ("meter the bars fill", "category"),
    "mode": ("mode the notes are in", "category"),
}
MAX_INTERVAL = 13      # larger leaps count as ±13 ("more than an octave")
MAX_NOTES_PER_BAR = 24  # fuller bars count as 24
SMOOTHING = {"pitch_range": (np.arange(0.0, 60.5, 0.5), 2.0), "bars": (np.arange(0.0, 300.5, 1.0), 3.0)}


@dataclass(frozen=True)
class TuneFeatures:
    pitch_class: Counter
    intervals: Counter
    note_lengths: Counter
    notes_per_bar: Counter
    pitch_range: float
    bars: int
    meter: str
    mode: str

    def get(self, family: str):
        return getattr(self, family)


def length_label(length: Fraction) -> str:
    return f"{length.numerator}/{length.denominator}" if length else "0"


def features(melody: Melody) -> TuneFeatures:
    """The distribution features of one tune (a tune without notes has empty histograms, range 0)."""
    pitches = melody.pitches
    per_bar = Counter(n.bar for n in melody.notes)
    music = [k for k, b in enumerate(melody.bars) if b.music and not b.full_rest]
    return TuneFeatures(
        pitch_class=Counter((p - melody.key.tonic) % 12 for p in pitches),
        intervals=Counter(max(-MAX_INTERVAL, min(MAX_INTERVAL, i)) for i in melody.intervals()),
        note_lengths=Counter(f"{length_label(n.length)} at {length_label(n.onset)}" for n in melody.notes),
        notes_per_bar=Counter(min(per_bar.get(k, 0), MAX_NOTES_PER_BAR) for k in music),
        pitch_range=float(max(pitches) - min(pitches)) if pitches else 0.0,
        bars=len(music),
        meter=melody.meter_used(),
        mode=melody.mode(),
    )


def profile(tunes: list[TuneFeatures], family: str) -> dict:
    """A set's distribution of one feature, as {value: weight} with weights summing to 1 (empty
    when no tune has the feature)."""
    kind = FAMILIES[family][1]
    if kind == "notes":
        total: Counter = Counter()
        counted = 0
        for t in tunes:
            hist = t.get(family)
            n = sum(hist.values())
            if n:
                counted += 1
                for k, v in hist.items():
                    total[k] += v / n
        return {k: v / counted for k, v in sorted(total.items(), key=_order)} if counted else {}
    if kind == "category":
        shares = Counter(t.get(family) for t in tunes)
        return {k: v / len(tunes) for k, v in sorted(shares.items(), key=_order)} if tunes else {}
    grid, bandwidth = SMOOTHING[family]
    values = np.array([t.get(family) for t in tunes], dtype=float)
    if not len(values):
        return {}
    density = np.exp(-0.5 * ((grid[:, None] - np.minimum(values, grid[-1])[None, :]) / bandwidth) ** 2).sum(axis=1)
    density /= density.sum()
    return dict(zip(grid.tolist(), density.tolist()))


def _order(item):
    """Numbers in order; labels with fractions ('6/8', '1/8 at 3/8') by their values, the last first."""
    key = item[0]
    if not isinstance(key, str):
        return (0, (key,), "")
    values = tuple(float(Fraction(n)) for n in re.findall(r"\d+(?:/[1-9]\d*)?", key))
    return (0, values[::-1], key) if values else (1, (), key)


def overlap(p: dict, q: dict) -> float:
    """Overlapping area of two distributions: the sum over values of the smaller weight (NaN when
    both are empty, 0 when only one is)."""
    if not p and not q:
        return math.nan
    return float(sum(min(w, q.get(k, 0.0)) for k, w in p.items()))


def overlaps(tunes: list[TuneFeatures], reference: dict[str, dict]) -> dict[str, float]:
    """Each family's overlap between a set of tunes and a reference set's profiles."""
    return {family: overlap(profile(tunes, family), reference[family]) for family in FAMILIES}


def profiles(tunes: list[TuneFeatures]) -> dict[str, dict]:
    return {family: profile(tunes, family) for family in FAMILIES}
