"""How valid are generated tunes? Header, rendering, notes, bar lengths, endings, dead loops, copying.

Per tune: a complete header, a MIDI rendering without abc2midi errors, enough notes, the share of
bars whose length matches the meter, whether the sample reached <end>, a repetition score that
catches the "dead loops" of argmax sampling, and (given the training split) the longest run of
the tune's music copied verbatim from a training tune. One summary row per sample directory (a
run's samples at one temperature), in the order given, then the same measures on test-set tunes.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .abc import body, header_fields, split_tagged
from .errors import AbcrnnError
from .fileio import atomic_path, read_tsv, write_tsv

REQUIRED_FIELDS = ("X", "T", "M", "K")  # L: defaults from M:, so it may be absent
BASELINE = "test-set"
# `samples` is the directory the tunes came from: it tells apart two groups of one run and temperature
# (the best run's samples and the same run's among all runs) and locates each tune's `file`
TUNE_COLUMNS = ["temperature", "run", "file", "header_complete", "renders_ok", "notes", "has_notes", "errors",
                "warnings", "bars", "bars_match_meter", "ended", "repetition", "message", "longest_copy", "copied",
                "samples"]
SUMMARY_COLUMNS = ["temperature", "run", "tunes", "header_complete", "renders_ok", "has_notes", "mean_errors",
                   "mean_warnings", "bars_match_meter", "ended", "repetition", "mean_notes", "longest_copy", "copied",
                   "samples"]
NOVELTY_COLUMNS = ("longest_copy", "copied")  # blank unless --train is given
PLOTTED = {  # column: legend label
    "header_complete": "complete header",
    "renders_ok": "renders without errors",
    "has_notes": "has notes",
    "bars_match_meter": "bars match meter",
    "ended": "reached <end>",
    "repetition": "repeated-loop share (lower is better)",
    "copied": "longest copied run (share of body; lower = more novel)",
}
LOWER_IS_BETTER = {"repetition", "copied"}  # hatched in the plot
SEPARATOR = "\x00"  # joins the training bodies; never in ABC text, so no match spans two tunes


# --- header ------------------------------------------------------------------------------------

def header_complete(tune: str) -> bool:
    """X, T, M and K present in the header (L is optional: ABC derives it from M)."""
    fields = header_fields(tune)
    return all(k in fields for k in REQUIRED_FIELDS)


# --- bar lengths -------------------------------------------------------------------------------

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


_NOTE = re.compile(r"(?:\^{1,2}|_{1,2}|=)?([A-Ga-g])[',]*(\d*)((?:/\d*)*)")
_REST = re.compile(r"[zx](\d*)((?:/\d*)*)")
_LENGTH = re.compile(r"(\d*)((?:/\d*)*)")
_BAR = re.compile(r"(?:\[\||[|:\]])+(?:\s*\[?\d+(?:[,-]\d+)*)?")
_TUPLET = re.compile(r"\((\d+)(?::(\d*))?(?::(\d*))?")
_MULTI_REST = re.compile(r"[ZX]\d*")
_BROKEN = re.compile(r">+|<+")
_INLINE = re.compile(r"\[([A-Za-z]):([^\]]*)\]")
_FIELD_LINE = re.compile(r"^([A-Za-z]):(.*)$")
_SKIP_SPANS = {'"': '"', "!": "!", "{": "}"}  # annotations, decorations, grace notes


def _multiplier(digits: str, slashes: str) -> Fraction:
    """'3/2' → 3/2, '/' → 1/2, '//' → 1/4, '' → 1 (a malformed '/0' counts as '/')."""
    value = Fraction(int(digits)) if digits else Fraction(1)
    for part in slashes.split("/")[1:]:
        value /= int(part) if part and int(part) else 2
    return value


@dataclass
class Bar:
    length: Fraction
    meter: Fraction | None
    music: bool          # holds a note or rest
    full_rest: bool      # a multi-bar rest (Z, X) fills its bars by definition
    left: str            # the bar line that opens it: "|" plain, "||" section, "" tune start
    right: str           # the bar line that closes it; "" at the tune's end


class _BarReader:
    """A small ABC body scanner that adds up note lengths between bar lines."""

    def __init__(self, meter: Fraction | None, unit: Fraction, unit_given: bool):
        self.meter, self.unit, self.unit_given = meter, unit, unit_given
        self.bars: list[Bar] = []
        self._new_bar("")
        self.tuplet_left, self.tuplet_factor = 0, Fraction(1)
        self.last_note, self.next_factor = None, Fraction(1)

    def _new_bar(self, left: str) -> None:
        self.length, self.music, self.full_rest, self.overlay, self.left = Fraction(0), False, False, False, left
        self.last_note = None

    def close_bar(self, line: str) -> None:
        kind = "|" if line.strip() == "|" else "||"
        self.bars.append(Bar(self.length, self.meter, self.music, self.full_rest, self.left, kind if line else ""))
        self._new_bar(kind)

    def field(self, key: str, value: str) -> None:
        if key == "M":
            self.meter = meter_length(value)
            if not self.unit_given:
                self.unit = unit_length(None, self.meter)
        elif key == "L":
            self.unit, self.unit_given = unit_length(value, self.meter), True

    def add(self, duration: Fraction) -> None:
        """One note, rest or chord of `duration` whole notes (before tuplets and broken rhythm)."""
        if self.tuplet_left:
            duration *= self.tuplet_factor
            self.tuplet_left -= 1
        duration *= self.next_factor
        self.next_factor = Fraction(1)
        self.music = True
        if not self.overlay:
            self.length += duration
            self.last_note = duration

    def broken(self, run: str) -> None:
        """a>b: a is lengthened by half (>> three quarters …) and b shortened to match."""
        shorter = Fraction(1, 2 ** len(run))
        first, second = (2 - shorter, shorter) if run[0] == ">" else (shorter, 2 - shorter)
        if self.last_note is not None and not self.overlay:
            self.length += self.last_note * (first - 1)
        self.next_factor = second

    def tuplet(self, p: int, q: str | None, r: str | None) -> None:
        compound = self.meter is not None and self.meter.numerator % 3 == 0 and self.meter.numerator > 3
        default_q = {2: 3, 3: 2, 4: 3, 6: 2, 8: 3}.get(p, 3 if compound else 2)
        q_value = int(q) if q else default_q
        if p and q_value:
            self.tuplet_factor, self.tuplet_left = Fraction(q_value, p), int(r) if r else p

    def feed(self, text: str) -> None:
        """Read one line of music (bars, tuplets and ties carry on to the next line)."""
        i = 0
        while i < len(text):
            i = self._step(text, i)

    def finish(self) -> list[Bar]:
        if self.music:
            self.close_bar("")
        return self.bars

    def _step(self, s: str, i: int) -> int:
        c = s[i]
        if c in _SKIP_SPANS:
            end = s.find(_SKIP_SPANS[c], i + 1)
            if end < 0 or (c == "!" and ("|" in s[i:end] or end - i > 40)):
                return i + 1  # unclosed, or '!' used as an old line break
            return end + 1
        if c == "[":
            m = _INLINE.match(s, i)
            if m:
                self.field(m.group(1), m.group(2))
                return m.end()
            if s.startswith("[|", i):
                return self._bar_line(s, i)
            if i + 1 < len(s) and s[i + 1].isdigit():
                return i + 1  # a variant ending [1, [2 starts no new bar
            return self._chord(s, i)
        if c in "|:" or c == "]":
            return self._bar_line(s, i)
        if c == "(":
            m = _TUPLET.match(s, i)
            if m:
                self.tuplet(int(m.group(1)), m.group(2), m.group(3))
                return m.end()
            return i + 1
        m = _NOTE.match(s, i) or _REST.match(s, i)
        if m:
            digits, slashes = m.groups()[-2:]
            self.add(self.unit * _multiplier(digits, slashes))
            return m.end()
        if c in "ZX":
            self.music = self.full_rest = True
            return _MULTI_REST.match(s, i).end()
        if c in "<>":
            m = _BROKEN.match(s, i)
            self.broken(m.group(0))
            return m.end()
        if c == "&":
            self.overlay = True  # a second voice in this bar: only the first is measured
        return i + 1

    def _bar_line(self, s: str, i: int) -> int:
        m = _BAR.match(s, i)
        if not m:
            return i + 1
        token = m.group(0)
        if "|" not in token and "::" not in token:
            return m.end()  # a stray ':' or ']'
        self.close_bar(token)
        return m.end()

    def _chord(self, s: str, i: int) -> int:
        end = s.find("]", i + 1)
        if end < 0:
            return i + 1
        inner = re.sub(r'"[^"]*"|![^!]*!', "", s[i + 1 : end])
        first = _NOTE.search(inner)
        m = _LENGTH.match(s, end + 1)
        if first:
            self.add(self.unit * _multiplier(*first.groups()[-2:]) * _multiplier(*m.groups()))
        return m.end()


def bar_lengths(tune: str) -> list[Bar]:
    """The bars of a tune's body with their summed note lengths (whole notes)."""
    fields = header_fields(tune)
    meter = meter_length(fields.get("M"))
    reader = _BarReader(meter, unit_length(fields.get("L"), meter), bool(fields.get("L")))
    for line in body(tune).split("\n"):
        line = line.split("%", 1)[0].rstrip().rstrip("\\")
        field = _FIELD_LINE.match(line)
        if field:  # a field line between music lines (M:, L:, w: lyrics, P: …)
            reader.field(field.group(1), field.group(2))
        else:
            reader.feed(line + " ")
    return reader.finish()


def bar_check(tune: str) -> tuple[int, float]:
    """(bars judged, share of them whose length equals the meter).

    Short bars at the start, the end and beside section or repeat lines are pickups and not
    judged; a tune without a meter, or without bars to judge, scores NaN.
    """
    bars = [b for b in bar_lengths(tune) if b.music]
    judged = matched = 0
    for k, bar in enumerate(bars):
        if bar.meter is None:
            continue
        if bar.full_rest or bar.length == bar.meter:
            judged, matched = judged + 1, matched + 1
            continue
        edge = k == 0 or k == len(bars) - 1 or "||" in (bar.left, bar.right)
        if bar.length < bar.meter and edge:
            continue
        judged += 1
    return judged, (matched / judged if judged else math.nan)


# --- repetition --------------------------------------------------------------------------------

def repetition(tune: str, min_period: int = 2, min_repeats: int = 3, min_chars: int = 12) -> float:
    """Share of the body (whitespace removed) that lies inside loops: stretches where one cycle of
    period >= min_period repeats at least min_repeats times over at least min_chars characters.

    Argmax sampling's "dead loops" ('B2 B2 | B2 B2 | B2 B2 |', or a whole phrase over and over)
    score near 1; real tunes, whose repeats are written with repeat signs, near 0. Tunes without a
    K: line are measured whole.
    """
    text = re.sub(r"\s+", "", body(tune) or tune)
    n = len(text)
    if n < max(min_chars, min_period * min_repeats):
        return 0.0
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    covered = np.zeros(n + 1, dtype=np.int64)  # +1 at each loop's start, -1 after its end
    for p in range(min_period, n // min_repeats + 1):
        starts, ends = _true_runs(codes[:-p] == codes[p:])
        spans = ends - starts + p  # a run of k matches at distance p is a periodic stretch of k + p
        keep = (spans >= min_repeats * p) & (spans >= min_chars)
        np.add.at(covered, starts[keep], 1)
        np.add.at(covered, ends[keep] + p, -1)
    return float((np.cumsum(covered[:n]) > 0).mean())


def _true_runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) indices of the runs of True in a boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([0], mask.astype(np.int8), [0]))))
    return edges[0::2], edges[1::2]


# --- novelty -----------------------------------------------------------------------------------

class CopyFinder:
    """The longest run of a text that occurs verbatim in any of a set of training texts.

    A suffix automaton of the training texts joined by SEPARATOR (built in linear time), scanned
    once per query: the matching-statistics walk follows a transition while the run extends and a
    suffix link (which drops the run's oldest characters) when it cannot.
    """

    def __init__(self, texts: Iterable[str]):
        # a SEPARATOR inside a text is a boundary too
        joined = SEPARATOR.join(piece for text in texts for piece in text.split(SEPARATOR))
        self.next: list[dict[str, int]] = [{}]  # transitions of each state
        self.link: list[int] = [-1]             # suffix link
        self.length: list[int] = [0]            # longest string that reaches the state
        last = 0
        for ch in joined:
            last = self._extend(last, ch)

    def _extend(self, last: int, ch: str) -> int:
        """Add one character (the classic online construction); returns the new last state."""
        nxt, link, length = self.next, self.link, self.length
        cur = len(length)
        nxt.append({})
        link.append(0)
        length.append(length[last] + 1)
        p = last
        while p != -1 and ch not in nxt[p]:
            nxt[p][ch] = cur
            p = link[p]
        if p == -1:
            return cur
        q = nxt[p][ch]
        if length[p] + 1 == length[q]:
            link[cur] = q
            return cur
        clone = len(length)  # split q so that every state keeps one set of end positions
        nxt.append(dict(nxt[q]))
        link.append(link[q])
        length.append(length[p] + 1)
        while p != -1 and nxt[p].get(ch) == q:
            nxt[p][ch] = clone
            p = link[p]
        link[q] = link[cur] = clone
        return cur

    def longest_copy(self, text: str) -> int:
        """Length of the longest substring of `text` found in one of the training texts."""
        nxt, link, length = self.next, self.link, self.length
        state = run = best = 0
        for ch in text:
            if ch == SEPARATOR:
                state = run = 0
                continue
            while state and ch not in nxt[state]:
                state = link[state]
                run = length[state]
            if ch in nxt[state]:
                state, run = nxt[state][ch], run + 1
                best = max(best, run)
            else:
                state = run = 0
        return best


def novelty(tune: str, finder: CopyFinder) -> tuple[int, float]:
    """(longest_copy, copied) of a tune's body: the longest run of it found verbatim in a
    training body, in characters and as a share of the body (0 for an empty body)."""
    music = body(tune)
    longest = finder.longest_copy(music)
    return longest, (longest / len(music) if music else 0.0)


def load_training(path) -> CopyFinder:
    """A CopyFinder over the bodies of the tunes of a training split (<start>…<end> format)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AbcrnnError(f"--train {path}: not found (the training split, e.g. results/data/train.txt)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AbcrnnError(f"--train {path}: cannot read it as UTF-8 text ({exc})") from None
    tunes = split_tagged(text)
    if not tunes:
        raise AbcrnnError(f"--train {path}: no <start>…<end> tunes in it")
    return CopyFinder(body(t) for t in tunes)


# --- tables ------------------------------------------------------------------------------------

def _flag(value: str) -> bool | None:
    return {"True": True, "False": False, "1": True, "0": False}.get(str(value).strip())


def _number(value: str, default=0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _read_table(path: Path, needed: list[str], hint: str) -> list[dict[str, str]]:
    if not path.exists():
        raise AbcrnnError(f"{path}: not found ({hint})")
    rows = read_tsv(path)
    missing = [c for c in needed if rows and c not in rows[0]]
    if missing:
        raise AbcrnnError(f"{path}: missing column(s) {', '.join(missing)}")
    return rows


def tune_rows(directory, label: str, run: str, min_notes: int, baseline: bool = False,
              finder: CopyFinder | None = None) -> list[dict]:
    """One row per rendered tune in a directory (render.tsv, and samples.tsv for generated tunes);
    longest_copy and copied are measured against `finder` and left blank without one."""
    directory = Path(directory)
    renders = _read_table(directory / "render.tsv", ["file", "midi_ok", "notes", "errors", "warnings"],
                          f"run `abcrnn render --dir {directory}` first")
    ended = {}
    if not baseline:
        samples = _read_table(directory / "samples.tsv", ["file", "ended"], "not an `abcrnn sample` directory")
        ended = {r["file"]: _flag(r["ended"]) for r in samples}
    rows = []
    for r in renders:
        if _flag(r["midi_ok"]) is None:
            raise AbcrnnError(f"{directory / 'render.tsv'}: {r['file']} has no MIDI result (rendered with --no-midi?)")
        try:
            tune = (directory / r["file"]).read_text(encoding="utf-8")
        except OSError as exc:
            raise AbcrnnError(f"{directory / r['file']}: cannot read the tune ({exc.strerror})") from None
        bars, share = bar_check(tune)
        longest, copied = novelty(tune, finder) if finder else (None, None)
        notes = int(_number(r["notes"]))
        rows.append({
            "temperature": label, "run": run, "file": r["file"],
            "header_complete": header_complete(tune),
            "renders_ok": bool(_flag(r["midi_ok"])),
            "notes": notes, "has_notes": notes >= min_notes,
            "errors": int(_number(r["errors"])), "warnings": int(_number(r["warnings"])),
            "bars": bars, "bars_match_meter": share,
            "ended": True if baseline else bool(ended.get(r["file"], False)),
            "repetition": repetition(tune),
            "message": r.get("message", ""),
            "longest_copy": longest, "copied": copied,
            "samples": str(directory),
        })
    return rows


@dataclass(frozen=True)
class SampleSet:
    """One group of the table: a run's tunes at one temperature label, or the test-set baseline."""
    run: str
    label: str
    directory: str


def summarize(rows: list[dict], groups: list[SampleSet]) -> list[dict]:
    """One row per group (in the given order): fractions and means over its tunes."""
    frame = pd.DataFrame(rows, columns=TUNE_COLUMNS)
    out = []
    for group in groups:
        part = frame[(frame["temperature"] == group.label) & (frame["run"] == group.run)
                     & (frame["samples"] == group.directory)]
        out.append({
            "temperature": group.label, "run": group.run, "tunes": len(part),
            "header_complete": _mean(part["header_complete"]),
            "renders_ok": _mean(part["renders_ok"]),
            "has_notes": _mean(part["has_notes"]),
            "mean_errors": _mean(part["errors"]),
            "mean_warnings": _mean(part["warnings"]),
            "bars_match_meter": _mean(part["bars_match_meter"]),
            "ended": _mean(part["ended"]),
            "repetition": _mean(part["repetition"]),
            "mean_notes": _mean(part["notes"]),
            **{c: _mean(part[c]) if part[c].notna().any() else "" for c in NOVELTY_COLUMNS},
            "samples": group.directory,
        })
    return out


def _mean(column: pd.Series) -> float:
    values = pd.to_numeric(column, errors="coerce").astype(float).dropna()
    return float(values.mean()) if len(values) else math.nan


def plot_blocks(summary: list[dict]) -> list[list[dict]]:
    """The summary rows split into one block per run's set of temperatures, the test-set rows
    appended to each block so that every block is read beside the baseline.

    A block ends where the run changes or a temperature comes back (the best run's samples
    followed by the same run's samples among all runs)."""
    baseline = [row for row in summary if row["temperature"] == BASELINE]
    blocks: list[list[dict]] = []
    for row in summary:
        if row["temperature"] == BASELINE:
            continue
        block = blocks[-1] if blocks else []
        if not block or row["run"] != block[0]["run"] or any(r["temperature"] == row["temperature"] for r in block):
            blocks.append([row])
        else:
            block.append(row)
    return [block + baseline for block in blocks] or [baseline]


def _block_title(block: list[dict], repeated: bool) -> str:
    """The run's name; where the run has several blocks, also where its samples are."""
    run = block[0]["run"]
    return f"{run}\nsamples in {Path(block[0]['samples']).parent}/" if repeated else run


def plot_validity(summary: list[dict], path) -> None:
    """Grouped bars: each validity measure per temperature, the test-set tunes last for comparison;
    one panel per run when the summary holds several runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    blocks = plot_blocks(summary)
    # a measure that was not taken (novelty without --train) is blank in every row: no bar for it
    plotted = {c: name for c, name in PLOTTED.items() if any(row.get(c, "") != "" for row in summary)}
    width = max(7.0 if len(blocks) == 1 else 9.0, 1.6 * max(len(block) for block in blocks) + 3)
    fig, axes = plt.subplots(len(blocks), 1, squeeze=False, sharey=True, layout="constrained",
                             figsize=(width, 1.6 + 3.0 * len(blocks)))
    runs = [block[0]["run"] for block in blocks]
    for ax, block in zip(axes[:, 0], blocks):
        _plot_block(ax, block, plotted)
        if len(blocks) > 1:
            ax.set_title(_block_title(block, runs.count(block[0]["run"]) > 1), fontsize="medium", loc="left")
    if len(blocks) == 1:
        run = blocks[0][0]["run"]
        axes[0, 0].set_title("Validity of generated tunes" + (f" ({run})" if run else ""))
    else:
        fig.suptitle("Validity of generated tunes per run")
    axes[-1, 0].set_xlabel("sampling temperature")
    handles, names = axes[0, 0].get_legend_handles_labels()
    # the longest legend entries need about 11 inches in four columns
    fig.legend(handles, names, fontsize="small", ncol=min(4 if width >= 11 else 2, len(plotted)),
               loc="outside lower center", frameon=False)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    plt.close(fig)


def _plot_block(ax, block: list[dict], plotted: dict[str, str]) -> None:
    labels = [row["temperature"] for row in block]
    x = np.arange(len(labels))
    width = 0.8 / len(plotted)
    for k, (column, name) in enumerate(plotted.items()):
        values = [_number(row.get(column, ""), math.nan) for row in block]
        ax.bar(x + (k - (len(plotted) - 1) / 2) * width, np.nan_to_num(values, nan=0.0), width, label=name,
               hatch="///" if column in LOWER_IS_BETTER else None, edgecolor="white", linewidth=0)
    ax.set_xticks(x, [("test-set\n(baseline)" if lab == BASELINE else f"T = {lab}" if lab != "argmax" else "argmax")
                      for lab in labels])
    ax.set_xlim(-0.5, len(labels) - 0.5)
    if BASELINE in labels:
        ax.axvline(labels.index(BASELINE) - 0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("mean over tunes (0–1)")
    ax.grid(axis="y", alpha=0.3)


def _sample_set(spec: str) -> tuple[str | None, str, Path]:
    """'RUN:LABEL=DIR' or 'LABEL=DIR' → (run or None, label, directory)."""
    head, sep, directory = spec.partition("=")
    run, colon, label = head.rpartition(":")
    if not sep or not label or not directory or (colon and not run):
        raise AbcrnnError(f"--samples: expected [RUN:]LABEL=DIR (e.g. 0.5=results/samples/0.5 or "
                          f"lstm-h150:0.5=results/samples/runs/lstm-h150/0.5), got {spec!r}")
    return (run if colon else None), label, Path(directory)


def default_run(args) -> str:
    """The run of LABEL=DIR samples: --run, or the `run` of --best-run's first row."""
    if args.run or not args.best_run:
        return args.run
    best = _read_table(Path(args.best_run), ["run"], "the best-run table, e.g. results/tables/best_run.tsv")
    return best[0]["run"] if best else ""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="abcrnn validity",
                                description="Validity table and plot of generated tunes per run and temperature.")
    p.add_argument("--samples", nargs="+", required=True, metavar="[RUN:]LABEL=DIR",
                   help="sample directories (with samples.tsv and render.tsv), labelled by temperature and "
                        "optionally by run (else --run / --best-run); one table row each, in this order")
    p.add_argument("--baseline", metavar="DIR",
                   help="rendered test-set tunes (abcrnn render --from-tagged), row 'test-set'")
    p.add_argument("--train", metavar="TXT",
                   help="training split (<start>…<end> tunes): adds longest_copy and copied, the longest run of "
                        "each tune's body found verbatim in a training tune's body")
    p.add_argument("--min-notes", metavar="N", type=int, default=8,
                   help="a tune has music with at least this many notes")
    p.add_argument("--run", metavar="NAME", default="", help="run name for LABEL=DIR samples")
    p.add_argument("--best-run", metavar="TSV", help="or take that run name from best_run.tsv")
    p.add_argument("--out", metavar="TSV", default="results/tables/sample_validity.tsv", help="summary table")
    p.add_argument("--tunes-out", metavar="TSV", help="per-tune table (default: beside --out, sample_tunes.tsv)")
    p.add_argument("--plot", metavar="PNG", help="bar chart of the summary, one panel per run (PNG)")
    return p


def main_validity(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    specs = [_sample_set(s) for s in args.samples]
    run = default_run(args) if any(r is None for r, _, _ in specs) else args.run
    groups = [SampleSet(run if r is None else r, label, str(directory)) for r, label, directory in specs]
    if BASELINE in [g.label for g in groups]:
        raise AbcrnnError(f"--samples: {BASELINE!r} is the baseline's label; label samples by temperature")
    repeated = sorted({f"{g.run}:{g.label}={g.directory}" for g in groups if groups.count(g) > 1})
    if repeated:
        raise AbcrnnError(f"--samples: given more than once: {', '.join(repeated)}")
    finder = load_training(args.train) if args.train else None
    rows = []
    for g in groups:
        rows += tune_rows(g.directory, g.label, g.run, args.min_notes, finder=finder)
    if args.baseline:
        rows += tune_rows(args.baseline, BASELINE, "", args.min_notes, baseline=True, finder=finder)
        groups.append(SampleSet("", BASELINE, str(Path(args.baseline))))
    summary = summarize(rows, groups)
    write_tsv(args.out, summary, SUMMARY_COLUMNS)
    tunes_out = Path(args.tunes_out) if args.tunes_out else Path(args.out).with_name("sample_tunes.tsv")
    write_tsv(tunes_out, rows, TUNE_COLUMNS)
    if args.plot:
        plot_validity(summary, args.plot)
    print(f"abcrnn validity: {len(rows)} tunes in {len(groups)} groups -> {args.out}, {tunes_out}", file=sys.stderr)
    return 0


main = main_validity
