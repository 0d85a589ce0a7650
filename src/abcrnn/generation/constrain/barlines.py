"""The reader's rules for bar lines: which may close the bar (repeats, endings, the meter, the form
plan, the approaching length limit), what each does, and when the tune may end."""

from __future__ import annotations

from abcrnn.generation.constrain.context import CLOSES, FORM, METER, OPENS, WORDS


class BarLines:
    """The reader's rules for bar lines: which may close the bar (repeats, endings, the meter, the form (a part of tune.Reader, whose state it reads and changes)."""

    def words_allowed(self) -> list[str]:
        return [w for w in WORDS if self.word_ok(w)]

    def word_ok(self, word: str) -> bool:
        """Whether the bar line `word` (with the ending it opens) may close the bar here."""
        if self.final or not self.free() or self.prefix != (0, False):
            return False
        if self.tie is not None and (word != "|" or self.ctx.level >= METER and self.bar < self.room()):
            return False  # a tie crosses a plain bar line only (and no line break: see _start)
        if self.need_ending2:
            return False
        closes = word in CLOSES
        if not self.music:
            # only a `|:` opening a part: at the start, or right after the bar line that ended the last one
            if word != "|:" or self.repeat or self.closing and self.ctx.level < FORM or not (self.last == "start" or (
                    self.last in ("bar", "space", "newline") and self.bar_word not in ("|", "|1", "|:"))):
                return False
            return self.ctx.level < FORM or (self.slot < len(self.ctx.slots) and self.ctx.slots[self.slot].opens)
        if word in OPENS and (self.repeat != (word != "|:")):
            return False  # `|:` opens a repeat; `::` closes one and opens the next
        if self.closing and self.ctx.level < FORM and not (
                self.ends_music(word) if self.may_finish() else word == "|"):
            return False  # (what cannot end the tune yet gets one more plain bar line)
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
                short_ok = (self.first_bar and not self.closing and word not in ("|]", "|1", ":|2") and not closes) or (
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

    def may_finish(self) -> bool:
        """Whether the bar ending here could be the tune's last: no slur or tie open, and a bar after
        chord symbols long enough (CHORD_BAR)."""
        return not (self.slur or self.tie is not None or self.chords and self.bar < self.ctx.chord_bar)

    def ends_music(self, word: str) -> bool:
        """Whether, with the text near its length limit, `word` is a bar line the tune may end with:
        one that closes what is open (the repeat, the first ending) and opens nothing."""
        if word in OPENS or word == "|1" or self.slur:
            return False
        if self.ending == 1:
            return word in (":|", ":|2")
        if self.repeat:
            return word == ":|"
        return word in ("|]", "||") or (self.ending == 2 and word == "||")

    def close(self, word: str) -> bool:
        """Close the bar with `word` (an ending `[1`/`[2` may still join it: see _reclose)."""
        if not self.word_ok(word):
            return False
        self.apply(word)
        return True

    def apply(self, word: str) -> None:
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
        if word in CLOSES:
            self.repeat = False
        if word in OPENS:
            self.repeat = True
        if word == "|1":
            self.ending = 1
        elif word == ":|2":
            self.ending = 2
        elif word == ":|" and self.ending == 1:
            self.need_ending2 = True  # `[2` must follow
        elif word != "|" and self.ending == 2:
            self.ending = 0
        if word == "|]" or (self.closing and self.ctx.level < FORM and self.ending == 0 and not self.need_ending2
                            and word != "|" and word not in OPENS):
            self.final = True  # (near the length limit, the bar line that closes everything ends the music;
            # `:|2` closes the repeat but opens the second ending, which needs its bar)
        self.section_bars = 0 if word != "|" else self.section_bars + (0 if opening_only else 1)
        self.end_ok = not (self.chords and self.bar < self.ctx.chord_bar) or opening_only and self.end_ok
        self.bar, self.music, self.accidentals, self.bar_notes, self.bar_prefixes = 0, False, (), 0, 0
        self.tie_ok = self.broken_ok = None
        self.last, self.after_bar = "bar", True
        self.line_bars += not opening_only

    def ending_ok(self, text: str) -> bool:
        """Whether `[1` or `[2` may follow the bar line just written (as `|1`, `:|2`)."""
        if not (self.after_word and self.last == "bar") or self.tie is not None:
            return False  # (a tie into an ending is no tie for abc2midi)
        if text == "[2":
            return self.need_ending2
        if text != "[1" or self.bar_word != "|" or not self.repeat or self.ending != 0:
            return False
        return self.ctx.level < FORM or "|1" in self.ctx.slots[self.slot - 1].words

    def reclose(self, word: str) -> bool:
        """An ending `[1`/`[2` right after a bar line: the bar line was that ending's (`|1`, `:|2`)."""
        if word == ":|2" and self.need_ending2:
            self.need_ending2, self.ending, self.bar_word = False, 2, word
            return True
        if word == "|1" and self.ending_ok("[1"):
            self.ending, self.bar_word = 1, word  # a plain `|` changes no repeat: it opens the first ending now
            return True
        return False

    def can_end(self) -> bool:
        """Whether the tune may end here (at a line's start, after a bar line)."""
        if not (self.line_start and self.last == "newline" and self.notes and self.free() and self.tie is None):
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
