"""A tune's text: the <start>/<end> corpus format, information fields and the header (field_line,
header_fields, header_text, header_complete), the body and its music (body, is_music,
strip_comment, note_letters, keep_fields, renderable), and the meter and unit note length
(meter_length, unit_length).

What the marks of a line of music are is grammar.py's; adding up bars is bars.py's; reading messy
ABC files into tunes is data/reader.py's, which asks this module what the lines it reads are.
"""

from __future__ import annotations

import re
from fractions import Fraction

START, END = "<start>", "<end>"
REQUIRED_FIELDS = ("X", "T", "M", "K")  # L: defaults from M:, so it may be absent

_TAGGED = re.compile(re.escape(START) + r"\n?(.*?)\n?" + re.escape(END), re.S)
# An information field line such as `T: Title`, `+:` continuations included: (key, value).
_FIELD_LINE = re.compile(r"^([A-Za-z+]):[ \t]*(.*)$")
_MUSIC_CHAR = re.compile(r"[A-Ga-gz]")
_ANNOTATIONS = re.compile(r'"[^"]*"|![^!]*!')  # "chord symbols" and !decorations!
# What is not a note letter on a line of music: "annotations", !decorations!, +decorations+,
# {grace notes} and [K:inline fields].
_NON_NOTE_SPANS = re.compile(r'"[^"\n]*"|![^!\n]*!|\+[^+\n]*\+|\{[^}\n]*\}|\[[A-Za-z]:[^\]\n]*\]')


# --- the corpus format -------------------------------------------------------------------------

def join_tagged(tunes: list[str]) -> str:
    """The paper's corpus format: every tune as '<start>\\n…tune…\\n<end>\\n'."""
    return "".join(f"{START}\n{t.strip(chr(10))}\n{END}\n" for t in tunes)


def split_tagged(text: str) -> list[str]:
    """Tunes between complete <start>…<end> pairs, in order (text outside the tags is ignored)."""
    return [m.group(1) for m in _TAGGED.finditer(text)]


# --- fields and the header ---------------------------------------------------------------------

def field_line(line: str) -> tuple[str, str] | None:
    """(key, value) of an information field line (`T: Title` → ('T', 'Title')), else None."""
    m = _FIELD_LINE.match(line)
    return (m.group(1), m.group(2)) if m else None


def is_field(line: str) -> bool:
    """An information field line such as `T:Title` (also `+:` continuations)."""
    return _FIELD_LINE.match(line) is not None


def is_key_line(line: str) -> bool:
    """The K: line, which closes a tune's header (ABC 2.1)."""
    return line.startswith("K:")


def _key_line(lines: list[str]) -> int | None:
    """Index of the first K: line, None if there is none."""
    return next((i for i, line in enumerate(lines) if is_key_line(line)), None)


def strip_comment(line: str) -> str:
    """`line` without its `% …` comment; a % inside a "quoted string" or escaped as \\% is kept."""
    quoted = escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "%" and not quoted:
            return line[:i].rstrip()
    return line


def split_header(lines: list[str]) -> tuple[list[str], list[str]]:
    """(header, music): the header is the run of field, comment and empty lines a tune starts with."""
    for i, line in enumerate(lines):
        if line and not is_field(line) and not line.startswith("%"):
            return lines[:i], lines[i:]
    return lines, []


def header_fields(tune: str, to_key: bool = True) -> dict[str, str]:
    """The information fields of a tune's header, first value wins.

    to_key (ABC 2.1, where K: closes the header): the field lines up to and including the first
    K: line, other lines skipped, values as written; the lines are those body() reads. Otherwise,
    for tunes whose K: may stand anywhere in the header: the field lines of the header split_header
    finds in the tune's "\\n"-separated lines, values without their `% comment`. A `+:` line
    continues the field before it and is no field of its own.
    """
    fields: dict[str, str] = {}
    lines = tune.splitlines() if to_key else split_header(tune.split("\n"))[0]
    for line in lines:
        field = field_line(line)
        if field is None or field[0] == "+":
            continue
        key, value = field
        fields.setdefault(key, value.strip() if to_key else strip_comment(value).strip())
        if to_key and key == "K":
            break
    return fields


def header_complete(tune: str) -> bool:
    """X, T, M and K present in the header (L is optional: ABC derives it from M)."""
    fields = header_fields(tune)
    return all(k in fields for k in REQUIRED_FIELDS)


def header_text(tune: str) -> str | None:
    """The header lines of a tune, up to and including its first K: line (None if it has none)."""
    lines = tune.split("\n")
    k = _key_line(lines)
    return None if k is None else "\n".join(lines[: k + 1])


def body(tune: str) -> str:
    """The music after the first K: line (empty if the tune has no K: line)."""
    lines = tune.splitlines()
    k = _key_line(lines)
    return "" if k is None else "\n".join(lines[k + 1 :])


def keep_fields(tune: str, keep: frozenset[str] | None) -> tuple[str, list[str]]:
    """The tune with only the information field lines whose letter is in `keep` (None: all kept),
    and the letter of each line it dropped, in order (a field's `+:` continuation lines go with it and
    count under its letter).

    Header and body field lines alike (`N:` notes, `Z:` transcriber, `W:`/`w:` lyrics); inline
    fields such as `[K:G]` inside music lines are music and stay.
    """
    if keep is None:
        return tune, []
    kept, removed, dropping = [], [], False
    for line in tune.split("\n"):
        field = field_line(line)
        if field is not None and field[0] == "+":
            if dropping:
                removed.append(removed[-1])  # a continuation line goes, and counts, with its field
            else:
                kept.append(line)
            continue
        dropping = field is not None and field[0] not in keep
        if dropping:
            removed.append(field[0])
        else:
            kept.append(line)
    return "\n".join(kept), removed


# --- lines of music ----------------------------------------------------------------------------

def is_music(line: str) -> bool:
    """A line of tune body with at least one note or rest (not a field, comment or directive)."""
    if not line or line.startswith("%") or is_field(line):
        return False
    return _MUSIC_CHAR.search(_ANNOTATIONS.sub("", line)) is not None


def note_letters(tune: str) -> str:
    """The note letters of the body (A-G, a-g), without chord symbols, decorations and grace notes:
    what two transcriptions of one tune share even when their layout and ornaments differ."""
    lines = tune.split("\n")
    k = _key_line(lines)
    music = [] if k is None else lines[k + 1 :]
    text = "\n".join(line for line in music if not is_field(line) and not line.startswith("%"))
    return "".join(re.findall(r"[A-Ga-g]", _NON_NOTE_SPANS.sub("", text)))


# --- bar lengths -------------------------------------------------------------------------------

_INLINE_INSTRUCTION = re.compile(r"\[I:[^\]\n]*\]")


def renderable(tune: str) -> str:
    """The tune without what could make a renderer read another file, as abc2midi/abcm2ps get it.

    ABC text is untrusted: `%%abc-include FILE`, `%%format FILE`, `%%EPS FILE` and `I:abc-include`
    make abcm2ps and abc2midi read local files into their output. Every `%%` directive line and
    every `I:` instruction (a line, its `+:` continuations, or inline `[I:…]`) is dropped; the notes,
    and every other field, are left as they are.
    """
    kept, dropping = [], False
    for line in tune.split("\n"):
        stripped = line.lstrip()
        if stripped.startswith("+:") and dropping:
            continue
        dropping = stripped.startswith("%%") or bool(re.match(r"I:", stripped))
        cleaned = _INLINE_INSTRUCTION.sub("", line)
        if not dropping and (cleaned.strip() or not line.strip()):  # no new blank line: it would end the tune
            kept.append(cleaned)
    return "\n".join(kept)


def meter_length(meter: str | None) -> Fraction | None:
    """Length of a bar in whole notes: 'C' → 1, 'C|' → 1, '6/8' → 3/4, '2+3/8' → 5/8; None if free."""
    if meter is None:
        return None
    m = meter.strip()
    if m in ("C", "C|"):
        return Fraction(1)
    match = re.match(r"^\(?\s*(\d+(?:\s*\+\s*\d+)*)\s*\)?\s*/\s*(\d+)", m)
    if not match or int(match.group(2)) == 0:
        return None
    top = sum(int(x) for x in match.group(1).split("+"))
    return Fraction(top, int(match.group(2))) if top else None


def unit_length(unit: str | None, meter: Fraction | None) -> Fraction:
    """The L: note length; by default 1/16 for meters below 3/4 and 1/8 otherwise (ABC 2.1)."""
    if unit:
        match = re.match(r"^\s*(\d+)\s*/\s*(\d+)", unit)
        if match and int(match.group(1)) and int(match.group(2)):
            return Fraction(int(match.group(1)), int(match.group(2)))
    return Fraction(1, 16) if meter is not None and meter < Fraction(3, 4) else Fraction(1, 8)
