"""Following a tune while it is written: an incremental reader of the body that says, for every next
character, whether the text can still be completed into a valid tune.

`Reader.step(c)` takes one character and returns False when no valid tune starts with the text so
far plus `c` (the reader is then spent: step a copy). Marks are recognised as grammar.lexeme_at
recognises them, so a character that would lengthen the mark being written (a digit after a note,
`:` after `|`) lengthens it here too, exactly as the bar reader will read the finished text.

What a valid tune is, at three strengths (each includes the one before):

* ABC: only marks abc2midi and abcm2ps read without an error, each complete: a note is an optional
  accidental, a letter, at most one octave mark and a length from DURATIONS; a chord symbol, at most
  decoration and grace notes stand right before a note; a tie joins two notes of the same
  pitch; broken rhythm joins two plain notes of the same written length (not a tied or decorated one); a tuplet `(3` is three
  notes of one length; chords hold 2-4 pitches; before a note stand, in this order, at most a chord
  symbol, grace notes and one decoration (abc2midi reads no other order, nor a roll `~` with grace
  notes); a `|:` is closed by `:|` before the end, a first
  ending `|1` only inside a repeat and followed by `:|2`; bars hold music; a line breaks after a bar
  line; the tune ends after a bar line, with everything closed. Nothing writes no note: no run of
  marks without a note can arise.
* METER: every bar holds exactly the meter (M:, in units of L:), but for a pickup (the first bar)
  and the bar that completes it before a repeat or section line; a note is allowed only where the
  rest of the bar can still be filled with notes of the lengths in DURATIONS.
* FORM: the bars follow a form plan (forms.Plan): the bar lines that close each part, its repeats
  and endings fall at the planned bars, and the note that completes the tune's last bar is the tonic
  of K:.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from abcrnn.notation.grammar import CHORD_NAMES, CHORD_SYMBOL, full, lexeme_at, multiplier
from abcrnn.notation.melody import LETTER_PC, Key

ABC, METER, FORM = 1, 2, 3

# Note lengths the decoders write (in units of L:): the lengths of nearly every note in the corpus.
DURATIONS = ("", "2", "3", "4", "6", "8", "12", "16", "/", "/2", "//", "/4", "3/2", "3/", "3/4")
_DURATION_PREFIXES = {d[:k] for d in DURATIONS for k in range(len(d) + 1)}
# Decorations abcm2ps defines (an unknown !name! is an abcm2ps error), and the one-character ones.
DECORATIONS = ("trill", "roll", "fermata", "accent", "emphasis", "tenuto", "mordent", "turn", "upbow",
               "downbow", "segno", "coda", "breath")
_DECORATION_PREFIXES = {d[:k] for d in DECORATIONS for k in range(len(d) + 1)}
SHORT_DECORATIONS = "~."
# Bar lines the decoders write, with the ending a bar line may open (`|1`, `:|2`, or `[1`, `[2` after it).
# (No `:|:`: abc2midi reads it as a repeat's end only.)
WORDS = ("|", "||", "|]", "|:", ":|", "::", ":||:", "|1", ":|2")
_WORD_PREFIXES = {w[:k] for w in WORDS for k in range(1, len(w) + 1)}
_OPENS = {"|:", "::", ":||:"}
_CLOSES = {":|", "::", ":||:", ":|2"}
_is_chord_symbol = full(CHORD_SYMBOL)
MAX_CHORD_SYMBOL = 10
END_TAG = "<end>"
# A line breaks after this many bars, or at the first bar line after this many notes: abcm2ps stops
# with "Line too much shrunk" on a line it cannot fit.
MAX_LINE_BARS, MAX_LINE_NOTES, MAX_LINE_CHARS = 4, 24, 56
MAX_BAR_NOTES = 12  # without a meter to fill (ABC alone), a bar holds at most this many notes
MAX_BAR_PREFIXES = 4  # chord symbols, grace notes and decorations in a bar
# abc2midi's accompaniment, once a chord symbol has started it, plays at least this long a bar: a
# tune with chord symbols may not end with a shorter bar ("Sustained notes beyond end of track").
CHORD_BAR = Fraction(1, 4)

SEP, ACC, NOTE, REST, BAR, BRACKET, ENDING, PAREN, TUPLET, QUOTE, BANG, GRACE, CHORD, CHORD_LEN, BROKEN, TAG, \
    DONE = range(17)


@dataclass(frozen=True)
class Slot:
    """One bar of a form plan: its length, the bar lines that may close it, whether a `|:` must come
    before its first note, and whether it is the tune's last bar."""
    length: Fraction
    words: frozenset
    opens: bool = False
    last: bool = False


@dataclass(eq=False)
class Context:
    """What every stream of one tune header shares: the strength, meter, unit, key, and form plan.

    The reader counts lengths in integer ticks (an eighth of the unit note length, or a finer
    divisor of the meter), so that following a bar is integer arithmetic: `ticks(x)`."""
    level: int
    meter: Fraction | None
    unit: Fraction
    key: Key
    slots: tuple[Slot, ...] = ()

    def __post_init__(self):
        if self.meter is None and self.level > ABC:
            self.level = ABC  # free meter (M:none): no bar to fill
        if self.level == FORM and not self.slots:
            self.level = METER  # no plan: the meter alone
        tick = self.unit / 8
        for x in ([self.meter] if self.meter else []) + [s.length for s in self.slots]:
            tick = _gcd(tick, x)
        self.tick = tick
        self.dur_t = {d: self.ticks(self.unit * multiplier(d)) for d in DURATIONS}  # each length, in ticks
        self.lengths = tuple(sorted(set(self.dur_t.values())))
        self.meter_t = self.ticks(self.meter) if self.meter is not None else None
        self.slot_t = tuple(self.ticks(s.length) for s in self.slots)
        self.chord_bar = math.ceil(CHORD_BAR / tick)
        longest = max([self.meter_t or 0, *self.slot_t, 1]) * 2
        self.fill = _fillable(self.lengths, longest)
        # What mask rows of this tune share with other tunes' (the plan enters keys bar by bar)
        self.family = (self.level, self.meter, self.unit, self.key.tonic, self.key.fifths,
                       tuple(sorted(self.key.signature.items())), bool(self.slots))

    def ticks(self, length: Fraction) -> int:
        return int(length / self.tick)

    @property
    def tonic(self) -> int:
        return self.key.tonic

    def fillable(self, rest: int) -> bool:
        """Whether `rest` ticks are a sum of note lengths the decoders write (0 is)."""
        return 0 <= rest < len(self.fill) and self.fill[rest]


def _gcd(a: Fraction, b: Fraction) -> Fraction:
    return Fraction(math.gcd(a.numerator * b.denominator, b.numerator * a.denominator), a.denominator * b.denominator)


def _fillable(lengths: tuple[int, ...], longest: int) -> bytearray:
    """reach[r] for r in 0..longest: r is a sum of `lengths` (dynamic programming)."""
    reach = bytearray(longest + 1)
    reach[0] = 1
    for total in range(1, longest + 1):
        reach[total] = any(p <= total and reach[total - p] for p in lengths)
    return reach


class Reader:
    """The state of one tune's body being written (see the module's docstring)."""

    # (No __slots__: a copy is one copy of __dict__, many times faster than copying each slot.)

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.mode, self.pending = SEP, ""
        self.line_start, self.last = True, "start"
        self.bar, self.music, self.accidentals = 0, False, ()  # (lengths in ticks: Context.ticks)
        self.first_bar, self.pickup = True, 0
        self.tie = self.tie_ok = None          # pitch the next note must have; pitch a `-` may hold
        self.tuplet_left, self.tuplet_len = 0, None
        self.broken_next = self.broken_len = self.broken_ok = None
        self.prefix = (0, False)               # what stands before the next note: 1 chord symbol, 2 grace
        #                                        notes, 3 a decoration (the last of them); grace notes or not
        self.need_note = self.slur = False
        self.repeat, self.ending, self.need_ending2 = False, 0, False
        self.section_bars, self.notes, self.final, self.last_bar_ok = 0, False, False, False
        self.slot = 0
        self.bar_word = ""                     # the last bar line (effective: with its ending)
        self.after_word = False                # the bar line was the last mark (no space since)
        self.after_bar = False                 # a bar line was the last mark but for spaces
        self.line_bars = self.line_notes = self.line_chars = self.bar_notes = self.bar_prefixes = 0
        self.chords = False                    # a chord symbol has been written
        self.closing = False                   # the text nears its length limit: the next bar line ends it
        self.end_ok = True                     # the last bar may end the tune (see CHORD_BAR)

    def copy(self) -> Reader:
        new = Reader.__new__(Reader)
        new.__dict__ = self.__dict__.copy()
        return new

    # --- what the masks depend on -----------------------------------------------------------------
    def key(self) -> tuple:
        """Everything the allowed next characters depend on (pitches only where they matter)."""
        exact = self.tie is not None or self.final_slot or self.mode in (GRACE, CHORD, QUOTE, BANG, ENDING)
        pending = self.pending if exact else _canonical(self.pending, self.mode)
        ctx, slot = self.ctx, self.slot
        plan = (slot, len(ctx.slots)) if ctx.level < FORM else (
            slot == 0, slot >= len(ctx.slots), tuple(ctx.slots[max(0, slot - 1): slot + 2]))
        return (ctx.family, plan, self.mode, pending, self.line_start, self.last, self.bar, self.music,
                self.accidentals if exact else (), self.first_bar, self.pickup, self.tie,
                self.tie_ok if exact else self.tie_ok is not None,
                self.tuplet_left, self.tuplet_len, self.broken_next, self.broken_len, self.broken_ok, self.prefix,
                self.need_note, self.slur, self.repeat, self.ending, self.need_ending2, min(self.section_bars, 1),
                self.notes, self.final, self.last_bar_ok, "" if self.music else self.bar_word,
                self.after_word, self.after_bar, _near(self.line_bars, MAX_LINE_BARS), _near(self.line_notes, MAX_LINE_NOTES),
                _near(self.line_chars, MAX_LINE_CHARS, 12), self.line_chars <= 1,
                _near(self.bar_notes, MAX_BAR_NOTES, 3) if self.ctx.level == ABC else -1, self.bar_prefixes, self.chords and self.bar < self.ctx.chord_bar, self.end_ok, self.closing)

    # --- reading --------------------------------------------------------------------------------
    def feed(self, text: str) -> bool:
        return all(self.step(c) for c in text)

    def step(self, c: str) -> bool:
        self.line_chars += 1
        mode = self.mode
        if c == ":" and self.line_chars == 2 and self.pending.isalpha():
            return False  # `z:` at a line's start is a field line to abcm2ps
        if mode == SEP:
            return self._start(c)
        if mode == DONE:
            return True
        if mode in (NOTE, REST, BAR, ENDING, TUPLET, CHORD_LEN, BROKEN):
            text = self.pending + c
            if lexeme_at(text + "\x00", 0).end > len(self.pending):  # c lengthens the mark being written
                self.pending = text
                return self._alive()
            return self._complete() and self._start(c)
        if mode == ACC:
            if c in "^_" and self.pending == c:  # ^^, __
                self.pending += c
                return self._alive()
            if c.upper() in LETTER_PC:
                self.mode, self.pending = NOTE, self.pending + c
                return self._alive()
            return False
        if mode == BRACKET:
            return self._bracket(c)
        if mode == PAREN:
            if c.isdigit():
                self.mode, self.pending = TUPLET, "(" + c
                return self._alive()
            return self._open_slur() and self._start(c)
        if mode == QUOTE:
            return self._quote(c)
        if mode == BANG:
            return self._bang(c)
        if mode in (GRACE, CHORD):
            return self._inside(c)
        if mode == TAG:
            self.pending += c
            if not END_TAG.startswith(self.pending):
                return False
            if self.pending == END_TAG:
                self.mode = DONE
            return True
        return False

    def _start(self, c: str) -> bool:
        """A character with nothing being written: the start of a mark."""
        self.mode, self.pending = SEP, ""
        if (self.final and c != "\n" and not (self.line_start and c == "<")) or (self.need_ending2 and c != "["):
            return False
        after_bar, self.after_bar = self.after_bar, False
        if self.line_full and after_bar and self.tie is None and c != "\n" and not (c == "[" and self.after_word):
            return False  # the line is full: it breaks here (but for a tied note, which must come first)
        if c == " ":
            self.after_bar = after_bar
            ok = not self.line_start and self.last != "space" and self._free() and self.tie is None \
                and not (self.slur and self.final_slot and self.bar == self.room())  # `)` must come now
            self.last, self.after_word = "space", False
            return ok
        if c == "\n":  # (abc2midi ties no note across a line break)
            if self.line_start or not after_bar or not self._free() or self.need_ending2 or self.tie is not None:
                return False
            self.line_start, self.last, self.after_word = True, "newline", False
            self.line_bars = self.line_notes = self.line_chars = 0
            return True
        if c == "<" and self.line_start:
            self.mode, self.pending = TAG, c
            return self.can_end()
        self.line_start = False
        if c in "^_=":
            self.mode, self.pending = ACC, c
            return self._alive()
        if c.upper() in LETTER_PC:
            self.mode, self.pending = NOTE, c
            return self._alive()
        if c == "z":
            self.mode, self.pending = REST, c
            return self._alive()
        if c in "|:":
            self.mode, self.pending = BAR, c
            return self._alive()
        if c == "[":
            self.mode, self.pending = BRACKET, c
            return self._some_chord() or self._ending_ok("[1") or self._ending_ok("[2")
        if c == "(":
            self.mode, self.pending = PAREN, c
            slur = not self.slur and not self.closing and self._free() and self.tie is None and self.prefix == (0, False) \
                and self._note_fits(None, None, "note") is not None
            tuplet = self._free() and self.tie is None and self.prefix == (0, False) and self._tuplet_fits()
            return slur or tuplet
        if c == ")":
            ok = self.slur and self.last in ("note", "chord") and self.tuplet_left == 0
            self.slur, self.last, self.tie_ok, self.broken_ok = False, "slur", None, None
            return ok
        if c == '"':
            self.mode, self.pending = QUOTE, c
            if self.ctx.level == FORM and self.ctx.slots and self.ctx.slot_t[-1] < self.ctx.chord_bar:
                return False
            return self._prefix_ok(1) and (self._note_fits(None, None, "note") is not None
                                           or self._note_fits(None, None, "rest") is not None)
        if c == "!":
            self.mode, self.pending = BANG, c
            return self._prefix_ok(3) and self._note_fits(None, None, "note") is not None
        if c in SHORT_DECORATIONS:
            if not (self._prefix_ok(3) and not (c == "~" and self.prefix[1])
                    and self._note_fits(None, None, "note") is not None):
                return False
            self._add_prefix(3)
            return True
        if c == "{":
            self.mode, self.pending = GRACE, c
            return self._prefix_ok(2) and self._note_fits(None, None, "note") is not None
        if c == "-":
            ok = self.tie_ok is not None and self.last == "note" and self.broken_next is None and self._tie_fits() \
                and not self.closing
            self.tie, self.tie_ok, self.last = self.tie_ok, None, "tie"
            self.broken_ok = None
            return ok
        if c in "<>":
            self.mode, self.pending = BROKEN, c
            return self._alive()
        return False

    @property
    def line_full(self) -> bool:
        return self.line_bars >= MAX_LINE_BARS or self.line_notes >= MAX_LINE_NOTES or self.line_chars >= MAX_LINE_CHARS

    def _free(self) -> bool:
        """Nothing waits for a note: no tuplet, broken rhythm, decoration or slur opening unfinished."""
        return self.tuplet_left == 0 and self.broken_next is None and not self.need_note

    # --- notes ----------------------------------------------------------------------------------
    def _note_fits(self, pitch: tuple | None, written: int | None, kind: str) -> int | None:
        """How much a note (kind note, rest or chord; pitch None: any; written None: any length) adds
        to the bar if it may stand here, else None."""
        if written is None:
            for length in self.ctx.lengths:
                if self._note_fits(pitch, length, kind) is not None:
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

    def canonical(self) -> bool:
        """Whether the allowed characters are the same for every note letter of a case (and for `^`
        and `_`): not while a tie or the tune's last note must be a given pitch, nor inside a chord
        symbol, decoration or <end>, where letters spell names."""
        return self.tie is None and not self.final_slot and self.mode not in (QUOTE, BANG, TAG)

    @property
    def final_slot(self) -> bool:
        ctx = self.ctx
        return ctx.level == FORM and self.slot < len(ctx.slots) and ctx.slots[self.slot].last

    def _pitch(self, accidental: str, letter: str, octave: str) -> tuple:
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

    def _note_alive(self, text: str) -> bool:
        """Whether the note being written (`^c'` `c2` …) can still be completed to one that fits."""
        accidental = text[: len(text) - len(text.lstrip("^_="))]
        rest = text[len(accidental):]
        if not rest:  # (a `^` may still become `^^`)
            signs = [accidental, accidental * 2] if accidental in ("^", "_") else [accidental]
            return any(self._note_alive(sign + ch) for sign in signs for ch in "CDEFGABcdefgab")
        letter, rest = rest[0], rest[1:]
        octave = rest[: len(rest) - len(rest.lstrip("',"))]
        dur = rest[len(octave):]
        if len(octave) > 1 or (octave and octave[0] != ("'" if letter.islower() else ",")) or \
                dur not in _DURATION_PREFIXES:
            return False
        octaves = [octave] if (octave or dur) else ["", "'" if letter.islower() else ","]
        for o in octaves:
            pitch = self._pitch(accidental, letter, o)
            for d in DURATIONS:
                if d.startswith(dur) and self._note_fits(pitch, self.ctx.dur_t[d], "note") \
                        is not None:
                    return True
        return False

    def _length_alive(self, dur: str, kind: str) -> bool:
        return dur in _DURATION_PREFIXES and any(
            self._note_fits(None, self.ctx.dur_t[d], kind) is not None
            for d in DURATIONS if d.startswith(dur))

    def _place(self, pitch: tuple | None, written: int, kind: str, accidental: tuple | None = None) -> bool:
        adds = self._note_fits(pitch, written, kind)
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

    def _tie_fits(self) -> bool:
        """A tie needs a note of the same pitch next: in this bar, or after a plain bar line."""
        tied = self.copy()
        tied.tie, tied.tie_ok, tied.last = self.tie_ok, None, "tie"
        if tied._note_fits(tied.tie, None, "note") is not None:
            return True
        return self.ctx.level >= METER and self.bar == self.room() and not self.final_slot and tied._word_ok("|")

    # --- completing the mark being written ------------------------------------------------------
    def _alive(self) -> bool:
        mode, text = self.mode, self.pending
        if mode in (ACC, NOTE):
            return self._note_alive(text)
        if mode == REST:
            return self._length_alive(text[1:], "rest")
        if mode == CHORD_LEN:
            return self._length_alive(text[text.index("]") + 1:], "chord")
        if mode == BAR:
            return text in _WORD_PREFIXES and any(
                w.startswith(text) and self._word_ok(w) for w in WORDS)
        if mode == TUPLET:
            return text == "(3" and self._free() and self.tie is None and self.prefix == (0, False) and \
                self._tuplet_fits()
        if mode == BROKEN:
            return text in ("<", ">") and self._broken_fits(text)
        if mode == ENDING:
            return self._ending_ok(text)
        return True

    def _complete(self) -> bool:
        """Commit the mark being written (its text is complete: the next character does not lengthen it)."""
        mode, text = self.mode, self.pending
        self.mode, self.pending = SEP, ""
        if mode == NOTE:
            accidental = text[: len(text) - len(text.lstrip("^_="))]
            letter = text[len(accidental)]
            rest = text[len(accidental) + 1:]
            octave = rest[: len(rest) - len(rest.lstrip("',"))]
            dur = rest[len(octave):]
            if dur not in DURATIONS:
                return False
            oct_ = (1 if letter.islower() else 0) + octave.count("'") - octave.count(",")
            acc = (letter.upper(), oct_, {"^": 1, "^^": 2, "_": -1, "__": -2, "=": 0}[accidental]) if accidental else None
            return self._place(self._pitch(accidental, letter, octave), self.ctx.dur_t[dur],
                               "note", acc)
        if mode == REST:
            return text[1:] in DURATIONS and self._place(None, self.ctx.dur_t[text[1:]], "rest")
        if mode == CHORD_LEN:
            dur = text[text.index("]") + 1:]
            return dur in DURATIONS and self._place(None, self.ctx.dur_t[dur], "chord")
        if mode == BAR:
            if text not in WORDS or not self._close(text):
                return False
            self.bar_word, self.after_word = text, True
            return True
        if mode == ENDING:
            word = self.bar_word + text[1:]
            return self._reclose(word)
        if mode == TUPLET:
            self.tuplet_left, self.tuplet_len, self.need_note, self.last = 3, None, True, "tuplet"
            self.tie_ok = self.broken_ok = None
            return True
        if mode == BROKEN:
            self.bar += self.broken_ok // 2 if text == ">" else -(self.broken_ok // 2)  # a>b: 3/2 and 1/2
            self.broken_next, self.broken_len, self.broken_ok, self.tie_ok = text, self.broken_ok, None, None
            self.last = "broken"
            return True
        return False

    # --- bar lines ------------------------------------------------------------------------------
    def _words_allowed(self) -> list[str]:
        return [w for w in WORDS if self._word_ok(w)]

    def _word_ok(self, word: str) -> bool:
        """Whether the bar line `word` (with the ending it opens) may close the bar here."""
        if self.final or not self._free() or self.prefix != (0, False):
            return False
        if self.tie is not None and (word != "|" or self.ctx.level >= METER and self.bar < self.room()):
            return False  # a tie crosses a plain bar line only (and no line break: see _start)
        if self.need_ending2:
            return False
        closes = word in _CLOSES
        if not self.music:
            # only a `|:` opening a part: at the start, or right after the bar line that ended the last one
            if word != "|:" or self.repeat or not (self.last == "start" or (
                    self.last in ("bar", "space", "newline") and self.bar_word not in ("|", "|1", "|:"))):
                return False
            return self.ctx.level < FORM or (self.slot < len(self.ctx.slots) and self.ctx.slots[self.slot].opens)
        if word in _OPENS and (self.repeat != (word != "|:")):
            return False  # `|:` opens a repeat; `::` closes one and opens the next
        if self.closing and self.ctx.level < FORM and not self._ends_music(word):
            return False
        if closes and not (self.repeat or self.section_bars >= 1 or self.ending == 1):
            return False
        if word == "|1" and not (self.repeat and self.ending == 0):
            return False
        if self.ending == 1 and word not in ("|", ":|", ":|2"):
            return False
        if word == ":|2" and self.ending != 1:
            return False
        if self.ending == 2 and (closes or word == "|1"):
            return False
        if word == "|]" and (self.repeat or self.ending == 1 or self.slur or (self.chords and self.bar < self.ctx.chord_bar)):
            return False
        ctx = self.ctx
        if ctx.level >= METER:
            room = self.room()
            if self.bar != room:
                if ctx.level == FORM:
                    return False
                short_ok = (self.first_bar and word not in ("|]", "|1", ":|2") and not closes) or (
                    self.pickup and self.bar == ctx.meter_t - self.pickup and (closes or word in ("||", "|]")))
                if not short_ok:
                    return False
        if ctx.level == FORM:
            if self.slot >= len(ctx.slots):
                return False
            slot = ctx.slots[self.slot]
            if word not in slot.words and not (word == ":|" and ":|2" in slot.words):
                return False
            if slot.last and (self.slur or (self.chords and self.bar < self.ctx.chord_bar)):
                return False
        return True

    def _ends_music(self, word: str) -> bool:
        """Whether, with the text near its length limit, `word` is a bar line the tune may end with:
        one that closes what is open (the repeat, the first ending) and opens nothing."""
        if word in _OPENS or word == "|1" or self.slur:
            return False
        if self.ending == 1:
            return word in (":|", ":|2")
        if self.repeat:
            return word == ":|"
        return word in ("|]", "||") or (self.ending == 2 and word == "||")

    def _close(self, word: str) -> bool:
        """Close the bar with `word` (an ending `[1`/`[2` may still join it: see _reclose)."""
        if not self._word_ok(word):
            return False
        self._apply(word)
        return True

    def _apply(self, word: str) -> None:
        opening_only = not self.music
        if not opening_only:
            ctx = self.ctx
            full_bar = ctx.meter_t is not None and self.bar == ctx.meter_t
            if self.first_bar and ctx.meter_t is not None and self.bar < ctx.meter_t:
                self.pickup = self.bar
            self.last_bar_ok = full_bar or bool(self.pickup and ctx.meter_t is not None and
                                                self.bar == ctx.meter_t - self.pickup and not self.first_bar)
            self.first_bar = False
            if ctx.level == FORM:
                self.slot += 1
        if word in _CLOSES:
            self.repeat = False
        if word in _OPENS:
            self.repeat = True
        if word == "|1":
            self.ending = 1
        elif word == ":|2":
            self.ending = 2
        elif word == ":|" and self.ending == 1:
            self.need_ending2 = True  # `[2` must follow
        elif word != "|" and self.ending == 2:
            self.ending = 0
        if word == "|]" or (self.closing and self.ctx.level < FORM and self.ending != 1 and word != "|"):
            self.final = True  # (near the length limit, the bar line that closes everything ends the music)
        self.section_bars = 0 if word != "|" else self.section_bars + (0 if opening_only else 1)
        self.end_ok = not (self.chords and self.bar < self.ctx.chord_bar) or opening_only and self.end_ok
        self.bar, self.music, self.accidentals, self.bar_notes, self.bar_prefixes = 0, False, (), 0, 0
        self.tie_ok = self.broken_ok = None
        self.last, self.after_bar = "bar", True
        self.line_bars += not opening_only

    def _ending_ok(self, text: str) -> bool:
        """Whether `[1` or `[2` may follow the bar line just written (as `|1`, `:|2`)."""
        if not (self.after_word and self.last == "bar") or self.tie is not None:
            return False  # (a tie into an ending is no tie for abc2midi)
        if text == "[2":
            return self.need_ending2
        if text != "[1" or self.bar_word != "|" or not self.repeat or self.ending != 0:
            return False
        return self.ctx.level < FORM or "|1" in self.ctx.slots[self.slot - 1].words

    def _reclose(self, word: str) -> bool:
        """An ending `[1`/`[2` right after a bar line: the bar line was that ending's (`|1`, `:|2`)."""
        if word == ":|2" and self.need_ending2:
            self.need_ending2, self.ending, self.bar_word = False, 2, word
            return True
        if word == "|1" and self._ending_ok("[1"):
            self.ending, self.bar_word = 1, word  # a plain `|` changes no repeat: it opens the first ending now
            return True
        return False

    def _bracket(self, c: str) -> bool:
        """After `[`: a digit makes an ending of the bar line just written; a note starts a chord."""
        if c.isdigit():
            self.mode, self.pending = ENDING, "[" + c
            return self._alive()
        if c in "^_=" or c.upper() in LETTER_PC:
            if not self._some_chord():
                return False
            self.mode, self.pending = CHORD, "["
            return self._inside(c)
        return False

    def _some_chord(self) -> bool:
        return self.tie is None and self.tuplet_left == 0 and self.broken_next is None and self.prefix[0] < 3 \
            and self._note_fits(None, None, "chord") is not None

    # --- tuplets, broken rhythm, slurs ------------------------------------------------------------
    def _tuplet_fits(self) -> bool:
        tuplet = self.copy()
        tuplet.tuplet_left, tuplet.tuplet_len = 3, None
        return tuplet._note_fits(None, None, "note") is not None

    def _broken_fits(self, sign: str) -> bool:
        if self.broken_ok is None or self.last != "note" or self.tuplet_left:
            return False
        units = Fraction(self.broken_ok) * self.ctx.tick / self.ctx.unit
        if units.numerator & (units.numerator - 1) or units.denominator & (units.denominator - 1) or self.broken_ok % 2:
            return False  # abcm2ps draws no note of 3 * 3/2 units
        pair = self.copy()
        pair.bar += self.broken_ok // 2 if sign == ">" else -(self.broken_ok // 2)
        pair.broken_next, pair.broken_len, pair.broken_ok = sign, self.broken_ok, None
        return pair._note_fits(None, self.broken_ok, "note") is not None

    def _open_slur(self) -> bool:
        ok = not self.slur and self.tuplet_left == 0 and self.broken_next is None
        self.slur, self.need_note, self.last = True, True, "slur"
        return ok

    # --- spans before a note --------------------------------------------------------------------
    def _prefix_ok(self, stage: int) -> bool:
        """Whether a chord symbol (stage 1), grace notes (2) or a decoration (3) may come next."""
        if self.tuplet_left or self.broken_next is not None or self.tie is not None:
            return False
        return self.prefix[0] < stage and self.bar_prefixes < MAX_BAR_PREFIXES

    def _add_prefix(self, stage: int) -> None:
        self.chords = self.chords or stage == 1
        self.prefix = (stage, self.prefix[1] or stage == 2)
        self.need_note, self.last = True, "prefix"
        self.bar_prefixes += 1

    def _quote(self, c: str) -> bool:
        self.pending += c
        if c == '"':
            if self.pending not in _chord_symbols()[0]:
                return False
            self.mode, self.pending = SEP, ""
            self._add_prefix(1)
            return True
        return len(self.pending) <= MAX_CHORD_SYMBOL and _chord_symbol_prefix(self.pending)

    def _bang(self, c: str) -> bool:
        name = self.pending[1:]
        if c == "!":
            if name not in DECORATIONS:
                return False
            self.mode, self.pending = SEP, ""
            self._add_prefix(3)
            return True
        self.pending += c
        return name + c in _DECORATION_PREFIXES

    def _inside(self, c: str) -> bool:
        """Grace notes {gag} and chords [ceg]: 1-4 (chords 2-4) pitches, no lengths inside."""
        text, closer = self.pending, "}" if self.mode == GRACE else "]"
        inner = text[1:]
        count = sum(ch.upper() in LETTER_PC for ch in inner)
        if c == closer:
            if inner[-1:] in ("^", "_", "=") or count < (1 if closer == "}" else 2):
                return False
            if closer == "}":
                self.mode, self.pending = SEP, ""
                self._add_prefix(2)
                return True
            self.mode, self.pending = CHORD_LEN, text + c
            return self._alive()
        if c in "^_=":
            ok = inner[-1:] not in ("^", "_", "=") or (c == inner[-1] and c != "=" and inner[-2:-1] not in ("^", "_"))
            self.pending += c
            return ok and count < 4
        if c.upper() in LETTER_PC:
            self.pending += c
            return count < 4
        if c in "',":
            ok = inner[-1:].upper() in LETTER_PC and c == ("'" if inner[-1].islower() else ",")
            self.pending += c
            return ok
        return False

    # --- the end ----------------------------------------------------------------------------------
    def can_end(self) -> bool:
        """Whether the tune may end here (at a line's start, after a bar line)."""
        if not (self.line_start and self.last == "newline" and self.notes and self._free() and self.tie is None):
            return False
        if self.repeat or self.ending == 1 or self.need_ending2 or self.slur or not self.end_ok or \
                self.ending == 2 and self.bar_word not in ("|]", "||"):
            return False
        ctx = self.ctx
        if ctx.level >= METER and not self.last_bar_ok:
            return False
        if ctx.level == FORM and self.slot < len(ctx.slots):
            return False
        return True


@lru_cache(maxsize=1)
def _chord_symbols() -> tuple[frozenset, frozenset]:
    """The chord symbols the decoders write (all of them chord symbols by grammar.CHORD_SYMBOL), and
    their beginnings."""
    roots = [r + a for r in "ABCDEFG" for a in ("", "#", "b")]
    symbols = {f'"{r}{q}{b}"' for r in roots for q in CHORD_NAMES for b in ["", *("/" + x for x in roots)]}
    symbols = {s for s in symbols if _is_chord_symbol(s) and len(s) <= MAX_CHORD_SYMBOL}
    return frozenset(symbols), frozenset(s[:k] for s in symbols for k in range(1, len(s) + 1))


def _chord_symbol_prefix(text: str) -> bool:
    """Whether `text` ('"A', '"Am', '"D/F' …) can still become a chord symbol."""
    return text in _chord_symbols()[1]


def _near(count: int, limit: int, window: int = 2) -> int:
    """A count as far as what comes next depends on it: exact within `window` of its limit."""
    return min(count, limit) if count >= limit - window else -1


def _canonical(pending: str, mode: int) -> str:
    """The mark being written with its pitch left out where only its length and shape matter."""
    if mode in (NOTE, ACC):
        return "".join("C" if ch in "ABCDEFG" else "c" if ch in "abcdefg" else ch
                       for ch in pending)
    return pending
