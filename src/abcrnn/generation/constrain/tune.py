"""Following a tune while it is written: an incremental reader of the body that says, for every next
character, whether the text can still be completed into a valid tune.

`Reader.step(c)` takes one character and returns False when no valid tune starts with the text so
far plus `c` (the reader is then spent: step a copy). Marks are recognised as grammar.lexeme_at
recognises them, so a character that would lengthen the mark being written (a digit after a note,
`:` after `|`) lengthens it here too, exactly as the bar reader will read the finished text.

What a valid tune is, at three strengths (each includes the one before):

* ABC: only marks abc2midi and abcm2ps read without an error, each complete: a note is an optional
  accidental, a letter, at most one octave mark and a length from DURATIONS; before a note stand,
  in this order, at most a chord symbol, grace notes and one decoration (abc2midi reads no other
  order, nor a roll `~` with grace notes); a tie joins two notes of one letter and octave; broken
  rhythm joins two plain notes of one written length; a tuplet `(3` is three notes of one length;
  chords hold 2-4 pitches; a `|:` is closed by `:|` before the end, a first ending `|1` stands only
  inside a repeat and is followed by `:|2`; bars hold music; a line breaks after a bar line; the
  tune ends after a bar line, with everything closed. No run of marks without a note can arise.
* METER: every bar holds exactly the meter (M:, in units of L:), but for a pickup (the first bar)
  and the bar that completes it before a repeat or section line; a note is allowed only where the
  rest of the bar can still be filled with notes of the lengths in DURATIONS.
* FORM: the bars follow a form plan (forms.Plan): the bar lines that close each part, its repeats
  and endings fall at the planned bars, and the note that completes the tune's last bar is the tonic
  of K:.

This module reads characters into marks and holds the state; the rules are Reader's parts in
notes.py (notes, rests, chords, ties, tuplets, broken rhythm), barlines.py (bar lines, repeats,
endings, the end) and marks.py (chord symbols, grace notes, decorations, slurs); context.py holds
what is fixed for a tune (meter, unit, key, form plan, fillable lengths) and the limits.
"""

from __future__ import annotations

from abcrnn.generation.constrain.barlines import BarLines
from abcrnn.generation.constrain.context import (
    ABC,
    ACC,
    BANG,
    BAR,
    BRACKET,
    BROKEN,
    CHORD,
    CHORD_LEN,
    DONE,
    DURATIONS,
    END_TAG,
    ENDING,
    FORM,
    GRACE,
    MAX_BAR_NOTES,
    MAX_LINE_BARS,
    MAX_LINE_CHARS,
    MAX_LINE_NOTES,
    NOTE,
    PAREN,
    QUOTE,
    REST,
    SEP,
    SHORT_DECORATIONS,
    TAG,
    TUPLET,
    WORD_PREFIXES,
    WORDS,
    Context,
)
from abcrnn.generation.constrain.marks import Marks
from abcrnn.generation.constrain.notes import Notes
from abcrnn.notation.grammar import lexeme_at
from abcrnn.notation.melody import LETTER_PC


class Reader(Notes, BarLines, Marks):
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

    def start_closing(self) -> bool:
        """The text nears its length limit: from here the next bar line that closes what is open ends
        the tune (but under a form plan, which is drawn to fit). False, and nothing changed, while the
        mark being written could then not be completed (a `|` begun inside a repeat): try again later."""
        if self.closing:
            return True
        self.closing = True
        if not self.alive():
            self.closing = False
        return self.closing

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
            return self.start(c)
        if mode == DONE:
            return True
        if mode in (NOTE, REST, BAR, ENDING, TUPLET, CHORD_LEN, BROKEN):
            text = self.pending + c
            if lexeme_at(text + "\x00", 0).end > len(self.pending):  # c lengthens the mark being written
                self.pending = text
                return self.alive()
            return self.complete() and self.start(c)
        if mode == ACC:
            if c in "^_" and self.pending == c:  # ^^, __
                self.pending += c
                return self.alive()
            if c.upper() in LETTER_PC:
                self.mode, self.pending = NOTE, self.pending + c
                return self.alive()
            return False
        if mode == BRACKET:
            return self.bracket(c)
        if mode == PAREN:
            if c.isdigit():
                self.mode, self.pending = TUPLET, "(" + c
                return self.alive()
            return self.open_slur() and self.start(c)
        if mode == QUOTE:
            return self.quote(c)
        if mode == BANG:
            return self.bang(c)
        if mode in (GRACE, CHORD):
            return self.inside(c)
        if mode == TAG:
            self.pending += c
            if not END_TAG.startswith(self.pending):
                return False
            if self.pending == END_TAG:
                self.mode = DONE
            return True
        return False

    def start(self, c: str) -> bool:
        """A character with nothing being written: the start of a mark."""
        self.mode, self.pending = SEP, ""
        if (self.final and c != "\n" and not (self.line_start and c == "<")) or (self.need_ending2 and c != "["):
            return False
        after_bar, self.after_bar = self.after_bar, False
        if self.line_full and after_bar and self.tie is None and c != "\n" and not (c == "[" and self.after_word):
            return False  # the line is full: it breaks here (but for a tied note, which must come first)
        if c == " ":
            self.after_bar = after_bar
            ok = not self.line_start and self.last != "space" and self.free() and self.tie is None \
                and not (self.slur and self.final_slot and self.bar == self.room())  # `)` must come now
            self.last, self.after_word = "space", False
            return ok
        if c == "\n":  # (abc2midi ties no note across a line break)
            if self.line_start or not after_bar or not self.free() or self.need_ending2 or self.tie is not None:
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
            return self.alive()
        if c.upper() in LETTER_PC:
            self.mode, self.pending = NOTE, c
            return self.alive()
        if c == "z":
            self.mode, self.pending = REST, c
            return self.alive()
        if c in "|:":
            self.mode, self.pending = BAR, c
            return self.alive()
        if c == "[":
            self.mode, self.pending = BRACKET, c
            return (self.some_chord() and not self.line_breaks()) or self.ending_ok("[1") or self.ending_ok("[2")
        if c == "(":
            self.mode, self.pending = PAREN, c
            slur = not self.slur and not self.closing and self.free() and self.tie is None and self.prefix == (0, False) \
                and self.note_fits(None, None, "note") is not None
            tuplet = self.free() and self.tie is None and self.prefix == (0, False) and self.tuplet_fits()
            return slur or tuplet
        if c == ")":
            ok = self.slur and self.last in ("note", "chord") and self.tuplet_left == 0
            self.slur, self.last, self.tie_ok, self.broken_ok = False, "slur", None, None
            return ok
        if c == '"':
            self.mode, self.pending = QUOTE, c
            if self.ctx.level == FORM and self.ctx.slots and self.ctx.slot_t[-1] < self.ctx.chord_bar:
                return False
            return self.prefix_ok(1) and (self.note_fits(None, None, "note") is not None
                                           or self.note_fits(None, None, "rest") is not None)
        if c == "!":
            self.mode, self.pending = BANG, c
            return self.prefix_ok(3) and self.note_fits(None, None, "note") is not None
        if c in SHORT_DECORATIONS:
            if not (self.prefix_ok(3) and not (c == "~" and self.prefix[1])
                    and self.note_fits(None, None, "note") is not None):
                return False
            self.add_prefix(3)
            return True
        if c == "{":
            self.mode, self.pending = GRACE, c
            return self.prefix_ok(2) and self.note_fits(None, None, "note") is not None
        if c == "-":
            ok = self.tie_ok is not None and self.last == "note" and self.broken_next is None and self.tie_fits() \
                and not self.closing
            self.tie, self.tie_ok, self.last = self.tie_ok, None, "tie"
            self.broken_ok = None
            return ok
        if c in "<>":
            self.mode, self.pending = BROKEN, c
            return self.alive()
        return False

    def line_breaks(self, since: int = 0) -> bool:
        """Whether the line must break after the bar line just written (an ending `[1`, `[2` or a tied
        note aside): the line was full `since` characters ago."""
        full = self.line_bars >= MAX_LINE_BARS or self.line_notes >= MAX_LINE_NOTES or \
            self.line_chars - since >= MAX_LINE_CHARS
        return full and self.last == "bar" and self.tie is None

    @property
    def line_full(self) -> bool:
        return self.line_bars >= MAX_LINE_BARS or self.line_notes >= MAX_LINE_NOTES or self.line_chars >= MAX_LINE_CHARS

    def free(self) -> bool:
        """Nothing waits for a note: no tuplet, broken rhythm, decoration or slur opening unfinished."""
        return self.tuplet_left == 0 and self.broken_next is None and not self.need_note

    # --- notes ----------------------------------------------------------------------------------

    def canonical(self) -> bool:
        """Whether the allowed characters are the same for every note letter of a case (and for `^`
        and `_`): not while a tie or the tune's last note must be a given pitch, nor inside a chord
        symbol, decoration or <end>, where letters spell names."""
        return self.tie is None and not self.final_slot and self.mode not in (QUOTE, BANG, TAG)

    # --- completing the mark being written ------------------------------------------------------
    def alive(self) -> bool:
        mode, text = self.mode, self.pending
        if mode in (ACC, NOTE):
            return self.note_alive(text)
        if mode == REST:
            return self.length_alive(text[1:], "rest")
        if mode == CHORD_LEN:
            return self.length_alive(text[text.index("]") + 1:], "chord")
        if mode == BAR:
            return text in WORD_PREFIXES and any(
                w.startswith(text) and self.word_ok(w) for w in WORDS)
        if mode == TUPLET:
            return text == "(3" and self.free() and self.tie is None and self.prefix == (0, False) and \
                self.tuplet_fits()
        if mode == BROKEN:
            return text in ("<", ">") and self.broken_fits(text)
        if mode == ENDING:
            return self.ending_ok(text)
        return True

    def complete(self) -> bool:
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
            return self.place(self.pitch(accidental, letter, octave), self.ctx.dur_t[dur],
                               "note", acc)
        if mode == REST:
            return text[1:] in DURATIONS and self.place(None, self.ctx.dur_t[text[1:]], "rest")
        if mode == CHORD_LEN:
            dur = text[text.index("]") + 1:]
            return dur in DURATIONS and self.place(None, self.ctx.dur_t[dur], "chord")
        if mode == BAR:
            if text not in WORDS or not self.close(text):
                return False
            self.bar_word, self.after_word = text, True
            return True
        if mode == ENDING:
            word = self.bar_word + text[1:]
            return self.reclose(word)
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









    # --- tuplets, broken rhythm, slurs ------------------------------------------------------------



    # --- spans before a note --------------------------------------------------------------------





    # --- the end ----------------------------------------------------------------------------------




def _near(count: int, limit: int, window: int = 2) -> int:
    """A count as far as what comes next depends on it: exact within `window` of its limit."""
    return min(count, limit) if count >= limit - window else -1


def _canonical(pending: str, mode: int) -> str:
    """The mark being written with its pitch left out where only its length and shape matter."""
    if mode in (NOTE, ACC):
        return "".join("C" if ch in "ABCDEFG" else "c" if ch in "abcdefg" else ch
                       for ch in pending)
    return pending
