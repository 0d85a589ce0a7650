"""ABC tokens: the units of ABC music, as folk-rnn's vocabulary has them, for token-level models.

tokenize() cuts a text into pieces that join back into it exactly ("".join(tokenize(t)) == t for
every string). Its rules, in the order they are tried at each place of a line of music:

- the corpus tags `<start>` and `<end>` are one token each, anywhere;
- an inline field `[K:G]`, `[M:3/4]`, `[L:1/16]` is one token (up to 24 characters inside);
- a quoted chord symbol or annotation `"Am7"` is one token when it holds at most 8 characters,
  a longer one falls back to characters (runs of spaces one token); a `% comment` too;
- a decoration `!trill!` (`!D.C.!`, no `|` inside, at most 20 characters) or `+trill+` is one token;
  the one-character decorations `~ . H … W u v` are characters anyway;
- bar lines and repeats are one token each: `|`, `||`, `|]`, `[|`, `|:`, `:|`, `:|:`, `:||:`, `::`,
  with the number of an ending written against them (`|1`, `:|2`, `|1,3`); `[1`, `[2` are a token of
  their own, so `:|[2` is `:|` then `[2`;
- a tuplet `(3`, `(3:2`, `(3:2:3` is one token;
- a pitch is one token with its accidental and octave marks: `^c'`, `_B,,`, `=F`, `^^f`;
- its duration is the next token: `2`, `3/2`, `/2`, `/`, `//`, `3/` (the same after rests and chords);
- broken rhythm `>`, `>>`, `>>>`, `<`, `<<`, `<<<` is one token;
- a run of spaces is one token, and so is each newline;
- everything else is one character: rests `z x Z X`, ties `-`, slurs `(` `)`, chord brackets `[` `]`,
  grace braces `{` `}`, a lone `:`, `\\`, letters that are no pitch.

A line that starts like an information field (`M:6/8`, `T:The Kesh`, `+:` continuations: the
`^[A-Za-z+]:` of abc.py, in the header or the body) is the field token `M:` and its value. For the
fields in WHOLE_VALUE_FIELDS (M, L, K, R, Q, P, X) the value is one token (`6/8`, `1/8`, `Gmaj`,
`slip jig`, the X: number) when it is at most 24 characters, with the spaces around it and any
`% comment` after it as characters; every other field (titles, notes, sources) is free text, spelled
in characters.
"""

from __future__ import annotations

import re
from fractions import Fraction

from abcrnn.notation import grammar
from abcrnn.notation.tunes import END, START

__all__ = [
    "END",
    "START",
    "WHOLE_VALUE_FIELDS",
    "duration_multiplier",
    "is_bar_line",
    "is_broken",
    "is_chord_symbol",
    "is_decoration",
    "is_duration",
    "is_ending",
    "is_field_key",
    "is_inline_field",
    "is_note",
    "is_pitch",
    "is_rest",
    "is_space",
    "is_tag",
    "is_tuplet",
    "tokenize",
]

WHOLE_VALUE_FIELDS = frozenset("MLKRQP")  # values from a small set: one token
MAX_QUOTED = 8       # characters inside "…" for a chord symbol to be one token
MAX_VALUE = 24       # characters of a whole field value (and inside an inline field)

_TAG = f"{re.escape(START)}|{re.escape(END)}"
# The marks of ABC music are grammar.py's; what is one token beyond them is this module's choice.
_PITCH = grammar.PITCH
_DURATION = grammar.DURATION
_BAR = grammar.BAR
_ENDING = grammar.ENDING
_TUPLET = grammar.TUPLET
_BROKEN = grammar.BROKEN
_UNTAGGED = rf"(?!{_TAG})"  # a tag inside a mark splits it: a tag is always a token of its own
_INLINE = rf"\[[A-Za-z]:(?:{_UNTAGGED}[^\]\n]){{0,{MAX_VALUE}}}\]"  # a short inline field
_QUOTED = rf'"(?:{_UNTAGGED}[^"\n]){{0,{MAX_QUOTED}}}"'
_DECORATION = rf"!(?:{_UNTAGGED}[^!|\n]){{1,20}}!|\+[A-Za-z][A-Za-z.]{{1,15}}\+"

# One line of music (no newline in it). Group `text` is spelled in characters by _plain().
_MUSIC = re.compile(
    rf"""(?P<tag>{_TAG})
    |(?P<inline>{_INLINE})
    |(?P<quoted>{_QUOTED})
    |(?P<text>"[^"\n]*"|%.*)
    |(?P<decoration>{_DECORATION})
    |(?P<bar>{_BAR})
    |(?P<ending>{_ENDING})
    |(?P<tuplet>{_TUPLET})
    |(?P<pitch>{_PITCH})
    |(?P<duration>{_DURATION})
    |(?P<broken>{_BROKEN})
    |(?P<space>\ +)
    |(?P<char>.)""",
    re.VERBOSE | re.DOTALL,
)
_PLAIN = re.compile(rf"{_TAG}| +|.", re.DOTALL)  # free text: tags, runs of spaces, characters
_FIELD = re.compile(r"[A-Za-z+]:")
_VALUE = re.compile(r"([ \t]*)([^\s%](?:[^%\n]*[^\s%])?)?")


def tokenize(text: str) -> list[str]:
    """The ABC tokens of `text`, a partition of it: "".join(tokenize(text)) == text."""
    out: list[str] = []
    lines = text.split("\n")
    last = len(lines) - 1
    for k, line in enumerate(lines):
        if line:
            if _FIELD.match(line):
                _field(line, out)
            else:
                _music(line, out)
        if k < last:
            out.append("\n")
    return out


def _music(line: str, out: list[str]) -> None:
    append = out.append
    for m in _MUSIC.finditer(line):
        if m.lastgroup == "text":
            out.extend(_PLAIN.findall(m.group()))
        else:
            append(m.group())


def _plain(text: str, out: list[str]) -> None:
    out.extend(_PLAIN.findall(text))


def _field(line: str, out: list[str]) -> None:
    out.append(line[:2])
    rest = line[2:]
    if line[0] in WHOLE_VALUE_FIELDS and rest:
        m = _VALUE.match(rest)
        value = m.group(2)
        if value and len(value) <= MAX_VALUE and "<" not in value:  # "<": a tag stays a token
            _plain(m.group(1), out)
            out.append(value)
            _plain(rest[m.end():], out)
            return
    _plain(rest, out)


# --- what a token is -----------------------------------------------------------------------------

_is_bar = grammar.full(_BAR)
_is_ending = grammar.full(rf"{_ENDING}|:{{0,3}}\[?\|{{1,2}}\]?:{{0,3}}{grammar.ENDING_NUMBER}")
_is_duration = grammar.full(_DURATION)
_is_pitch = grammar.full(_PITCH)
_is_tuplet = grammar.full(_TUPLET)
_is_broken = grammar.full(_BROKEN)
_is_field_key = grammar.full(r"[A-Za-z+]:")
_is_inline = grammar.full(_INLINE)
_is_quoted = grammar.full(_QUOTED)
_is_decoration = grammar.full(_DECORATION)


def is_tag(token: str) -> bool:
    """`<start>` or `<end>`."""
    return token in (START, END)


def is_bar_line(token: str) -> bool:
    """A bar line or repeat (`|`, `||`, `|]`, `[|`, `|:`, `:|`, `::`, `:|2` …), not `[2` alone."""
    return bool(_is_bar(token))


def is_ending(token: str) -> bool:
    """The start of a numbered ending: `[1`, `[2`, `|1`, `:|2`, `|1,3`."""
    return bool(_is_ending(token))


def is_duration(token: str) -> bool:
    """A note length: `2`, `3/2`, `/2`, `/`, `//`."""
    return bool(_is_duration(token))


def duration_multiplier(token: str) -> Fraction:
    """How many L: units a duration token stands for: '3/2' → 3/2, '/' → 1/2, '//' → 1/4, '2' → 2."""
    if not is_duration(token):
        raise ValueError(f"not a duration token: {token!r}")
    return grammar.multiplier(token)


def is_pitch(token: str) -> bool:
    """A note: `c`, `^c'`, `_B,,`, `=F` (its duration is the next token)."""
    return bool(_is_pitch(token))


def is_rest(token: str) -> bool:
    """A rest: `z`, `x` (invisible) or the multi-bar `Z`, `X`."""
    return token in ("z", "x", "Z", "X")


def is_note(token: str) -> bool:
    """A pitch or a rest: what a following duration token lengthens."""
    return is_pitch(token) or is_rest(token)


def is_tuplet(token: str) -> bool:
    """`(3`, `(3:2`, `(3:2:3`."""
    return bool(_is_tuplet(token))


def is_broken(token: str) -> bool:
    """Broken rhythm: `>`, `>>`, `<`, `<<` …"""
    return bool(_is_broken(token))


def is_field_key(token: str) -> bool:
    """The key of a field line: `M:`, `K:`, `T:`, `+:`."""
    return bool(_is_field_key(token))


def is_inline_field(token: str) -> bool:
    """A field amid the music: `[K:G]`, `[M:3/4]`."""
    return bool(_is_inline(token))


def is_chord_symbol(token: str) -> bool:
    """A short quoted chord symbol or annotation: `"Am7"`, `"D"`."""
    return bool(_is_quoted(token))


def is_decoration(token: str) -> bool:
    """A long-form decoration `!trill!` or `+trill+`, or one of the one-character ones (`~ . H … W u v`)."""
    return bool(_is_decoration(token)) or (len(token) == 1 and token in "~.HIJKLMNOPQRSTUVWuv")


def is_space(token: str) -> bool:
    """A run of spaces or a newline."""
    return token == "\n" or (token != "" and token.strip(" ") == "")
