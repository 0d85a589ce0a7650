"""Melodic similarity, whatever the key: novelty (each tune's nearest training tune) and diversity
(how alike the tunes of one set are).

A melody is the set of its n-grams of steps, a step being (interval from the note before in
semitones, length of the note): the same tune in another key, or with another L: field, has the
same steps. Two tunes' similarity is the Jaccard index of their n-gram sets (shared / all): 1 for
the same melody (repeats written out or not), about 0.05 for two unrelated jigs of the corpus.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from abcrnn.notation.melody import Melody

NGRAM = 4  # steps per n-gram: five notes


def steps(melody: Melody) -> list[tuple]:
    """(interval, length) from each note to the next: transposition-invariant."""
    notes = melody.notes
    return [(b.pitch - a.pitch, b.length) for a, b in zip(notes, notes[1:])]


def ngrams(melody: Melody, n: int = NGRAM) -> frozenset:
    s = steps(melody)
    return frozenset(tuple(s[i : i + n]) for i in range(len(s) - n + 1))


def similarity(a: frozenset, b: frozenset) -> float:
    """Jaccard index of two n-gram sets; 0 when either is empty (a tune too short to compare)."""
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)


@dataclass(frozen=True)
class Nearest:
    index: int          # position of the nearest reference tune, -1 when none shares an n-gram
    similarity: float


class MelodyIndex:
    """An inverted index of reference melodies (the training tunes) for nearest-tune queries."""

    def __init__(self, melodies: list[Melody], n: int = NGRAM):
        self.n = n
        self.sizes = np.zeros(len(melodies), dtype=np.int64)
        postings: dict[tuple, list[int]] = {}
        for i, melody in enumerate(melodies):
            grams = ngrams(melody, n)
            self.sizes[i] = len(grams)
            for gram in grams:
                postings.setdefault(gram, []).append(i)
        self.postings = {gram: np.asarray(ids, dtype=np.int64) for gram, ids in postings.items()}

    def nearest(self, melody: Melody) -> Nearest:
        """The most similar reference tune (the first of equals), by the Jaccard index."""
        grams = ngrams(melody, self.n)
        hits = [self.postings[g] for g in grams if g in self.postings]
        if not hits:
            return Nearest(-1, 0.0)
        shared = np.bincount(np.concatenate(hits), minlength=len(self.sizes))
        scores = shared / np.maximum(len(grams) + self.sizes - shared, 1)
        best = int(np.argmax(scores))
        return Nearest(best, float(scores[best]))


def within(sets: list[frozenset]) -> list[float]:
    """The similarity of every pair of tunes in a set."""
    return [similarity(a, b) for a, b in combinations(sets, 2)]


def mean_within(sets: list[frozenset]) -> float:
    """Mean pairwise similarity in a set: 1 for one tune repeated, near 0.05 for real tunes; NaN
    for a set of fewer than two tunes."""
    pairs = within(sets)
    return float(np.mean(pairs)) if pairs else float("nan")

