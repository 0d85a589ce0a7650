"""The melody of a tune, read from its ABC text: each note's pitch and length, its bars, and its parts.

The notes are read from the text, not from abc2midi's MIDI file, for four reasons:
- every tune gets measured, also those abc2midi rejects or renders wrongly: the noisiest samples
  (T = 2.0) are exactly the ones a quality measure must see, not drop;
- the notation is kept: bar lines, repeat signs, first and second endings and the K: field are what
  the form metrics (two-part repeated form, bars per part, final bar, tonic) are about, and a MIDI
  file has them only expanded or not at all;
- the ~1500 training tunes (for melodic novelty) need no rendering: parsing them takes seconds;
- it reuses abc.py's bar reader, so note lengths, tuplets, broken rhythm and bar lengths follow one
  implementation, which the tests cross-check against abc2abc's bar check and abc2midi's pitches.

Pitches are MIDI numbers (C = 60, c = 72) after the key signature, accidentals (which hold to the
end of the bar for the same letter and octave) and octave marks. A chord counts as its highest
note (the melody line); grace notes, chord symbols and decorations are skipped; tied notes are one
note. Only the first voice of an overlay (&) is read, as in the bar reader.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from abcrnn.notation.bars import BarReader, read_body
from abcrnn.notation.grammar import ACCIDENTAL, NOTE_LETTER, OCTAVE, BarLine
from abcrnn.notation.tunes import header_fields, meter_length

LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
LETTER_FIFTHS = {"F": -1, "C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5}
SHARPS, FLATS = "FCGDAEB", "BEADGCF"
MODE_FIFTHS = {"maj": 0, "ion": 0, "mix": -1, "dor": -2, "aeo": -3, "min": -3, "m": -3, "phr": -4, "loc": -5,
               "lyd": 1}
# The seven modes of a key signature: semitones of each mode's tonic above the signature's major tonic.
MODE_OF_DEGREE = {0: "ionian", 2: "dorian", 4: "phrygian", 5: "lydian", 7: "mixolydian", 9: "aeolian",
                  11: "locrian"}
# Krumhansl & Kessler (1982): how well each pitch class (from the tonic up) fits a major / minor key.
MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
SAME_PART = 0.8  # sections whose notes agree this much are one part written out twice

_KEY = re.compile(r"^\s*([A-Ga-g])([#b]?)\s*([A-Za-z]*)")
_KEY_ACCIDENTAL = re.compile(r"(\^{1,2}|_{1,2}|=)([A-Ga-g])")
_PITCH = re.compile(rf"({ACCIDENTAL})?({NOTE_LETTER})({OCTAVE})")
_ALTER = {"^": 1, "^^": 2, "_": -1, "__": -2, "=": 0}


@dataclass(frozen=True)
class Key:
    tonic: int                          # pitch class of the tonic (C = 0)
    fifths: int                         # sharps (> 0) or flats (< 0) of the signature
    signature: dict[str, int] = field(default_factory=dict)  # letter → alteration

    @property
    def major_tonic(self) -> int:
        """Pitch class of the major (ionian) key with the same signature."""
        return (7 * self.fifths) % 12


def parse_key(value: str | None) -> Key:
    """The K: field: 'G', 'Em', 'Ador', 'F#m', 'Bb', 'Dmix', 'D ^g' (explicit accidentals) …;
    'none', 'HP' or an unreadable value give C with no signature."""
    m = _KEY.match(value or "")
    if not m:
        return Key(0, 0)
    letter, accidental, mode = m.group(1).upper(), m.group(2), m.group(3).lower()
    shift = 7 if accidental == "#" else -7 if accidental == "b" else 0
    mode_shift = next((v for k, v in MODE_FIFTHS.items() if mode.startswith(k) and (k != "m" or mode == "m")), 0)
    fifths = max(-7, min(7, LETTER_FIFTHS[letter] + shift + mode_shift))
    signature = {ch: 1 for ch in SHARPS[:fifths]} if fifths > 0 else {ch: -1 for ch in FLATS[:-fifths]}
    for acc, ch in _KEY_ACCIDENTAL.findall((value or "")[m.end():]):
        signature[ch.upper()] = _ALTER[acc]
    tonic = (LETTER_PC[letter] + (1 if accidental == "#" else -1 if accidental == "b" else 0)) % 12
    return Key(tonic, fifths, {k: v for k, v in signature.items() if v})


@dataclass(frozen=True)
class Note:
    pitch: int           # MIDI note number
    length: Fraction     # whole notes, after tuplets, broken rhythm and ties
    bar: int             # index into Melody.bars
    onset: Fraction      # where in its bar it starts (whole notes from the bar line)


@dataclass(frozen=True)
class Bar:
    length: Fraction     # summed note and rest lengths (whole notes)
    meter: Fraction | None
    music: bool          # holds a note or rest
    full_rest: bool      # a multi-bar rest
    line: str            # the bar line that closes it, as written ('|', ':|2', '||' …); '' at the end


@dataclass(frozen=True)
class Section:
    """A stretch of bars between section lines (||, |], repeat signs), with its endings."""
    bars: tuple[int, ...]     # indices into Melody.bars, second endings excluded
    repeated: bool            # closed by a repeat sign (:|, ::)
    length: float             # in bars of the meter (pickups and endings counted by their length)


@dataclass(frozen=True)
class Melody:
    title: str
    x: str
    meter: Fraction | None
    meter_text: str
    key: Key
    notes: tuple[Note, ...]
    bars: tuple[Bar, ...]

    @property
    def pitches(self) -> list[int]:
        return [n.pitch for n in self.notes]

    def music_bars(self) -> list[Bar]:
        return [b for b in self.bars if b.music]

    def intervals(self) -> list[int]:
        """Semitones from each note to the next."""
        p = self.pitches
        return [b - a for a, b in zip(p, p[1:])]

    def final_complete(self) -> bool:
        """The last bar fills the meter, alone or with the pickup it completes."""
        bars = self.music_bars()
        if not bars or bars[-1].meter is None:
            return False
        last = bars[-1]
        if last.full_rest or last.length == last.meter:
            return True
        return len(bars) > 1 and bars[0].length < last.meter and bars[0].length + last.length == last.meter

    def ends_on_tonic(self) -> bool:
        return bool(self.notes) and self.notes[-1].pitch % 12 == self.key.tonic

    def mode(self) -> str:
        """The mode the notes are in: of the seven modes of the key signature (G major's are G
        ionian, A dorian, … E aeolian, F# locrian), the one whose tonic the notes' pitch-class
        profile (weighted by length) matches best, by Krumhansl–Schmuckler key finding with the
        Krumhansl–Kessler major profile for modes with a major third, the minor one otherwise.
        Where the tune stops is not asked (ends_on_tonic says that); 'none' for fewer than three
        pitch classes."""
        if not self.notes:
            return "none"
        weights = np.zeros(12)
        for n in self.notes:
            weights[n.pitch % 12] += float(n.length)
        if np.count_nonzero(weights) < 3:  # one or two pitch classes imply no mode
            return "none"
        scores = []
        for degree, name in MODE_OF_DEGREE.items():
            tonic = (self.key.major_tonic + degree) % 12
            profile = MAJOR_PROFILE if name in ("ionian", "lydian", "mixolydian") else MINOR_PROFILE
            scores.append((float(np.corrcoef(np.roll(weights, -tonic), profile)[0, 1]), -degree, name))
        return max(scores)[2]

    def meter_used(self) -> str:
        """The bar length most bars fill, in the written meter's terms ('6/8', '4/4'); 'none'."""
        lengths = Counter(b.length for b in self.music_bars()[1:-1] or self.music_bars() if b.length)
        if not lengths:
            return "none"
        common = max(sorted(lengths), key=lambda x: lengths[x])
        written = re.search(r"/\s*(\d+)", self.meter_text)
        denominator = int(written.group(1)) if written and int(written.group(1)) else 4
        for den in (denominator, 4, 8, 16):
            if (common * den).denominator == 1:
                return f"{common * den}/{den}"
        return f"{common.numerator}/{common.denominator}"


class NoteReader(BarReader):
    """abc.py's bar reader that also keeps each note's pitch and bar line."""

    def __init__(self, key: Key, meter, unit, unit_given):
        super().__init__(meter, unit, unit_given)
        self.key, self.notes, self.lines, self.sharps = key, [], [], {}
        self.tied = self.last_pitched = False

    def close_bar(self, line: str) -> None:
        super().close_bar(line)
        self.lines.append(line.strip())
        self.sharps = {}  # accidentals hold to the end of the bar

    def field(self, key: str, value: str) -> None:
        if key == "K":
            self.key = parse_key(value)
        super().field(key, value)

    def tie(self) -> None:
        self.tied = True

    def pitch(self, accidental: str, letter: str, octaves: str) -> int:
        octave = (1 if letter.islower() else 0) + octaves.count("'") - octaves.count(",")
        name = letter.upper()
        if accidental:
            self.sharps[(name, octave)] = _ALTER[accidental]
        alter = self.sharps.get((name, octave), self.key.signature.get(name, 0))
        return 60 + 12 * octave + LETTER_PC[name] + alter

    def add(self, duration: Fraction, text: str = "", lexeme=None) -> None:
        before, overlay = self.length, self.overlay
        super().add(duration, text, lexeme)
        self.last_pitched = False
        if overlay or text[:1] in ("z", "x"):
            self.tied = False
            return
        pitches = [self.pitch(*m) for m in _PITCH.findall(text.split("]")[0])]
        if not pitches:
            return
        self.last_pitched = True
        pitch, length = max(pitches), self.length - before
        if self.tied and self.notes and self.notes[-1][0] == pitch:
            self.notes[-1][1] += length
        else:
            self.notes.append([pitch, length, len(self.bars), before])
        self.tied = False

    def broken(self, run: str) -> None:
        before = self.length
        super().broken(run)
        if self.last_pitched and not self.overlay:
            self.notes[-1][1] += self.length - before


def read_melody(tune: str) -> Melody:
    """The notes, bars and key of a tune (a tune without a K: line has no notes)."""
    fields = header_fields(tune)
    key = parse_key(fields.get("K"))
    reader = read_body(tune, lambda meter, unit, given: NoteReader(key, meter, unit, given))
    bars = tuple(Bar(b.length, b.meter, b.music, b.full_rest, line)
                 for b, line in zip(reader.bars, [*reader.lines, ""]))
    notes = tuple(Note(p, length, bar, onset) for p, length, bar, onset in reader.notes if length > 0)
    meter = fields.get("M", "")
    return Melody(fields.get("T", ""), fields.get("X", ""), meter_length(meter or None), meter, key, notes, bars)


# --- parts ----------------------------------------------------------------------------------------

def sections(melody: Melody) -> list[Section]:
    """The tune's sections: split at section lines (||, |], |:, :|, ::). A section that a second
    (or later) ending opens is that ending of the section before and adds no bars to it; a pickup
    before the first section line (under half a bar) belongs to the section after it."""
    raw: list[tuple[list[int], bool, bool]] = []  # bars, repeated, is a later ending
    current: list[int] = []
    opened_by = ""
    for k, bar in enumerate(melody.bars):
        current.append(k)
        if BarLine(bar.line).section or k == len(melody.bars) - 1:
            if any(melody.bars[b].music for b in current):
                later = (BarLine(opened_by).ending or 0) >= 2
                raw.append((current, ":|" in bar.line or "::" in bar.line, later))
            current, opened_by = [], bar.line
    out: list[Section] = []
    pickup: list[int] = []
    for bars, repeated, later in raw:
        if later and out:
            continue  # a second ending: the bars played instead of the first ending
        music = pickup + [b for b in bars if melody.bars[b].music]
        length = _bar_count(melody, music)
        if not out and not pickup and length < 0.5 and len(raw) > 1:
            pickup = music
            continue
        pickup = []
        out.append(Section(tuple(music), repeated, length))
    return out


def _bar_count(melody: Melody, bars: list[int]) -> float:
    """The length of some bars in bars of the meter (their number when the tune has no meter)."""
    total = sum((melody.bars[b].length for b in bars), Fraction(0))
    meter = melody.meter or next((melody.bars[b].meter for b in bars if melody.bars[b].meter), None)
    return float(total / meter) if meter else float(len(bars))


def _notes(melody: Melody, bars) -> list[tuple[int, Fraction]]:
    bars = set(bars)
    return [(n.pitch, n.length) for n in melody.notes if n.bar in bars]


def _similar(a: list, b: list) -> bool:
    return bool(a) and difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= SAME_PART


def _halves(melody: Melody, section: Section) -> tuple[list[int], list[int]] | None:
    """A section of 8 or more bars cut at the bar line nearest its middle (pickups make it uneven)."""
    if section.length < 8 or len(section.bars) < 2:
        return None
    done, cuts = 0.0, []
    for k, bar in enumerate(section.bars[:-1]):
        done += _bar_count(melody, [bar])
        cuts.append((abs(done - section.length / 2), k))
    gap, k = min(cuts)
    return (list(section.bars[: k + 1]), list(section.bars[k + 1:])) if gap < 0.5 else None


def played_parts(melody: Melody) -> list[tuple[int, float]]:
    """The parts in the order they are played, as (part number, length in bars), each part numbered
    at its first appearance. A repeated section plays twice; a section that repeats the one before
    it in notes (written out, perhaps with another ending) is that part again, and so is the second
    half of a section that repeats its first half. |:A:||:B:| and AABB written out both give parts
    0, 0, 1, 1."""
    order: list[tuple[int, float]] = []
    previous: list[tuple[int, Fraction]] | None = None
    for section in sections(melody):
        notes = _notes(melody, section.bars)
        halves = None if section.repeated else _halves(melody, section)
        if halves and _similar(_notes(melody, halves[0]), _notes(melody, halves[1])):
            notes, length, times = _notes(melody, halves[0]), section.length / 2, 2
        else:
            length, times = section.length, 2 if section.repeated else 1
        once = not (len(order) >= 2 and order[-1][0] == order[-2][0])  # a part is played twice, not three times
        if previous is not None and once and times == 1 and _similar(previous, notes):
            part = order[-1][0]
        else:
            part = max((p for p, _ in order), default=-1) + 1
        order += [(part, length)] * times
        previous = notes
    return order


def two_part_form(melody: Melody) -> bool:
    """Played as A A B B: the corpus's usual form for dance tunes."""
    return [p for p, _ in played_parts(melody)] == [0, 0, 1, 1]


def part_lengths(melody: Melody) -> list[float]:
    """The length of each distinct part, in bars of the meter, in order of appearance."""
    firsts: dict[int, float] = {}
    for part, length in played_parts(melody):
        firsts.setdefault(part, length)
    return list(firsts.values())


def bars_per_part(melody: Melody) -> float:
    """Mean length of the tune's distinct parts, in bars of its meter (0 without music)."""
    lengths = part_lengths(melody)
    return sum(lengths) / len(lengths) if lengths else 0.0


def four_bar_parts(melody: Melody) -> bool:
    """Every part is a whole number of 4-bar phrases (4, 8, 12, 16 … bars, within half a bar for
    pickups and endings), as dance tunes are built."""
    lengths = part_lengths(melody)
    return bool(lengths) and all(n >= 3.5 and abs(n - 4 * round(n / 4)) <= 0.5 for n in lengths)
