"""How much of a generated tune loops or copies: the repetition score and the longest run copied
verbatim from the training tunes (CopyFinder, a suffix automaton over the training bodies)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

import numpy as np

from abcrnn.notation.tunes import body, split_tagged
from abcrnn.errors import AbcrnnError

SEPARATOR = "\x00"  # joins the training bodies; never in ABC text, so no match spans two tunes


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
