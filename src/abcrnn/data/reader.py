"""Reading messy ABC files into clean tunes: encodings, line ends, comments, tune boundaries.

A tune runs from its X: line to the first empty line after its music has begun, or to the next X:
line (ABC 2.1 §2.2); text before the first X: (file header) and free text after a tune's empty line
belong to no tune. A kept tune needs an X: line, a K: field in its header and at least one line of
music (a line with a note or rest that is not a field or a comment), and no <start> or <end> text.
What a line is (field, music, comment) is abc.py's to say.

Tag text: the corpus marks tunes with the text `<start>` and `<end>`, so a tune whose own text holds
either (say a lyrics line `W:to the <end> we go`) would be cut short when the corpus is split again.
The reader therefore drops such a tune and counts it as `tag_in_text` rather than editing its words:
no kept tune contains tag text, and every tune in a corpus comes back whole from split_tagged.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from dataclasses import dataclass

from abcrnn.notation.tunes import END, START, field_line, header_fields, is_field, is_key_line, is_music, split_header, strip_comment

COMMENT_MODES = ("strip", "keep")
DROP_REASONS = ("no_music", "fragment", "unreadable", "tag_in_text")

_X_LINE = re.compile(r"^\s*X:")
# Control characters (tab aside), lone surrogates and U+FFFD mark binary or mis-decoded text.
_UNREADABLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufffd]")


@dataclass(frozen=True)
class Tune:
    """One tune as read from a source: its normalised text and the header fields tables show."""

    text: str
    source: str
    index: int  # 1-based position among the tunes read from its source file
    X: str
    title: str
    key: str
    meter: str
    rhythm: str
    removed: str = ""  # field lines corpus.header_fields dropped, e.g. "N:2 Z:1"


def utf16_without_bom(data: bytes) -> str | None:
    """"utf-16-le" or "utf-16-be" when `data` looks like UTF-16 text without a BOM, else None.

    ABC text is mostly ASCII, which UTF-16 writes as a NUL byte beside each character: NULs at many
    odd positions and few even ones (little-endian), or the other way round (big-endian). UTF-8 and
    the 8-bit encodings have no NULs in text, and a binary file has them at both.
    """
    pairs = len(data) // 2
    if pairs < 2:
        return None
    even, odd = data[0 : 2 * pairs : 2].count(0), data[1 : 2 * pairs : 2].count(0)
    if odd >= pairs * 0.4 and even <= odd * 0.1:
        return "utf-16-le"
    if even >= pairs * 0.4 and odd <= even * 0.1:
        return "utf-16-be"
    return None


# Where a tune may start in the bytes of a file (an X: line), and a character UTF-8 spells in several bytes.
_X_LINE_BYTES = re.compile(rb"(?:^|(?<=\r))[ \t]*X:", re.M)
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")
_HIGH_BYTES = bytes(range(0x80, 0x100))


def _mostly_utf8(data: bytes) -> bool:
    """Whether most bytes above ASCII spell characters in UTF-8: a UTF-8 file with a few bad bytes,
    not a Windows-1252 file in which two bytes happen to look like UTF-8."""
    spelled = sum(len(m) for m in _UTF8_SEQUENCE.findall(data))
    return spelled > len(data) - len(data.translate(None, _HIGH_BYTES)) - spelled


def _decode_8bit(data: bytes) -> str:
    """Windows-1252, else Latin-1 (which never fails)."""
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def decode_bytes(data: bytes) -> str:
    """Text of a file in any of the encodings ABC files come in: UTF-8 (with or without BOM),
    UTF-16 with BOM or without (utf16_without_bom), Windows-1252, else Latin-1 (which never fails).

    One bad byte garbles only its own tune. In a UTF-8 file each byte that is not UTF-8 becomes
    U+FFFD, which makes its tune unreadable (dropped and counted); the other tunes keep their text. An
    8-bit file is decoded tune by tune (from each X: line to the next), each as Windows-1252, else
    Latin-1, so one byte that Windows-1252 lacks does not make the whole file Latin-1."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            pass
    encoding = utf16_without_bom(data)
    if encoding:
        if len(data) % 2 and data[-1:] in (b"\n", b"\r", b" ", b"\0"):
            data = data[:-1]  # a stray last byte: an editor's newline, not half a character
        # A bad pair (a lone surrogate, an odd last byte) becomes U+FFFD: its tune counts as unreadable.
        return data.decode(encoding, errors="replace")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if _mostly_utf8(data):
        return data.decode("utf-8", errors="replace")
    starts = [0] + [m.start() for m in _X_LINE_BYTES.finditer(data) if m.start()]
    return "".join(_decode_8bit(data[a:b]) for a, b in zip(starts, starts[1:] + [len(data)]))


def unify_newlines(text: str) -> str:
    """CRLF and lone CR line ends as LF, and no BOM."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _clean_lines(lines: list[str], comments: str) -> list[str]:
    """Whitespace-stripped lines, comments handled per mode, `\\` continuations joined."""
    out: list[str] = []
    for raw in lines:
        line = raw.strip()
        if comments == "strip":
            if line.startswith("%"):
                continue
            if "%" in line:
                line = strip_comment(line)
                if not line:
                    continue
        if out and out[-1].endswith("\\") and line and not is_field(line) and not line.startswith("%"):
            out[-1] = (out[-1][:-1] + line).rstrip()
            continue
        if out and out[-1].endswith("\\"):
            out[-1] = out[-1][:-1].rstrip()
        out.append(line)
    if out and out[-1].endswith("\\"):
        out[-1] = out[-1][:-1].rstrip()
    return out


def _normal_field(line: str) -> str:
    """`T: Title` as `T:Title`: one spelling of every field line."""
    field = field_line(line)
    return f"{field[0]}:{field[1]}" if field else line


def normalise_tune(lines: list[str], comments: str = "strip") -> tuple[str | None, str | None]:
    """(text, None) for a readable tune given as its lines from X: on, else (None, drop reason).

    Lines are stripped, comments handled per `comments`, continuations joined, field lines
    spelled `F:value`, empty lines dropped, and K: moved to close the header (ABC 2.1 order).
    """
    lines = [line for line in _clean_lines(lines, comments) if line]
    lines = [_normal_field(line) if is_field(line) else line for line in lines]
    text = "\n".join(lines)
    if _UNREADABLE.search(text):
        return None, "unreadable"
    if not lines or not lines[0].startswith("X:"):
        return None, "fragment"
    header, music = split_header(lines)
    k = next((i for i, line in enumerate(header) if is_key_line(line)), None)
    if k is None:
        return None, "fragment"
    if not any(is_music(line) for line in music):
        return None, "no_music"
    if START in text or END in text:
        return None, "tag_in_text"
    header = header[:k] + header[k + 1 :] + header[k : k + 1]
    return "\n".join(header + music), None


def _tune_chunks(lines: list[str]) -> list[list[str]]:
    """Lines of each tune: from an X: line to the next X: line or the first empty line after
    its music has begun; everything else is file header or free text."""
    chunks: list[list[str]] = []
    current: list[str] | None = None
    in_music = False
    for line in lines:
        if _X_LINE.match(line):
            current, in_music = [line], False
            chunks.append(current)
        elif current is None:
            continue
        elif not line.strip():
            if in_music:
                current = None
        else:
            current.append(line)
            in_music = in_music or not (is_field(line.strip()) or line.lstrip().startswith("%"))
    return chunks


def _make_tune(text: str, source: str, index: int) -> Tune:
    fields = header_fields(text, to_key=False)
    return Tune(
        text=text,
        source=source,
        index=index,
        X=fields.get("X", ""),
        title=fields.get("T", ""),
        key=fields.get("K", ""),
        meter=fields.get("M", ""),
        rhythm=fields.get("R", ""),
    )


def _read_chunks(chunks: list[list[str]], source: str, comments: str, index: int) -> tuple[list[Tune], Counter]:
    """The tunes among `chunks`, numbered on from `index`, and the drop reasons of the others."""
    tunes: list[Tune] = []
    dropped: Counter = Counter()
    for index, lines in enumerate(chunks, start=index + 1):
        text, reason = normalise_tune(lines, comments)
        if reason:
            dropped[reason] += 1
        else:
            tunes.append(_make_tune(text, source, index))
    return tunes, dropped


# --- text in the corpus format -----------------------------------------------------------------

def is_tag_line(line: str, tag: str) -> bool:
    """A line holding `tag` and nothing else but whitespace: how the corpus format writes its tags."""
    return line.strip() == tag


def is_tagged_text(lines: list[str]) -> bool:
    """Whether text is in the corpus format. A `<start>` line on its own marks it, as join_tagged
    writes it; `<start>` amid other text (lyrics, titles, notes) is tag text in an ABC file, which
    must not turn the file's tunes into one unterminated block."""
    return any(is_tag_line(line, START) for line in lines)


def _tagged_blocks(lines: list[str]) -> list[tuple[list[str], bool]]:
    """(lines, complete) of each block from a `<start>` line to the next `<end>` line; a block cut off
    by the next `<start>` line or the end of the text is incomplete; lines outside blocks are ignored.
    Tag text that is not alone on its line stays in the block, where it makes its tune tag_in_text."""
    blocks: list[tuple[list[str], bool]] = []
    current: list[str] | None = None
    for line in lines:
        if is_tag_line(line, START):
            if current is not None:
                blocks.append((current, False))
            current = []
        elif is_tag_line(line, END) and current is not None:
            blocks.append((current, True))
            current = None
        elif current is not None:
            current.append(line)
    if current is not None:
        blocks.append((current, False))
    return blocks


def read_abc_text(text: str, source: str = "<text>", comments: str = "strip") -> tuple[list[Tune], Counter]:
    """Tunes in `text` and a Counter of drop reasons (see DROP_REASONS); never raises on any text.

    Text with a line that is `<start>` alone is read in the corpus format (is_tagged_text): each
    block from a `<start>` line to an `<end>` line holds one tune (a block without an X: line, or cut
    off before its `<end>` line, counts as a fragment); any other text is read as an ABC file. Tune
    `index` counts every tune read, kept or dropped, from 1.
    """
    if comments not in COMMENT_MODES:
        raise ValueError(f"comments must be one of {COMMENT_MODES}, not {comments!r}")
    lines = unify_newlines(text).split("\n")
    if not is_tagged_text(lines):
        return _read_chunks(_tune_chunks(lines), source, comments, 0)
    tunes: list[Tune] = []
    dropped: Counter = Counter()
    for block, complete in _tagged_blocks(lines):
        read = sum(dropped.values()) + len(tunes)
        chunks = _tune_chunks(block)
        if not chunks or not complete:
            dropped["fragment"] += 1
            continue
        block_tunes, block_dropped = _read_chunks(chunks, source, comments, read)
        tunes += block_tunes
        dropped += block_dropped
    return tunes, dropped


def read_abc_bytes(data: bytes, source: str = "<bytes>", comments: str = "strip") -> tuple[list[Tune], Counter]:
    """read_abc_text on the bytes of a file in any encoding decode_bytes knows."""
    return read_abc_text(decode_bytes(data), source, comments)
