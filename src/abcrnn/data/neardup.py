"""Exact and near-duplicate tunes.

Sources mix freely: `music21:<name>` (an ABC corpus shipped with music21), .abc files,
directories (every *.abc inside, recursively), glob patterns, and text already in the corpus
format (any file with a line that is `<start>` alone; `<start>` amid other text, as in a lyrics
line, leaves an ABC file an ABC file). Bad tunes are skipped and counted, never fatal; a tune
whose text holds `<start>` or `<end>` is one of them (`dropped_tag_in_text`), since the corpus
could not be split back into its tunes.

Duplicates: an exact duplicate is a tune equal to an earlier one apart from its X: number and
whitespace. A near-duplicate is the same tune transcribed twice: it shares a collection number
(X:, or a number in B: such as "O'Neill's 626") or a normalised title with an earlier kept tune,
and their note-letter sequences have a difflib ratio of at least SIMILARITY and share at least
SCREEN_JACCARD of their 4-grams. On O'Neill's 1850 collection, pairs that share a number score
0.897 or more (4-gram Jaccard 0.68 or more), while distinct settings that share a title (O'Neill's
"1st/2nd setting") score 0.842 or less: 0.85 splits the two, and the 4-gram screen keeps the
ratio (unreliable on short sequences) from pairing unrelated tunes that happen to share X:1.

Finding the pairs stays near-linear in the number of tunes: a tune is compared only with earlier kept
tunes that share a number or title with it *and* look alike by MinHash over the same 4-grams (fixed
hash functions: the same result on every run and machine). They must share a band of the signature
(LSH_BANDS bands of LSH_ROWS values; tunes with Jaccard index J share one with probability
1 - (1 - J^3)^100: 0.9987 at the 0.4 screen, 0.99998 at 0.47, the least alike pair on O'Neill's
collection that even scores 0.7; unrelated tunes, J about 0.04, in 1 pair of 160) and agree in at
least LSH_SCREEN of the signature's 300 values (a pair with J = 0.4 fails that in 1 of 10^7). Every
pair that similar() accepts on O'Neill's collection, at any similarity down to 0.3, passes both.
Thousands of tunes that share `X:1` and `T:Untitled`, as scraped files have them, then cost about
one comparison each instead of one with every earlier tune: the bucket of a number or title held
by many tunes is indexed by band (NearDuplicates).
"""

from __future__ import annotations

import difflib
import itertools
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from abcrnn.notation.tunes import header_fields, note_letters
from abcrnn.data.reader import Tune

SIMILARITY = 0.85
SCREEN_NGRAM, SCREEN_JACCARD = 4, 0.4
MIN_NOTES = 20  # shorter melodies can't tell a second transcription from a coincidence (O'Neill's shortest: 30)
LSH_BANDS, LSH_ROWS, LSH_SCREEN = 100, 3, 0.25  # MinHash: see the module docstring
LSH_INDEX_FROM = 32  # tunes sharing a number or title from which that bucket is indexed by band


# --- duplicates --------------------------------------------------------------------------------


def exact_key(tune: Tune) -> str:
    """A tune's identity for exact duplicates: its text without the X: line and whitespace."""
    lines = [line for line in tune.text.split("\n") if not line.startswith("X:")]
    return re.sub(r"\s+", "", "\n".join(lines))


def normal_title(title: str) -> str:
    """'The Lamentation of Owen Roe O'Neill' and 'Lamentation of Owen Roe O'Neill, The.' alike."""
    t = re.sub(r"[.\s]+$", "", title.strip().lower())
    t = re.sub(r"^(the|a|an)\s+|,\s*(the|a|an)$", "", t)
    return re.sub(r"[\W_]+", "", t)


def bucket_keys(tune: Tune) -> set[tuple[str, str]]:
    """Collection numbers (X:, numbers in B:) and the normalised title: near-duplicates share one."""
    numbers = re.findall(r"[0-9]+", header_fields(tune.text, to_key=False).get("B", ""))
    if re.fullmatch(r"[0-9]+", tune.X):
        numbers.append(tune.X)
    keys = {("number", str(int(n))) for n in numbers if int(n) > 0}
    title = normal_title(tune.title)
    if title:
        keys.add(("title", title))
    return keys


def _hash_constants(count: int, seed: int) -> np.ndarray:
    """`count` fixed 64-bit numbers (splitmix64 from `seed`): the same hash functions on every run."""
    state = np.arange(1, count + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(seed)
    return _mix(state)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer on uint64 arrays (wrapping arithmetic): a bijection that scrambles bits."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


# MinHash function i of a gram: the top 32 bits of a_i * mix(gram) + b_i (multiply-shift hashing).
_A = _hash_constants(LSH_BANDS * LSH_ROWS, seed=1) | np.uint64(1)
_B = _hash_constants(LSH_BANDS * LSH_ROWS, seed=2)
_FOLD = _hash_constants(LSH_ROWS, seed=3) | np.uint64(1)  # a band's minima folded into one number,
_BAND = _hash_constants(LSH_BANDS, seed=4)  # told apart from the same minima in another band


def minhash(letters: str) -> np.ndarray:
    """The MinHash signature (LSH_BANDS * LSH_ROWS uint32) of the set of 4-grams of `letters` (ASCII
    note letters): two sets agree in a share of its values that estimates their Jaccard index."""
    b = np.frombuffer(letters.encode("ascii"), dtype=np.uint8).astype(np.uint64)
    n = len(b) - SCREEN_NGRAM + 1
    if n < 1:  # no 4-grams: the empty set's signature (never compared: see MIN_NOTES)
        return np.full(LSH_BANDS * LSH_ROWS, np.iinfo(np.uint32).max, dtype=np.uint32)
    x = sum(b[i : i + n] << np.uint64(8 * (SCREEN_NGRAM - 1 - i)) for i in range(SCREEN_NGRAM))
    return ((_mix(x)[:, None] * _A + _B) >> np.uint64(32)).min(axis=0).astype(np.uint32)


def band_keys(signature: np.ndarray) -> np.ndarray:
    """One uint64 per LSH band: two signatures share a band when they agree in all its LSH_ROWS values."""
    rows = signature.astype(np.uint64).reshape(LSH_BANDS, LSH_ROWS)
    return _mix((rows * _FOLD).sum(axis=1, dtype=np.uint64) ^ _BAND)


@dataclass(frozen=True)
class Notes:
    """A tune's note letters and their 4-grams. The grams also screen pairs cheaply before difflib:
    on O'Neill's collection, unrelated tunes share under 1/5 of their 4-grams in 999 pairs of 1000."""

    letters: str
    grams: frozenset

    @classmethod
    def of(cls, tune: Tune) -> "Notes":
        s = note_letters(tune.text)
        return cls(s, frozenset(s[i : i + SCREEN_NGRAM] for i in range(len(s) - SCREEN_NGRAM + 1)))

    @cached_property
    def signature(self) -> np.ndarray:
        return minhash(self.letters)

    @cached_property
    def bands(self) -> np.ndarray:
        return band_keys(self.signature)


def similar(a: Notes, b: Notes, threshold: float) -> bool:
    la, lb = len(a.letters), len(b.letters)
    if min(la, lb) < MIN_NOTES or 2 * min(la, lb) / (la + lb) < threshold:
        return False  # difflib's ratio can't reach the threshold with lengths this different
    if len(a.grams & b.grams) < SCREEN_JACCARD * len(a.grams | b.grams):
        return False
    return difflib.SequenceMatcher(None, a.letters, b.letters, autojunk=False).ratio() >= threshold


class NearDuplicates:
    """Earlier kept tunes, bucketed by number and title; a tune meets those in its buckets that share
    an LSH band with it and agree in LSH_SCREEN of their MinHash values (see the module docstring).

    The members of a bucket of LSH_INDEX_FROM tunes or more are indexed by band, so that a tune finds
    its few band-mates there without a look at the others; in a smaller bucket the members' bands
    are compared (the same rule, quicker there). `comparisons` counts the pairs given to similar().
    """

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.buckets: dict[tuple[str, str], list[int]] = defaultdict(list)  # rows, in the order added
        self.large: dict[tuple[str, str], set[int]] = {}  # the rows of the buckets that are indexed
        self.band_index: dict[int, int | list[int]] = {}  # band key -> row (or rows) of large buckets
        self.ids: list[int] = []  # row -> tune id
        self.notes: list[Notes] = []  # row -> notes
        self.signatures = np.zeros((64, LSH_BANDS * LSH_ROWS), dtype=np.uint32)  # row -> signature
        self.bands = np.zeros((64, LSH_BANDS), dtype=np.uint64)  # row -> band keys
        self.hashed = np.zeros(64, dtype=bool)  # signature filled in: only a tune that meets another needs one
        self.indexed = np.zeros(64, dtype=bool)  # in band_index
        self.comparisons = 0
        self._hits: tuple[Notes, list] | None = None  # match's look-ups in band_index, for add

    def _candidates(self, keys: set, notes: Notes) -> list[int]:
        """Rows that share a bucket and a band with the tune and pass the MinHash screen, in order."""
        found: set[int] = set()
        mates: set[int] | None = None
        for key in keys:
            members = self.buckets.get(key)
            if not members:
                continue
            large = self.large.get(key)
            if large is not None:
                if mates is None:
                    hits = list(map(self.band_index.get, notes.bands.tolist()))
                    self._hits = (notes, hits)
                    mates = {hit for hit in hits if type(hit) is int}
                    mates.update(itertools.chain.from_iterable(hit for hit in hits if type(hit) is list))
                found |= mates & large
            else:
                rows = self._hashed(members)
                found.update(rows[(self.bands[rows] == notes.bands).any(axis=1)].tolist())
        if not found:
            return []
        rows = np.array(sorted(found))
        agree = (self.signatures[rows] == notes.signature).mean(axis=1)
        return rows[agree >= LSH_SCREEN].tolist()

    def match(self, tune: Tune, notes: Notes | None = None, keys: set | None = None) -> int | None:
        """The id of the first earlier tune this one duplicates, if any (`notes` and `keys`: the
        tune's Notes and bucket_keys, where already worked out)."""
        notes = notes or Notes.of(tune)
        if len(notes.letters) < MIN_NOTES:
            return None  # too short to be anyone's near-duplicate (similar())
        for row in self._candidates(bucket_keys(tune) if keys is None else keys, notes):
            self.comparisons += 1
            if similar(self.notes[row], notes, self.threshold):
                return self.ids[row]
        return None

    def add(self, tune: Tune, tune_id: int, notes: Notes | None = None, keys: set | None = None) -> None:
        notes = notes or Notes.of(tune)
        if len(notes.letters) < MIN_NOTES:
            return
        row = len(self.ids)
        if row == len(self.hashed):
            self.signatures = np.concatenate([self.signatures, np.zeros_like(self.signatures)])
            self.bands = np.concatenate([self.bands, np.zeros_like(self.bands)])
            self.hashed = np.concatenate([self.hashed, np.zeros_like(self.hashed)])
            self.indexed = np.concatenate([self.indexed, np.zeros_like(self.indexed)])
        self.ids.append(tune_id)
        self.notes.append(notes)
        hits = self._hits[1] if self._hits and self._hits[0] is notes else None
        self._hits = None
        in_large = False
        for key in bucket_keys(tune) if keys is None else keys:
            members = self.buckets[key]
            members.append(row)
            large = self.large.get(key)
            if large is None and len(members) >= LSH_INDEX_FROM:  # the bucket is indexed from now on
                large = self.large[key] = set(members)
                for earlier in self._hashed(members[:-1]).tolist():
                    self._index(earlier)
                hits = None  # band_index has changed since match looked
            if large is not None:
                large.add(row)
                in_large = True
        if in_large:
            self._hashed([row])
            self._index(row, hits)

    def _hashed(self, rows: list[int]) -> np.ndarray:
        """The rows, as an array, with their signatures and bands filled in."""
        rows = np.array(rows)
        for row in rows[~self.hashed[rows]].tolist():
            self.signatures[row] = self.notes[row].signature
            self.bands[row] = self.notes[row].bands
            self.hashed[row] = True
        return rows

    def _index(self, row: int, hits: list | None = None) -> None:
        """Enter a row into band_index under each of its band keys (`hits`: band_index's entries for
        them, where already looked up). A key held by one row maps to it, by more to a list."""
        if self.indexed[row]:
            return
        self.indexed[row] = True
        bands = self.bands[row].tolist()
        hits = list(map(self.band_index.get, bands)) if hits is None else hits
        self.band_index.update(zip(itertools.compress(bands, [hit is None for hit in hits]), itertools.repeat(row)))
        for band, hit in zip(bands, hits):
            if type(hit) is int:
                self.band_index[band] = [hit, row]
            elif hit is not None:
                hit.append(row)
