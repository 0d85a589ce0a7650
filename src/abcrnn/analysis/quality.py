"""The `abcrnn quality` stage: do generated tunes sound like the music they learned from?

For each sample set (a run's tunes at one temperature) against the real tunes of the test split:
- distributions (distributions.py): the overlap with the test set of eight feature distributions,
  and their mean (`distribution`);
- form (melody.py): the share of tunes in two-part repeated form (A A B B); bars per part (the
  median over tunes, to read: one runaway tune of 600 bars does not move it, but noise can land on
  8 too) and, to compare, the share of tunes whose parts are whole 4-bar phrases; the share ending
  on the key's tonic and the share whose final bar is complete;
- melodic novelty (similarity.py): each tune's nearest training tune by transposition-invariant
  melodic similarity, the mean of that similarity and the share at or above --copied;
- diversity: the mean similarity of the set's tunes to each other, beside the test set's.

Two reference rows: `test-set`, the real test tunes measured the way samples are, against the
training tunes (what real unseen tunes reach: the ceiling), and `shuffled`, test tunes whose music
has its characters shuffled (structureless text in the corpus's alphabet: the floor). Both are
measured in seeded draws of the sample sets' size, so that their distribution overlaps carry the
same small-sample penalty as a set of 20 generated tunes.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from abcrnn.notation.tunes import body, header_text, split_tagged
from abcrnn.analysis.distributions import FAMILIES, TuneFeatures, features, overlaps, profiles
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import read_tsv
from abcrnn.notation.melody import Melody, bars_per_part, four_bar_parts, played_parts, read_melody, two_part_form
from abcrnn.analysis.similarity import MelodyIndex, mean_within, ngrams
from abcrnn.analysis.validity import BASELINE

SHUFFLED = "shuffled"
OVERLAP_COLUMNS = [f"overlap_{f}" for f in FAMILIES]
FORM_COLUMNS = ["two_part", "bars_per_part", "four_bar_parts", "ends_on_tonic", "final_bar_complete"]
# 95 % intervals (bootstrap over the set's tunes) of the summary overlap and of every share
INTERVALS = ("distribution", "two_part", "four_bar_parts", "ends_on_tonic", "final_bar_complete", "copies")
INTERVAL_COLUMNS = [f"{c}_{end}" for c in INTERVALS for end in ("lo", "hi")]
BOOTSTRAP, BOOTSTRAP_OVERLAP = 1000, 200  # resamples of the shares, and of the summary overlap (slower)
SUMMARY_COLUMNS = ["temperature", "run", "role", "tunes", "reference", *OVERLAP_COLUMNS, "distribution",
                   *FORM_COLUMNS, "nearest_similarity", "copies", "similarity_within", "similarity_within_test",
                   *INTERVAL_COLUMNS, "samples"]
TUNE_COLUMNS = ["temperature", "run", "file", "title", "notes", "bars", "pitch_range", "meter", "mode", "parts",
                "two_part", "bars_per_part", "four_bar_parts", "ends_on_tonic", "final_bar_complete", "nearest_x",
                "nearest_title", "similarity", "copy", "samples"]


@dataclass
class TuneSet:
    """Tunes measured together: one table row."""
    label: str                  # temperature, `test-set` or `shuffled`
    run: str
    role: str                   # samples | ceiling | floor
    files: list[str]
    melodies: list[Melody]
    directory: str = ""

    def __post_init__(self):
        self.features: list[TuneFeatures] = [features(m) for m in self.melodies]
        self.grams = [ngrams(m) for m in self.melodies]


@dataclass
class Reference:
    """The training tunes (for novelty, and the reference rows' distributions) and the test tunes."""
    train: list[Melody]
    test: list[Melody]
    test_texts: list[str]

    def __post_init__(self):
        self.index = MelodyIndex(self.train)
        self.train_profiles = profiles([features(m) for m in self.train])
        test_features = [features(m) for m in self.test]
        self.test_profiles = profiles(test_features)
        self.test_within = mean_within([ngrams(m) for m in self.test])


# --- reading --------------------------------------------------------------------------------------

def read_split(path: str | Path, what: str) -> list[str]:
    path = Path(path)
    try:
        tunes = split_tagged(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AbcrnnError(f"{path}: not found (the {what} split, e.g. results/data/{what}.txt)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AbcrnnError(f"{path}: cannot read it as UTF-8 text ({exc})") from None
    if not tunes:
        raise AbcrnnError(f"{path}: no <start>…<end> tunes in it (the {what} split)")
    return tunes


def read_sample_set(directory: Path, label: str, run: str) -> TuneSet:
    """The tunes a samples.tsv lists, in its order."""
    table = directory / "samples.tsv"
    if not table.is_file():
        raise AbcrnnError(f"{table}: not found (not an `abcrnn sample` folder)")
    rows = read_tsv(table)
    if rows and "file" not in rows[0]:
        raise AbcrnnError(f"{table}: missing column file")
    files, melodies = [], []
    for row in rows:
        path = directory / row["file"]
        try:
            melodies.append(read_melody(path.read_text(encoding="utf-8")))
        except OSError as exc:
            raise AbcrnnError(f"{path}: cannot read the tune ({exc.strerror})") from None
        except UnicodeDecodeError:
            raise AbcrnnError(f"{path}: not UTF-8 text") from None
        files.append(row["file"])
    return TuneSet(label, run, "samples", files, melodies, str(directory))


def shuffled_tune(tune: str, rng: random.Random) -> str:
    """The tune's header with the characters of its music shuffled (line breaks kept in place)."""
    head, music = header_text(tune) or "", body(tune)
    chars = [c for c in music if c != "\n"]
    rng.shuffle(chars)
    it = iter(chars)
    return head + "\n" + "".join(c if c == "\n" else next(it) for c in music)


# --- measuring ------------------------------------------------------------------------------------

def draws(count: int, size: int, times: int, seed: int) -> list[list[int]]:
    """`times` seeded choices of `size` of `count` items (all of them once when size >= count)."""
    if size >= count:
        return [list(range(count))]
    rng = random.Random(seed)
    return [sorted(rng.sample(range(count), size)) for _ in range(times)]


def _mean(values) -> float:
    values = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(values)) if values else math.nan


def summary_row(tunes: TuneSet, ref: Reference, copied: float, choices: list[list[int]] | None = None,
                seed: int = 0) -> dict:
    """The table row of a set. Samples are compared with the test set; the reference rows, made of
    test tunes, with the training set, averaged over `choices` (draws of the samples' size).

    The intervals: for a set's shares, the 2.5 and 97.5 percentiles of the share over BOOTSTRAP
    resamples of its tunes (seeded); for its summary overlap, over BOOTSTRAP_OVERLAP resamples; for
    a reference row's summary overlap, over its draws."""
    rng = np.random.default_rng(seed)
    if tunes.role == "samples":
        over = overlaps(tunes.features, ref.test_profiles)
        spread = [_mean(overlaps([tunes.features[i] for i in pick], ref.test_profiles).values())
                  for pick in rng.integers(0, len(tunes.features), (BOOTSTRAP_OVERLAP, len(tunes.features)))
                  ] if tunes.features else []
    else:
        each = [overlaps([tunes.features[i] for i in pick], ref.train_profiles) for pick in choices or []]
        over = {f: _mean(o[f] for o in each) for f in FAMILIES}
        spread = [_mean(o.values()) for o in each]
    nearest = [ref.index.nearest(m) for m in tunes.melodies]
    with_notes = [m for m in tunes.melodies if m.notes]
    shares = {
        "two_part": [two_part_form(m) for m in tunes.melodies],
        "four_bar_parts": [four_bar_parts(m) for m in tunes.melodies],
        "ends_on_tonic": [m.ends_on_tonic() for m in tunes.melodies],
        "final_bar_complete": [m.final_complete() for m in tunes.melodies],
        "copies": [n.similarity >= copied for n in nearest],
    }
    bounds = {"distribution": _percentiles(spread)}
    bounds.update({name: _bootstrap(values, rng) for name, values in shares.items()})
    return {
        "temperature": tunes.label, "run": tunes.run, "role": tunes.role, "tunes": len(tunes.melodies),
        "reference": "test" if tunes.role == "samples" else "train",
        **{f"overlap_{f}": over[f] for f in FAMILIES},
        "distribution": _mean(over.values()),
        "two_part": _mean(shares["two_part"]),
        "bars_per_part": float(np.median([bars_per_part(m) for m in with_notes])) if with_notes else math.nan,
        "four_bar_parts": _mean(shares["four_bar_parts"]),
        "ends_on_tonic": _mean(shares["ends_on_tonic"]),
        "final_bar_complete": _mean(shares["final_bar_complete"]),
        "nearest_similarity": _mean(n.similarity for n in nearest),
        "copies": _mean(shares["copies"]),
        **{f"{name}_{end}": value for name, (lo, hi) in bounds.items() for end, value in (("lo", lo), ("hi", hi))},
        "similarity_within": mean_within(tunes.grams) if tunes.role != "ceiling" else ref.test_within,
        "similarity_within_test": ref.test_within,
        "samples": tunes.directory,
    }


def _bootstrap(values: list[bool], rng: np.random.Generator) -> tuple[float, float]:
    """95 % interval of a share: percentiles of its mean over BOOTSTRAP resamples of the values."""
    if not values:
        return math.nan, math.nan
    data = np.asarray(values, dtype=float)
    means = data[rng.integers(0, len(data), (BOOTSTRAP, len(data)))].mean(axis=1)
    return _percentiles(means)


def _percentiles(values) -> tuple[float, float]:
    values = [v for v in values if v == v]
    if not values:
        return math.nan, math.nan
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def tune_rows(tunes: TuneSet, ref: Reference, copied: float) -> list[dict]:
    rows = []
    for file, melody, feat in zip(tunes.files, tunes.melodies, tunes.features):
        near = ref.index.nearest(melody)
        source = ref.train[near.index] if near.index >= 0 else None
        rows.append({
            "temperature": tunes.label, "run": tunes.run, "file": file, "title": melody.title,
            "notes": len(melody.notes), "bars": feat.bars, "pitch_range": feat.pitch_range,
            "meter": feat.meter, "mode": feat.mode, "parts": len({p for p, _ in played_parts(melody)}),
            "two_part": two_part_form(melody), "bars_per_part": bars_per_part(melody),
            "four_bar_parts": four_bar_parts(melody),
            "ends_on_tonic": melody.ends_on_tonic(), "final_bar_complete": melody.final_complete(),
            "nearest_x": source.x if source else "", "nearest_title": source.title if source else "",
            "similarity": near.similarity, "copy": near.similarity >= copied, "samples": tunes.directory,
        })
    return rows


@dataclass
class Measured:
    summary: list[dict]
    tunes: list[dict]
    sets: list[TuneSet]
    reference: Reference


def measure(sample_sets: list[TuneSet], train: list[str], test: list[str], copied: float, times: int,
            seed: int, size: int | None = None, test_source: str = "") -> Measured:
    """The quality table of some sample sets, then the test-set and shuffled reference rows."""
    ref = Reference([read_melody(t) for t in train], [read_melody(t) for t in test], test)
    size = size or (len(sample_sets[0].melodies) if sample_sets else len(test))
    files = [f"{test_source}#{n}" for n in range(1, len(test) + 1)]
    ceiling = TuneSet(BASELINE, "", "ceiling", files, ref.test, test_source)
    rng = random.Random(seed)
    floor = TuneSet(SHUFFLED, "", "floor", files, [read_melody(shuffled_tune(t, rng)) for t in test], test_source)
    choices = draws(len(test), size, times, seed)
    summary = [summary_row(s, ref, copied, seed=seed + k) for k, s in enumerate(sample_sets)]
    summary += [summary_row(ceiling, ref, copied, choices, seed), summary_row(floor, ref, copied, choices, seed)]
    rows = [r for s in [*sample_sets, ceiling] for r in tune_rows(s, ref, copied)]
    return Measured(summary, rows, [*sample_sets, ceiling, floor], ref)


# --- command line ---------------------------------------------------------------------------------
