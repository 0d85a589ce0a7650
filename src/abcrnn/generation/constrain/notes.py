"""The reader's rules for notes: what a note, rest or chord adds to the bar and whether it may stand
there (the meter's room, tuplets, broken rhythm, ties, the form plan's last note on the tonic)."""

from __future__ import annotations

from fractions import Fraction

from abcrnn.generation.constrain.context import (
    ABC,
    DURATION_PREFIXES,
    DURATIONS,
    FORM,
    MAX_BAR_NOTES,
    METER,
)
from abcrnn.notation.melody import LETTER_PC


class Notes:
    """The reader's rules for notes: what a note, rest or chord adds to the bar and whether it may stand (a part of tune.Reader, whose state it reads and changes)."""

    def note_fits(self, pitch: tuple | None, written: int | None, kind: str) -> int | None:
        """How much a note (kind note, rest or chord; pitch None: any; written None: any length) adds
        to the bar if it may stand here, else None."""
        if written is None:
            for length in self.ctx.lengths:
                if self.note_fits(pitch, length, kind) is not None:
                    return length
            return None
        if self.final or (self.need_ending2 and self.ending == 1):
            return None
        if self.tie is not None and (kind != "note" or (pitch is not None and (pitch[:2] != self.tie[:2] or pitch[3]))):
            return None  # the tied note: the same letter and octave, written with no accidental
        if self.prefix[0] >= 2 and kind == "rest":  # grace notes and decorations only before notes and chords
            return None
        if self.broken_next is not None:
            if kind != "note" or written != self.broken_len:
                return None
            adds = written // 2 if self.broken_next == ">" else written * 3 // 2
        elif self.tuplet_left:
            if kind == "chord":
                return None
            if self.tuplet_len is None:
                adds = 2 * written  # (3: three notes in the time of two, reserved at the first
            elif written != self.tuplet_len:
                return None
            else:
                adds = 0
        else:
            adds = written
        ctx = self.ctx
        if ctx.level == ABC and not self.tuplet_len:  # a bar of at most 12 notes, and two bars of its meter
            if self.bar_notes + (self.tuplet_left or 1) > MAX_BAR_NOTES or \
                    ctx.meter_t is not None and self.bar + adds > 2 * ctx.meter_t:
                return None
        if ctx.level >= METER:
            room = self.room()
            if self.bar + adds > room or not ctx.fillable(room - self.bar - adds):
                return None
            if self.final_slot and self.bar + adds == room and not (
                    kind == "note" and self.tuplet_left == 0 and (pitch is None or pitch[2] % 12 == ctx.tonic)):
                return None
            if self.final_slot and self.tuplet_left and self.tuplet_len is None and self.bar + adds == room:
                return None
        if self.ctx.level == FORM and self.slot < len(ctx.slots):
            slot = ctx.slots[self.slot]
            if slot.opens and not self.repeat:
                return None
        if ctx.level == FORM and self.slot >= len(ctx.slots):
            return None
        return adds

    def room(self) -> int:
        """The length the current bar must reach (the meter; the planned length under FORM)."""
        ctx = self.ctx
        if ctx.level == FORM and self.slot < len(ctx.slots):
            return ctx.slot_t[self.slot]
        return ctx.meter_t

    @property
    def final_slot(self) -> bool:
        ctx = self.ctx
        return ctx.level == FORM and self.slot < len(ctx.slots) and ctx.slots[self.slot].last

    def pitch(self, accidental: str, letter: str, octave: str) -> tuple:
        """A note's (letter, octave, MIDI pitch after the key signature and the accidentals earlier in
        the bar, accidental as written). A tie joins a note to one of its letter and octave written
        with no accidental: abc2midi carries an accidental to every octave of its letter, so a tied
        `=G` after a `_g` is another pitch to it."""
        up = 1 if letter.islower() else 0
        oct_ = up + octave.count("'") - octave.count(",")
        name = letter.upper()
        if accidental:
            alter = {"^": 1, "^^": 2, "_": -1, "__": -2, "=": 0}[accidental]
        else:
            alter = next((a for (n, o, a) in self.accidentals if n == name and o == oct_),
                         self.ctx.key.signature.get(name, 0))
        return name, oct_, 60 + 12 * oct_ + LETTER_PC[name] + alter, accidental

    def plain(self) -> bool:
        """Whether only the bar's room decides which lengths fit: no tie, tuplet, broken rhythm, last
        note of the tune, or other condition on the next note (then ctx.fits decides, in O(1))."""
        ctx = self.ctx
        return (ctx.level == METER or (ctx.level == FORM and self.slot < len(ctx.slots)
                                       and not (ctx.slots[self.slot].opens and not self.repeat)
                                       and not ctx.slots[self.slot].last)) \
            and self.tie is None and self.broken_next is None and not self.tuplet_left and not self.final \
            and not self.need_ending2

    def note_alive(self, text: str) -> bool:
        """Whether the note being written (`^c'` `c2` …) can still be completed to one that fits."""
        accidental = text[: len(text) - len(text.lstrip("^_="))]
        rest = text[len(accidental):]
        if not rest:  # (a `^` may still become `^^`)
            signs = [accidental, accidental * 2] if accidental in ("^", "_") else [accidental]
            return any(self.note_alive(sign + ch) for sign in signs for ch in "CDEFGABcdefgab")
        letter, rest = rest[0], rest[1:]
        octave = rest[: len(rest) - len(rest.lstrip("',"))]
        dur = rest[len(octave):]
        if len(octave) > 1 or (octave and octave[0] != ("'" if letter.islower() else ",")) or \
                dur not in DURATION_PREFIXES:
            return False
        if self.plain():  # pitch does not matter, and the room decides
            return self.ctx.fits(dur, self.room() - self.bar)
        octaves = [octave] if (octave or dur) else ["", "'" if letter.islower() else ","]
        for o in octaves:
            pitch = self.pitch(accidental, letter, o)
            for d in DURATIONS:
                if d.startswith(dur) and self.note_fits(pitch, self.ctx.dur_t[d], "note") \
                        is not None:
                    return True
        return False

    def length_alive(self, dur: str, kind: str) -> bool:
        if dur in DURATION_PREFIXES and self.plain() and not (kind == "rest" and self.prefix[0] >= 2):
            return self.ctx.fits(dur, self.room() - self.bar)
        return dur in DURATION_PREFIXES and any(
            self.note_fits(None, self.ctx.dur_t[d], kind) is not None
            for d in DURATIONS if d.startswith(dur))

    def place(self, pitch: tuple | None, written: int, kind: str, accidental: tuple | None = None) -> bool:
        adds = self.note_fits(pitch, written, kind)
        if adds is None:
            return False
        self.bar += adds
        self.music = self.notes = True
        # broken rhythm only after a plain note (abc2midi shortens a staccato note, joins a tied one)
        single = kind == "note" and self.tuplet_left == 0 and self.broken_next is None and self.tie is None \
            and self.prefix == (0, False)
        if self.tuplet_left:
            self.tuplet_len = written
            self.tuplet_left -= 1
        pair = self.broken_next is not None
        self.broken_next = self.broken_len = None
        self.tie = None
        self.tie_ok = pitch if kind == "note" and self.tuplet_left == 0 and self.prefix[0] < 3 else None
        self.line_notes += 2 if kind == "chord" else 1  # (a chord is as wide as two notes)
        self.bar_notes += 1
        self.broken_ok = written if single and not pair else None
        if accidental is not None:
            self.accidentals = tuple(a for a in self.accidentals if a[:2] != accidental[:2]) + (accidental,)
        self.prefix, self.need_note = (0, False), self.tuplet_left > 0
        self.last, self.after_word = kind, False
        return True

    def tie_fits(self) -> bool:
        """A tie needs a note of the same pitch next: in this bar, or after a plain bar line."""
        tied = self.copy()
        tied.tie, tied.tie_ok, tied.last = self.tie_ok, None, "tie"
        if tied.note_fits(tied.tie, None, "note") is not None:
            return True
        return self.ctx.level >= METER and self.bar == self.room() and not self.final_slot and tied.word_ok("|")

    def tuplet_fits(self) -> bool:
        tuplet = self.copy()
        tuplet.tuplet_left, tuplet.tuplet_len = 3, None
        return tuplet.note_fits(None, None, "note") is not None

    def broken_fits(self, sign: str) -> bool:
        if self.broken_ok is None or self.last != "note" or self.tuplet_left:
            return False
        units = Fraction(self.broken_ok) * self.ctx.tick / self.ctx.unit
        if units.numerator & (units.numerator - 1) or units.denominator & (units.denominator - 1) or self.broken_ok % 2:
            return False  # abcm2ps draws no note of 3 * 3/2 units
        pair = self.copy()
        pair.bar += self.broken_ok // 2 if sign == ">" else -(self.broken_ok // 2)
        pair.broken_next, pair.broken_len, pair.broken_ok = sign, self.broken_ok, None
        return pair.note_fits(None, self.broken_ok, "note") is not None

    def some_chord(self) -> bool:
        return self.tie is None and self.tuplet_left == 0 and self.broken_next is None and self.prefix[0] < 3 \
            and self.note_fits(None, None, "chord") is not None
