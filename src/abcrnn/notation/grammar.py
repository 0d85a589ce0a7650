"""The ABC grammar abcrnn reads and writes: the one definition of what the marks of a line of music
are and what they mean.

Everything that reads or writes ABC music builds on this module: the bar reader (bars.py) and the
note reader (melody.py) read lines through `lex`; the tokenizer (tokens.py) cuts text into the same
lexemes at a finer grain (a note's pitch and its length are two tokens there); the grammar-aware
decoders (generation/constrain/) follow a tune being written with the same patterns and meanings.

Two layers:

* patterns: the regular expressions of ABC's marks, as text (so that larger patterns are built
  from them) — PITCH, LENGTH, DURATION, BAR, ENDING, TUPLET, BROKEN, INLINE_FIELD, CHORD_SYMBOL …;
* meanings: how long a length is (`multiplier`), what a tuplet does to the notes after it
  (`tuplet_ratio`), what broken rhythm does to a pair of notes (`broken_factors`), what a bar line
  does to repeats and endings (`BarLine`).

`lex(line)` reads a line of music into lexemes, in the order the bar reader needs them: spans
(annotations, !decorations!, {grace notes}) and inline fields first, then chords, bar lines,
tuplets, notes, rests, broken rhythm, ties and overlays; anything else is one character. A span
whose closer is missing on the line is no span: its opener is read as one character and what
follows as music, as abc2midi reads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

# --- patterns ------------------------------------------------------------------------------------
ACCIDENTAL = r"\^{1,2}|_{1,2}|="
NOTE_LETTER = r"[A-Ga-g]"
OCTAVE = r"[',]*"
PITCH = rf"(?:{ACCIDENTAL})?{NOTE_LETTER}{OCTAVE}"
# A note's length as written after it: '2', '3/2', '/', '//', '/4', '3/' (3/2), '/2/2' (1/4);
# empty: one unit.
DURATION = r"\d+(?:/\d*)*|(?:/\d*)+"
LENGTH = rf"(?:{DURATION})?"
REST = r"[zx]"
MULTI_REST = r"[ZX]\d*"
ENDING_NUMBER = r"\d+(?:[,-]\d+)*"
# A bar line or repeat sign, with the number of an ending written against it: |  ||  |]  [|  |:  :|
# ::  :|:  :||:  |1  :|2  |1,3; also the `|:|` and `|||` some transcriptions write.
BAR = rf":{{0,3}}\[?\|+\]?(?::{{1,3}}\|+\]?)*:{{0,3}}(?:{ENDING_NUMBER})?|:{{2,3}}"
ENDING = rf"\[{ENDING_NUMBER}"  # [1, [2: an ending that stands apart from its bar line
TUPLET = r"\(\d+(?::\d*){0,2}"  # (3  (3:2  (3:2:3
BROKEN = r">{1,3}|<{1,3}"
INLINE_FIELD = r"\[([A-Za-z]):([^\]\n]*)\]"
# A chord symbol as abc2midi and abcm2ps understand it: a root A-G, a chord name abc2midi knows, and an
# added bass note ("Am", "D7/F#"); abc2midi stops with an error at any other name ("Cmin", "C2").
CHORD_NAMES = ("", "m", "7", "m7", "maj7", "M7", "dim", "dim7", "aug", "aug7", "sus", "sus4", "sus2", "7sus4", "6",
               "m6", "9", "m9", "maj9", "11", "m7b5", "+", "5")
CHORD_SYMBOL = rf'"[A-G][#b]?(?:{"|".join(re.escape(n) for n in sorted(CHORD_NAMES, key=len, reverse=True))})' \
               r'(?:/[A-G][#b]?)?"'
# Spans the readers skip: annotations and chord symbols, decorations, grace notes (opener: closer).
SPANS = {'"': '"', "!": "!", "{": "}"}
LONGEST_DECORATION = 40  # a !…! over this many characters (or holding a |) is no decoration

_NOTE = re.compile(rf"({ACCIDENTAL})?({NOTE_LETTER})({OCTAVE})({DURATION})?")
_REST = re.compile(rf"{REST}({DURATION})?")
_LENGTH = re.compile(LENGTH)
_BAR = re.compile(BAR)
_ENDING = re.compile(rf"\s*\[?({ENDING_NUMBER})")
_TUPLET = re.compile(TUPLET)
_BROKEN = re.compile(BROKEN)
_INLINE_FIELD = re.compile(INLINE_FIELD)
_MULTI_REST = re.compile(MULTI_REST)
_PITCH = re.compile(rf"({ACCIDENTAL})?({NOTE_LETTER})({OCTAVE})")
_ANNOTATIONS = re.compile(r'"[^"]*"|![^!]*!')


def full(pattern: str):
    """A function telling whether a whole string is one `pattern` (for a vocabulary's symbols)."""
    return re.compile(rf"(?:{pattern})\Z").match


# --- meanings ------------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def multiplier(length: str) -> Fraction:
    """How many units a length written after a note stands for: '' → 1, '3/2' → 3/2, '/' → 1/2,
    '//' → 1/4, '3/' → 3/2, '/4' → 1/4 (a malformed '/0' counts as '/')."""
    digits = re.match(r"\d*", length).group()
    value = Fraction(int(digits)) if digits else Fraction(1)
    for part in length[len(digits):].split("/")[1:]:
        value /= int(part) if part and int(part) else 2
    return value


def tuplet_ratio(p: int, q: str | None, r: str | None, meter: Fraction | None) -> tuple[Fraction, int]:
    """(factor on each note's length, number of notes it applies to) of a tuplet `(p:q:r`: p notes in
    the time of q (by default 3 in the time of 2, 2 and 4 in the time of 3 and of 3, 6 in 2, 8 in 3,
    the others in 2, or in 3 in a compound meter); r notes are affected (default p)."""
    compound = meter is not None and meter.numerator % 3 == 0 and meter.numerator > 3
    q_value = int(q) if q else {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(p, 3 if compound else 2)
    return (Fraction(q_value, p) if p else Fraction(1)), (int(r) if r else p)


def broken_factors(run: str) -> tuple[Fraction, Fraction]:
    """The factors broken rhythm puts on the note before and the note after it: a>b is 3/2 and 1/2,
    a>>b 7/4 and 1/4, a<b 1/2 and 3/2 (the pair keeps its length)."""
    shorter = Fraction(1, 2 ** len(run))
    return (2 - shorter, shorter) if run[0] == ">" else (shorter, 2 - shorter)


@dataclass(frozen=True)
class BarLine:
    """What a bar line (as lexed: its sign, and the ending it opens, if any) does."""
    text: str

    @property
    def sign(self) -> str:
        """The bar line without its ending number: ':|' of ':| [2'."""
        return re.sub(rf"\s*\[?{ENDING_NUMBER}$", "", self.text.strip())

    @property
    def plain(self) -> bool:
        """A plain `|`: no section line, repeat or ending."""
        return self.text.strip() == "|"

    @property
    def closes_repeat(self) -> bool:
        return self.sign.startswith(":") or "::" in self.sign

    @property
    def opens_repeat(self) -> bool:
        return self.sign.endswith(":") or "::" in self.sign

    @property
    def ending(self) -> int | None:
        """The ending it opens: '|1' → 1, ':|2' → 2, '| [2' → 2; None for none."""
        m = re.search(r"(\d+)", self.text)
        return int(m.group(1)) if m else None

    @property
    def section(self) -> bool:
        """Any bar line but a plain `|` or a plain bar line that opens an ending: `||`, `|]`, repeats."""
        return self.sign not in ("|", "")


# --- the lexer -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Lexeme:
    """One mark of a line of music, `line[start:end]`.

    kind: "span" (an "annotation", a !decoration! or {grace notes}: `text[0]` tells which),
    "field" (inline [K:…]: key, value), "chord" ([ceg]2: the inside, the length after it), "bar",
    "ending" ([1), "tuplet" (p, q, r), "note" (accidental, letter, octave, length), "rest" (length),
    "multirest", "broken", "tie", "overlay", "slur" (an opening `(` that is no tuplet), or "char"
    (anything else: spaces, `)`, decorations such as `~` and `.`, stray marks).
    """
    kind: str
    start: int
    end: int
    parts: tuple = ()


def lex(line: str) -> list[Lexeme]:
    """The lexemes of one line of music (a field line, a comment or a tag is no line of music)."""
    out, i, n = [], 0, len(line)
    while i < n:
        lexeme = lexeme_at(line, i)
        out.append(lexeme)
        i = lexeme.end
    return out


def lexeme_at(s: str, i: int) -> Lexeme:
    """The lexeme that starts at s[i]."""
    c = s[i]
    if c in SPANS:
        end = s.find(SPANS[c], i + 1)
        if end < 0 or (c == "!" and ("|" in s[i:end] or end - i > LONGEST_DECORATION)):
            return Lexeme("char", i, i + 1)  # unclosed, or '!' used as an old line break
        return Lexeme("span", i, end + 1)
    if c == "[":
        m = _INLINE_FIELD.match(s, i)
        if m:
            return Lexeme("field", i, m.end(), (m.group(1), m.group(2)))
        if s.startswith("[|", i):
            return _bar(s, i)
        m = re.compile(ENDING).match(s, i)
        if m:
            return Lexeme("ending", i, m.end())
        end = s.find("]", i + 1)
        if end < 0:
            return Lexeme("char", i, i + 1)
        m = _LENGTH.match(s, end + 1)
        return Lexeme("chord", i, m.end(), (s[i + 1 : end], m.group()))
    if c in "|:" or (c == "]" and _BAR.match(s, i + 1)):
        return _bar(s, i)
    if c == "(":
        m = _TUPLET.match(s, i)
        if m:
            p, q, r = (m.group()[1:].split(":") + ["", ""])[:3]
            return Lexeme("tuplet", i, m.end(), (int(p), q or None, r or None))
        return Lexeme("slur", i, i + 1)
    m = _NOTE.match(s, i)
    if m:
        return Lexeme("note", i, m.end(), (m.group(1) or "", m.group(2), m.group(3), m.group(4) or ""))
    m = _REST.match(s, i)
    if m:
        return Lexeme("rest", i, m.end(), (m.group(1) or "",))
    if c in "ZX":
        return Lexeme("multirest", i, _MULTI_REST.match(s, i).end())
    if c in "<>":
        return Lexeme("broken", i, _BROKEN.match(s, i).end())
    if c == "-":
        return Lexeme("tie", i, i + 1)
    if c == "&":
        return Lexeme("overlay", i, i + 1)
    return Lexeme("char", i, i + 1)


def _bar(s: str, i: int) -> Lexeme:
    """A bar line at i, with an ending written after it (`| [2`, `:|2`); a lone `:` is a character."""
    m = _BAR.match(s, i + (s[i] == "]"))  # a stray `]` joins the bar line after it
    if not m:
        return Lexeme("char", i, i + 1)
    end = m.end()
    if not re.search(r"\d$", m.group()):
        ending = _ENDING.match(s, end)
        if ending:
            end = ending.end()
    return Lexeme("bar", i, end)


def chord_note(inside: str) -> re.Match | None:
    """The first note of a chord's inside (annotations and decorations in it skipped): its pitch
    and length groups, as _NOTE has them."""
    return _NOTE.search(_ANNOTATIONS.sub("", inside))


def chord_pitches(inside: str) -> list[tuple[str, str, str]]:
    """(accidental, letter, octave) of every note of a chord's inside."""
    return _PITCH.findall(inside)
