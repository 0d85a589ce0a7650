"""ABC notation helpers shared by every stage: the <start>/<end> corpus format and header fields."""

from __future__ import annotations

import re

START, END = "<start>", "<end>"

_FIELD = re.compile(r"^([A-Za-z]):\s*(.*?)\s*$")
_TAGGED = re.compile(re.escape(START) + r"\n?(.*?)\n?" + re.escape(END), re.S)


def join_tagged(tunes: list[str]) -> str:
    """The paper's corpus format: every tune as '<start>\\n…tune…\\n<end>\\n'."""
    return "".join(f"{START}\n{t.strip(chr(10))}\n{END}\n" for t in tunes)


def split_tagged(text: str) -> list[str]:
    """Tunes between complete <start>…<end> pairs, in order (text outside the tags is ignored)."""
    return [m.group(1) for m in _TAGGED.finditer(text)]


def header_fields(tune: str) -> dict[str, str]:
    """The header's information fields, up to and including the first K: line (first value wins)."""
    fields: dict[str, str] = {}
    for line in tune.splitlines():
        m = _FIELD.match(line)
        if not m:
            if fields.get("K") is not None:
                break
            continue
        key, value = m.group(1), m.group(2)
        fields.setdefault(key, value)
        if key == "K":
            break
    return fields


def body(tune: str) -> str:
    """The music after the first K: line (empty if the tune has no K: line)."""
    lines = tune.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("K:"):
            return "\n".join(lines[i + 1 :])
    return ""
