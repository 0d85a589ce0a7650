"""What a candidate symbol does to the bar being sampled, found cheaply: a probe that notes which
steps of a text act on the reader, and the ways (cached reader states) to a candidate's faults
(constrain.py uses them; barstate.py has the reader)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fractions import Fraction


from abcrnn.notation.tunes import (
    _NOTE,
    _REST,
    END,
)

from abcrnn.generation.constrain.state import (  # noqa: F401
    _BODY, _HOLD, _HOLDS, _Reader, _Stream, _canonical, _open_span, _open_step,
)

if TYPE_CHECKING:
    from abcrnn.generation.constrain.meter import MeterConstraint


class _Probe(_Reader):
    """A reader that only notes whether it was asked to do anything. Which steps a text has, and
    which of them act on the reader (add a note, close a bar, set a field …), depend on the text
    alone (and the closers barred on its line), never on the reader's state."""

    def __init__(self, barred: str = ""):
        super().__init__(Fraction(1), Fraction(1, 8), True)
        self.prov, self.acted, self.barred = True, False, barred

    def add(self, duration: Fraction, token: str = "") -> None:
        self.acted = True

    def close_bar(self, line: str) -> None:
        self.acted = True

    def field(self, key: str, value: str) -> None:
        self.acted = True

    def tuplet(self, p: int, q: str | None, r: str | None) -> None:
        self.acted = True

    def broken(self, run: str) -> None:
        self.acted = True

    def each(self, s: str) -> list[tuple[int, int, bool]]:
        """The steps of s: (start, end, whether it acted)."""
        out, i = [], 0
        while i < len(s):
            self.acted = self.music = self.full_rest = self.overlay = False
            end = self._step(s, i)
            out.append((i, end, self.acted or self.music or self.full_rest or self.overlay))
            i = end
        return out

    def steps(self, s: str, until: int) -> tuple[int, bool]:
        """Read s while steps start before `until`: (where the next step starts, whether one acted)."""
        i = 0
        while i < until:
            self.music = self.full_rest = self.overlay = False
            i = self._step(s, i)
            self.acted = self.acted or self.music or self.full_rest or self.overlay
        return i, self.acted


def _is_note(text: str) -> bool:
    """One note or rest with its duration (`c`, `^c'2`, `z/`), and nothing else."""
    m = _NOTE.match(text) or _REST.match(text)
    return m is not None and m.end() == len(text) > 0


def _acts(text: str) -> bool:
    """Whether reading `text` as more of a line of music could change a bar (rather than skip it,
    or open a span, chord or field still to be closed)."""
    if text == "\n":
        return False
    if "\n" in text or ">" in text:
        return True
    return _Probe().steps(text, len(text))[1]


class _Ways:
    """The cheap ways to a candidate's faults in one state of a stream in mid-line.

    With nothing still being read, a symbol that does not act (_acts) leaves the faults as they
    are, and the faults of another are those of the same reader state anywhere (cached by state).
    With a token still being read, a symbol that starts a step of its own after it (as a _Probe
    finds on the texts alone) comes after a token that did nothing (`(`, `^`), so it counts from
    the state before that token, or after a token that acted (`c2`, `|`), so it counts from the
    state after that token (the same whatever follows it, but for a `[` after a bar line)."""

    def __init__(self, owner: MeterConstraint, stream: _Stream, limit: tuple):
        self.owner, self.stream, self.tables, self.limit = owner, stream, owner._tables, limit
        # At a line's start, only what starts a field line (`M:`) or <end> is read there; the rest
        # is read as in mid-line.
        self.start = not stream.cut and not stream.line
        direct = stream.cut or not (stream.commit or self.start)
        self.pending = None if direct else stream.line[stream.commit:]
        self.before = self.after = self.lone = self.last = None
        # Inside a span still open, a symbol that neither closes it, nor holds a bar line, line
        # end, comment or `>` (of <end>), nor keeps it open too long, changes nothing.
        self.span = _open_span(self.pending, stream.reader.barred) if self.pending else ""
        self.stops = self.span + "|\n%>"
        self.hold = _HOLDS.get(self.span, _HOLD)

    def _state(self, reader: _Reader, bad: int = 0) -> tuple:
        """A stream in `reader`'s state with nothing still being read, its ids (and those of the
        state with no closer barred, for the symbols that hold none), and faults so far."""
        fresh = _Stream()
        line = self.stream.line or " "  # (in mid-line)
        fresh.phase, fresh.line, fresh.commit, fresh.cut, fresh.reader = _BODY, line, len(line), False, reader
        ids, nid = self.tables.rid(reader), self.tables.nid(reader)
        if reader.barred:
            free = reader.copy()
            free.barred = ""
            return fresh, ids, bad, self.tables.rid(free), reader.barred, nid
        return fresh, ids, bad, ids, "", nid

    def _lone(self) -> _Ways:
        """The ways of the stream as it is with the open span's opener read alone, and barred."""
        if self.lone is None:
            owner, stream = self.owner, self.stream
            lone = _Stream()
            lone.phase, lone.line, lone.commit, lone.cut = _BODY, stream.line, stream.commit + 1, False
            lone.reader = stream.reader.copy()
            lone.reader.scratch()
            if self.span != "!":
                lone.reader.barred += self.span
            lone.key = owner._key(lone)
            self.lone = _Ways(owner, lone, owner._run(lone, "").rank())
        return self.lone

    def _before(self) -> tuple:
        """The state before the text still being read (which has done nothing, or is a span)."""
        if self.before is None:
            reader = self.stream.reader.copy()
            reader.scratch()
            self.before = self._state(reader)
        return self.before

    def _from(self, state: tuple, i: int) -> tuple:
        """The faults of symbol i read afresh in a state (cached by state)."""
        owner = self.owner
        return self._cached(state, owner._texts[i], owner._neutral[i], i in owner._broken, owner._canon[i],
                            owner._notes[i])

    def _from_text(self, state: tuple, text: str) -> tuple:
        neutral = self.owner._neutral_text(text)
        return self._cached(state, text, neutral, "<" in text or ">" in text, _canonical(text), _is_note(text))

    def _cached(self, state: tuple, text: str, neutral: bool, broken: bool, canon: str, note: bool) -> tuple:
        fresh, (rid, rid2), bad, free, barred, nid = state
        if barred and not any(c in text for c in barred):
            rid, rid2 = free
        if neutral or note:  # nothing, or one note: what counts is the bar's length and its notes'
            key = (nid, None if neutral else canon)
        else:  # only `<` and `>` read the last note's length
            key = (rid if broken else rid2, self.stream.key[3], canon)
        rank = self.tables.fresh.get(key)
        if rank is None:
            rank = self.tables.fresh[key] = self.owner._run(fresh, "" if neutral else text).rank()
        return rank[0] + bad, rank[1]

    def rank(self, i: int) -> tuple:
        owner, pending = self.owner, self.pending
        if self.span and self.span != "]":
            text, closer = owner._texts[i], self.span
            j = text.find(closer)
            head = text if j < 0 else text[: j + 1]
            if ">" in head:
                pass  # (<end>?) read it all
            elif j < 0 and len(pending) + len(text) <= self.hold and not any(c in text for c in self.stops):
                return self.limit  # still inside the span
            elif j >= 0 and "\n" not in head and "%" not in head and (
                    closer != "!" or ("|" not in head and len(pending) + j <= 40)):
                # the span closes, and counts for nothing: the rest is read as after no span
                return self._from_text(self._before(), text[j + 1 :])
            else:  # the opener is read alone, as it is after a line end, comment, bar line, or
                return self._lone().rank(i)  # too long a wait: as in the stream past it
        if pending is None:
            return owner._run(self.stream, owner._texts[i]).rank()
        if pending == "":
            if self.start:
                text = owner._texts[i]
                if text[1:2] == ":" or text[:1] == "<" or END in text:
                    return owner._run(self.stream, text).rank()
            return self._from(self._before(), i)
        text = owner._texts[i]
        start, acted = self._steps(text)
        if start == len(pending):
            if not acted:
                return self._from(self._before(), i)
            if text != "[" or not any(c in pending for c in "|:]"):  # (`|[2` is one bar line)
                if self.after is None:
                    self.after = False
                    if self._steps(" ")[0] == len(pending):
                        reader = self.stream.reader.copy()
                        reader.scratch()
                        reader.prov = True
                        reader.read(pending + " ")
                        bad = reader.bad
                        reader.scratch()
                        self.after = self._state(reader, bad)
                if self.after:
                    return self._from(self.after, i)
        line = self.stream.line
        if END not in line + text and END not in line + pending + text:  # the same reading,
            return self._from_text(self._before(), pending + text)  # cached by state and text
        return owner._run(self.stream, text).rank()

    def _steps(self, text: str) -> tuple[int, bool]:
        """_Probe.steps for the text still being read and `text` after it. Where that text is
        several steps, all but the last over for good, only the last is probed with `text`."""
        barred, pending = self.stream.reader.barred, self.pending
        if self.last is None:
            self.last = (0, False)
            if len(pending) > 1:
                steps = _Probe(barred).each(pending)
                if len(steps) > 1 and not any(
                        _open_step(pending, a, b) or pending[a] in "|:]" or pending.startswith("[|", a)
                        for a, b, _ in steps[:-1]):
                    self.last = (steps[-1][0], any(acted for _, _, acted in steps[:-1]))
        start, acted_before = self.last
        key = (self.stream.key[2][start:], text, barred)
        found = self.tables.structure.get(key)
        if found is None:
            found = self.tables.structure[key] = _Probe(barred).steps(pending[start:] + text, len(pending) - start)
        return start + found[0], found[1] or acted_before
