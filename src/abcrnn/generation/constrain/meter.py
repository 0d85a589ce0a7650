"""Meter-aware decoding (`sample.constrain: meter`): while tunes are sampled, mask the symbols that
would make a bar of the tune body disagree with its meter.

MeterConstraint follows each stream's text the way abc.read_body and abc.bar_check read a
finished tune (it reads with a subclass of abc.BarReader), and allows a candidate symbol unless the
text with it appended holds a fault more than the text without it:

* a bar closed short: a plain `|` after a bar that holds less than the meter, where bar_check
  judges it: not the tune's first bar with music (a pickup), nor a bar opened or closed by a
  section or repeat line (`||`, `|:`, `:|`, `|]`, `::`, `[|`, `|1` …: any bar line but `|`);
* a bar that holds more than the meter (never allowed, pickups and section lines included);
* the tune's end (`<end>`) while the current bar holds music but is not full;
* a bar, out of a tuplet, whose length leaves the grid of a quarter of the unit note length
  (`A/3`): its remainder only odd durations fill, and a bar chasing it with `A/`, `A//` … may never
  be completed. Real tunes all but never leave this grid.

Only the body (after the header's K: line) is constrained; the header is free; bars while the meter
is free (M:none) are not judged; inline [M:…]/[L:…] fields and body M:/L: lines change meter and
unit as in the reader. Faults already in the text (the prime's, or after a fallback) are no reason
to mask anything: only new ones are.

Symbols are vocabulary strings: single characters (`<end>` then arrives as five characters after
a newline: the `<` at a line start counts as the tune's end) or multi-character ABC tokens (`^c'`,
`3/2`, `|:`, `[K:G]`, the one-symbol `<end>` …). Text still being written counts for what it can
still become: a note letter may stand while the bar has room even if a unit note would not fit (a
`/` may follow), but a duration digit that makes it overflow is masked, and so is whatever ends
the note as written; in a character vocabulary a lone `|` after a short bar may stand, as `||`,
`|]`, `|:`, `|1` may follow, but the next symbol must make it one of those (where `||`, `:|` …
are symbols of their own, a `|` symbol is a plain bar line). An open "annotation", {grace notes},
!decoration!, [chord or [M:inline field] counts as what it is once closed; one left open for more
than 24 characters (40 for `!`, as in the reader) is read as the reader reads an unclosed one, as
music, and its closer is masked for the rest of the line.

Speed: a stream's state is the reader's state at the start of the token still being written, and
that token's text (letters that behave alike made one). Mask rows are cached per state; a new
state tries only the symbols that can change a bar (notes, rests, durations, bar lines, chords,
tuplets, broken rhythm, spans, line ends, the end), one of each set of equivalent symbols, and most
of them through what is cached for the reader state before or after the token being written.
Caches live as long as the process, per vocabulary (clear_tables() forgets them); a stream's mask
depends on its own text alone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch

from abcrnn.notation.tunes import (
    _BAR,
    END,
    START,
    header_fields,
    is_key_line,
    meter_length,
    unit_length,
)

from abcrnn.generation.constrain.ways import _Ways, _acts, _is_note  # noqa: F401
from abcrnn.generation.constrain.state import (  # noqa: F401
    CONSTRAIN_MODES, _TABLES, _ACTIVE, _AMBIG, _BAR_TAIL, _BODY, _CANON, _ENDED, _FIELD, _FIELD_OPEN, _HEADER, _HOLD, _HOLDS, _MUSIC, _Reader, _Result, _SHORTCUTS, _Stream, _TAG, _Tables, _canonical, _finish_line, _line_kind, _mid_bar, _off_grid, _open_step, _step_done,
)


def clear_tables() -> None:
    """Forget what constraints have cached: those made afterwards start afresh (masks are the same
    either way, only slower to come)."""
    _TABLES.clear()


class MeterConstraint:
    """Masks for meter-aware sampling of n streams over a vocabulary of symbol strings.

    symbols: the vocabulary (vocab.symbols), index 0 being <unk>, which is never allowed.
    primes: each stream's text so far (normally "<start>\\n" and a header).

    Each step: `mask()`, (n, V) bool with True = allowed (the same tensor until the next advance),
    then `advance(ids)` with the symbols chosen (list or tensor of n ids). A stream with no symbol
    allowed gets every symbol but <unk> allowed for that step, so sampling never stalls:
    `fallbacks` counts such stream-steps (`fallbacks_per_stream()` per stream). `masked` counts
    the stream-steps where the mask disallowed at least one symbol. Streams in the header, or past
    <end> (`ended`), are not constrained.
    """

    def __init__(self, symbols: Sequence[str], primes: Sequence[str]):
        self.symbols = list(symbols)
        self.size = len(self.symbols)
        self._texts = ["", *self.symbols[1:]]
        self._tags = END not in self.symbols  # <end> spelt out character by character
        # Where `||`, `|]`, `:|` … are symbols of their own, a `|` symbol is a plain bar line.
        self._defer = not any(len(s) > 1 and _BAR.fullmatch(s) for s in self.symbols[1:])
        self._active = [i for i in range(1, self.size) if _ACTIVE.intersection(self._texts[i])
                        or START in self._texts[i] or END in self._texts[i]]
        self._breaks = [i for i in range(1, self.size) if "\n" in self._texts[i] or END in self._texts[i]]
        self._every = list(range(1, self.size))
        self._broken = {i for i in self._every if "<" in self._texts[i] or ">" in self._texts[i]}
        self._canon = [_canonical(s) for s in self._texts]
        self._longest = max(map(len, self._texts))
        self._neutral = [False, *(not _acts(s) for s in self._texts[1:])]
        self._notes = [_is_note(s) for s in self._texts]
        self._neutrals: dict[str, bool] = {}
        self._all = torch.ones(self.size, dtype=torch.bool)
        if self.size > 1:
            self._all[0] = False
        self._tables = _TABLES.setdefault(tuple(self.symbols), _Tables())
        self.fallbacks = 0
        self.masked = 0
        self.streams = [_Stream() for _ in primes]
        for stream, prime in zip(self.streams, primes):
            self._append(stream, prime)
        self._mask: torch.Tensor | None = None

    # --- the caller's interface -------------------------------------------------------------
    def mask(self) -> torch.Tensor:
        """(n, V) bool: the symbols each stream may take next (computed once per step)."""
        if self._mask is None:
            self._tables.trim()
            rows, table = [], self._tables.rows
            for stream in self.streams:
                if stream.phase != _BODY:
                    rows.append(self._all)
                    continue
                key = self._row_key(stream.key)
                entry = table.get(key)
                if entry is None:
                    entry = table[key] = self._row(stream, key)
                row, empty, restricts = entry
                if empty:
                    self.fallbacks += 1
                    stream.fallbacks += 1
                    rows.append(self._all)
                else:
                    self.masked += restricts
                    rows.append(row)
            self._mask = torch.stack(rows) if rows else torch.ones(0, self.size, dtype=torch.bool)
        return self._mask

    def advance(self, ids) -> None:
        """Append each stream's chosen symbol (a list or tensor of n ids)."""
        if isinstance(ids, torch.Tensor):
            ids = ids.reshape(-1).tolist()
        if len(ids) != len(self.streams):
            raise ValueError(f"advance: got {len(ids)} ids for {len(self.streams)} streams")
        for stream, i in zip(self.streams, ids):
            if stream.phase == _BODY:
                self._step(stream, int(i))
            elif stream.phase == _HEADER:
                self._append_header(stream, self._texts[int(i)])
        self._mask = None

    def allows(self, stream: int, symbol: str) -> bool:
        """Whether vocabulary symbol `symbol` is allowed next in stream `stream`."""
        return bool(self.mask()[stream, self.symbols.index(symbol)])

    def _neutral_text(self, text: str) -> bool:
        neutral = self._neutrals.get(text)
        if neutral is None:
            neutral = self._neutrals[text] = not _acts(text)
        return neutral

    def fallbacks_per_stream(self) -> list[int]:
        """For each stream, how many of its steps had no allowed symbol (and allowed every one)."""
        return [s.fallbacks for s in self.streams]

    @property
    def ended(self) -> list[bool]:
        """Which streams have reached <end>."""
        return [s.phase == _ENDED for s in self.streams]

    # --- following the text -----------------------------------------------------------------
    def _append(self, stream: _Stream, text: str) -> None:
        if stream.phase == _HEADER:
            self._append_header(stream, text)
        elif stream.phase == _BODY:
            self._append_body(stream, text)

    def _append_header(self, stream: _Stream, text: str) -> None:
        total = stream.line + text
        end = total.find(END)
        parts = (total if end < 0 else total[:end]).split("\n")
        for k, part in enumerate(parts[:-1]):
            if START in part:
                stream.header, part = [], part[part.rindex(START) + len(START):]
            stream.header.append(part)
            if is_key_line(part):  # the header is complete: the body starts on the next line
                fields = header_fields("\n".join(stream.header))
                meter = meter_length(fields.get("M"))
                stream.reader = _Reader(meter, unit_length(fields.get("L"), meter), bool(fields.get("L")))
                stream.reader.can_defer = self._defer
                stream.phase, stream.line, stream.commit, stream.cut = _BODY, "", 0, False
                rest = "\n".join(parts[k + 1 :]) + ("" if end < 0 else total[end:])
                self._append_body(stream, rest)
                return
        if end >= 0:
            stream.phase = _ENDED
        stream.line = parts[-1]

    def _step(self, stream: _Stream, i: int) -> None:
        """Append vocabulary symbol i to a body stream, as the same state did before if it can."""
        text, steps = self._texts[i], self._tables.steps
        key = (stream.key, i)
        known = steps.get(key)
        if known is None:
            old_commit = stream.commit
            self._append_body(stream, text)
            if stream.phase == _ENDED:
                known = (None, False, 0, False)
            else:
                newline = "\n" in text
                known = (stream.reader, newline, stream.commit if newline else stream.commit - old_commit, stream.cut)
            steps[key] = known
            return
        reader, newline, commit, cut = known
        if reader is None:
            stream.phase = _ENDED
            return
        line = stream.line + text
        if newline:
            stream.line, stream.commit = line[line.rindex("\n") + 1 :], commit
        else:
            stream.line, stream.commit = line, stream.commit + commit
        stream.reader, stream.cut = reader, cut
        stream.key = self._key(stream)

    def _append_body(self, stream: _Stream, text: str) -> None:
        if "\n" in text and text != "\n":  # line by line, as if written symbol by symbol
            for piece in re.split("(\n)", text):
                if piece and stream.phase == _BODY:
                    self._append_body(stream, piece)
            return
        res = self._run(stream, text, snap=True)
        if res.ended:
            stream.phase = _ENDED
            return
        if res.snaps:  # go on reading from the start of the token that may still grow
            s, snaps = res.pending, res.snaps
            k = j = len(snaps) - 1
            ends = [p for p, _ in snaps[1:]] + [len(s)]
            while j >= 0 and _BAR_TAIL.issuperset(s[snaps[j][0] : ends[j]]):
                j -= 1
            if 0 <= j < k and (s[snaps[j][0]] in "|:]" or s.startswith("[|", snaps[j][0])):
                k = j  # `| [` … may still become one bar line
            for u in range(k + 1):  # a `"`, `{` or `[` still open: a closer later in the line
                closer = _open_step(s, snaps[u][0], ends[u])  # would make one span (or chord) of it all
                if closer and closer not in snaps[u][1].barred:
                    if len(s) - snaps[u][0] > _HOLDS.get(closer, _HOLD):
                        # Waited long enough: no closer may come on this line now, so that what
                        # has been read as music since stays music.
                        stream.reader = stream.reader.copy()
                        stream.reader.barred += closer
                        self._append_body(stream, text)
                        return
                    k = u
                    break
        stream.line, stream.cut, stream.commit, stream.reader = res.line, res.cut, res.commit, res.reader
        if res.snaps:
            if k == len(snaps) - 1 and _step_done(s[snaps[k][0]:]):
                stream.commit += len(s)  # res.reader has read it all
            else:
                stream.commit += snaps[k][0]
                stream.reader = snaps[k][1]
        stream.reader.scratch()
        stream.key = self._key(stream)

    def _key(self, stream: _Stream) -> tuple:
        """The state of a body stream, as far as masks and steps go: the reader's state, and the text
        still being read (with equivalent letters made one where no field is being written)."""
        rid, rid2 = self._tables.rid(stream.reader)
        line = stream.line
        tail = 0  # how much of <end> the line ends with, where it is spelt out
        if self._tags and "<" in line[-4:]:
            tail = next((k for k in (4, 3, 2, 1) if line.endswith(END[:k])), 0)
        if stream.cut:
            return rid, 0, "", tail, rid2
        text = line[stream.commit:]
        start = stream.commit == 0
        exact = (start and (text[1:2] == ":" or (self._tags and text[:1] == "<"))) or (
            "[" in text and _FIELD_OPEN.search(text) is not None)  # a field, or <end>, being written
        return rid, 1 + start + 2 * exact, text if exact else text.translate(_CANON), tail, rid2

    @staticmethod
    def _row_key(key: tuple) -> tuple:
        """A state's key for its mask row: the key, less accidentals that start the text still being
        read in mid-line (`^c2` allows what `c2` allows; steps still need them, as lengths differ)."""
        if key[1] == 1 and key[2][:1] in "^_=" and key[2]:
            return key[0], 1, key[2].lstrip("^_="), key[3], key[4]
        return key

    def _run(self, stream: _Stream, text: str, snap: bool = False) -> _Result:
        """Read `text` appended to a body stream (the stream is left as it is)."""
        r = stream.reader.copy()
        r.scratch()
        line, commit, cut = stream.line, stream.commit, stream.cut
        res = _Result()
        res.snaps, res.pending, res.sensitive, res.ended, res.kind = None, "", False, False, _MUSIC
        if commit and not cut and "\n" not in text and ">" not in text:
            line += text  # more of a line of music (no <end> can be complete without a `>`)
            kind = _MUSIC
        else:
            total = line + text
            end = total.find(END) if "<" in total else -1
            if end >= 0:
                total = total[:end]
            *done, line = total.split("\n")
            for part in done:
                _finish_line(r, part, commit, cut)
                commit, cut = 0, False
            if end >= 0:
                if end >= commit or done:
                    _finish_line(r, line, commit, cut)
                # else: <end> spelt out in mid-line, over text already read as music: judged as it stands
                res.ended, res.bad, res.over = True, r.bad + _mid_bar(r), 0
                return res
            kind = res.kind = _line_kind(line, self._tags)
        if kind == _TAG:  # as if the tune ended here
            res.reader, res.line, res.commit, res.cut = r, line, 0, False
            res.bad, res.over, res.sensitive = r.bad + _mid_bar(r), 0, True
            return res
        over = 0
        if kind in (_MUSIC, _AMBIG) and not cut:
            pct = line.find("%", commit)
            if pct >= 0:  # a comment: the line's music is complete
                r.prov = False
                r.read(line[commit:pct] + " ")
                cut = True
            else:
                s = line[commit:]
                r.prov = True
                snaps = [] if snap and kind == _MUSIC else None
                base = r.copy() if snap and kind == _AMBIG else None
                i = last = 0
                while i < len(s):
                    if snaps is not None:
                        snaps.append((i, r.copy()))
                    last = i
                    i = r._step(s, i)
                r.prov = False
                meter, tolerated = r.meter, False
                if meter is not None and not r.full_rest and r.length > meter:
                    if s and r.note_at == last and r.note_free and r.note_before < meter:
                        tolerated = True  # a note that must still be shortened (`A` → `A/`)
                    else:
                        over = r.length - meter
                # (and any symbol that takes an open span past its wait has its contents read as music)
                res.sensitive = tolerated or r.deferred or r.open_len + self._longest > r.open_hold
                res.bad, res.over = r.bad + (over > 0) + (not tolerated and _off_grid(r)), over
                res.line, res.commit, res.cut = line, commit, False
                res.snaps, res.pending = snaps, s
                res.reader = base if base is not None else r
                return res
        res.reader, res.line, res.commit, res.cut = r, line, commit, cut
        if kind == _FIELD:  # a field line counts as the field it will be once the line ends
            r = r.copy()
            _finish_line(r, line, 0, False)
        meter = r.meter
        if meter is not None and not r.full_rest and r.length > meter:
            over = r.length - meter
        res.bad, res.over = r.bad + (over > 0) + _off_grid(r), over
        return res

    # --- masks --------------------------------------------------------------------------------
    def _row(self, stream: _Stream, key: tuple) -> tuple[torch.Tensor, bool, bool]:
        """(allowed, nothing allowed, something disallowed) for a body stream's state (key: _row_key)."""
        _, kind, text, tail, rid2 = key
        broken = self._broken
        if kind <= 2 and not tail and "<" not in text and ">" not in text:
            # Only symbols with `<` or `>` read the last note's length: the rest of the row is
            # shared by the states that differ in it alone.
            main = self._tables.mains.get((rid2, kind, text))
            if main is None:
                limit, tried = self._tried(stream)
                allowed = self._judge(stream, [i for i in tried if i not in broken], limit)
                main = self._tables.mains[(rid2, kind, text)] = allowed, limit, [i for i in tried if i in broken]
            allowed, limit, tried = main
            allowed = self._judge(stream, tried, limit, list(allowed))
        else:
            limit, tried = self._tried(stream)
            allowed = self._judge(stream, tried, limit)
        barred = stream.reader.barred
        if barred:
            for i, text in enumerate(self._texts):
                if any(closer in text for closer in barred):
                    allowed[i] = False
        count = sum(allowed)
        return torch.frombuffer(bytearray(allowed), dtype=torch.bool), count == 0, count < self.size - 1

    def _tried(self, stream: _Stream) -> tuple[tuple, list[int]]:
        """The faults of a stream's state as it stands, and the symbols that may add to them."""
        base = self._run(stream, "")
        if not _SHORTCUTS:
            return base.rank(), self._every
        if stream.cut or (base.kind == _FIELD and stream.line[:1] not in "ML"):
            return base.rank(), self._breaks  # only a line end or the tune's end can matter now
        if base.kind == _FIELD:  # M: or L: being written
            return base.rank(), self._every
        return base.rank(), self._every if base.sensitive else self._active

    def _judge(self, stream: _Stream, tried: list[int], limit: tuple, allowed: list[bool] | None = None) -> list[bool]:
        """Disallow the symbols in `tried` that would add to the faults `limit` (one symbol for each
        set of equivalent ones, unless a field or <end> is being written)."""
        if allowed is None:
            allowed = [i > 0 for i in range(self.size)]
        texts, canon = self._texts, self._canon
        if stream.key[1] > 2 or not _SHORTCUTS:
            # A field or <end> being written: every symbol as it is, but where <end> is, those
            # that make the line music (`<` then anything but `end>`) are alike up to _CANON.
            line = stream.line if self._tags and stream.key[1] == 4 and stream.line[:1] == "<" else None
            verdicts: dict[str, bool] = {}
            for i in tried:
                spelt = line is None or END.startswith(line + texts[i]) or END in line + texts[i]
                ok = None if spelt or not _SHORTCUTS else verdicts.get(canon[i])
                if ok is None:
                    ok = self._run(stream, texts[i]).rank() <= limit
                    if not spelt:
                        verdicts[canon[i]] = ok
                allowed[i] = ok
            return allowed
        ways = _Ways(self, stream, limit)
        verdicts: dict[str, bool] = {}
        for i in tried:
            ok = verdicts.get(canon[i])
            if ok is None:
                ok = verdicts[canon[i]] = ways.rank(i) <= limit
            allowed[i] = ok
        return allowed
