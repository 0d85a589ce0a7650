"""Form plans: how many parts a tune has, how many bars each, repeated or not, with first and second
endings or not, and its pickup, read from real tunes and drawn for generated ones.

A plan is written as its parts and its pickup, e.g. `A8r B8r` (two repeated 8-bar parts, a reel or
jig), `A8r1 B8r1 pickup 1/8` (each with endings of one bar, an eighth-note pickup), `A16` (one
16-bar part played once, an air). `plan_of` reads the plan of a real tune from its text
(melody.sections); `PlanBook` indexes the plans of the training tunes by rhythm (R:) and meter (M:)
and draws one for a tune header, so that a generated set has the corpus's mix of forms; `slots`
turns a plan into the bars a FORM decoder must write (tune.Slot).

Every part is written as its pickup (when the tune has one), its bars, and a last bar short by the
pickup, so that each pass through a part lasts a whole number of bars (`|:A|d2e f2g|…|f3 d2:|`).
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction

from abcrnn.generation.constrain.context import METER, Context, Slot
from abcrnn.notation.grammar import BarLine
from abcrnn.notation.melody import Key, read_melody, sections
from abcrnn.notation.tunes import header_fields

MAX_PARTS = 6
_NO_KEY = Key(0, 0)


@dataclass(frozen=True)
class Part:
    bars: int          # bars of one pass
    repeated: bool
    ending: int = 0    # bars of each of a first and second ending (0: none)


@dataclass(frozen=True)
class Plan:
    parts: tuple[Part, ...]
    pickup: Fraction = Fraction(0)  # whole notes

    def __str__(self) -> str:
        names = " ".join(f"{chr(65 + k)}{p.bars}{'r' if p.repeated else ''}{p.ending or ''}"
                         for k, p in enumerate(self.parts))
        return names + (f" pickup {self.pickup}" if self.pickup else "")

    @classmethod
    def parse(cls, text: str) -> Plan:
        """The plan `str(plan)` wrote."""
        m = re.fullmatch(r"((?:[A-Z]\d+r?\d*\s*)+?)(?:\s*pickup (\d+/\d+|\d+))?", text.strip())
        if not m:
            raise ValueError(f"not a form plan: {text!r}")
        parts = tuple(Part(int(b), r == "r", int(e or 0))
                      for b, r, e in re.findall(r"[A-Z](\d+)(r?)(\d*)", m.group(1)))
        return cls(parts, Fraction(m.group(2)) if m.group(2) else Fraction(0))

    @property
    def bars(self) -> int:
        """Bars written (repeats written once, both endings counted)."""
        return sum(p.bars + p.ending for p in self.parts)


def plan_of(tune: str) -> Plan | None:
    """The plan of a real tune (None without a meter, or for a form the decoders do not write:
    parts under a bar, endings as long as their part, more than MAX_PARTS parts)."""
    melody = read_melody(tune)
    meter = melody.meter
    if meter is None:
        return None
    bars = [b for b in melody.bars if b.music]
    if not bars:
        return None
    pickup = bars[0].length if 0 < bars[0].length < meter else Fraction(0)
    parts = []
    for section in sections(melody):
        count = round(section.length)
        if count < 1 or abs(section.length - count) > 0.5:
            return None
        ending = 0
        first = next((i for i, b in enumerate(section.bars) if BarLine(melody.bars[b].line).ending == 1), None)
        if first is not None and section.repeated:
            after = section.bars[first + 1:]
            ending = max(1, round(float(sum(melody.bars[b].length for b in after) / meter)))
            if ending >= count:
                return None
        parts.append(Part(count, section.repeated, ending))
    if not parts or len(parts) > MAX_PARTS:
        return None
    return Plan(tuple(parts), pickup)


def close_words(part: Part, following: Part | None) -> frozenset:
    """The bar lines that may end a part: the end of the tune, a repeat, a section line, and the
    `|:` or `::` that opens a repeated part after it."""
    if following is None:
        return frozenset({":|"} if part.repeated and not part.ending else {"|]"})
    if part.repeated and not part.ending:
        return frozenset({":|", "::", ":||:"} if following.repeated else {":|"})
    return frozenset({"||", "|:"} if following.repeated else {"||"})


def slots(plan: Plan, meter: Fraction) -> tuple[Slot, ...]:
    """The bars a FORM decoder writes for `plan` under `meter`, in order."""
    pickup, out = plan.pickup, []
    plain = frozenset({"|"})
    for k, part in enumerate(plan.parts):
        closing = close_words(part, plan.parts[k + 1] if k + 1 < len(plan.parts) else None)
        bars: list[tuple[Fraction, frozenset]] = [(pickup, plain)] if pickup else []
        body = part.bars - part.ending
        for i in range(body):
            if i < body - 1:
                bars.append((meter, plain))
            elif part.ending:
                bars.append((meter, frozenset({"|1"})))
            else:
                bars.append((meter - pickup, closing))
        for words in ((frozenset({":|2"}),) if part.ending else ()) + ((closing,) if part.ending else ()):
            bars += [(meter, plain)] * (part.ending - 1) + [(meter - pickup, words)]
        out += [Slot(length, words, opens=part.repeated and i == 0) for i, (length, words) in enumerate(bars)]
    if out:
        last = out[-1]
        out[-1] = Slot(last.length, last.words, last.opens, last=True)
    return tuple(out)


def feasible(plan: Plan, meter: Fraction, unit: Fraction) -> bool:
    """Whether every bar of the plan can be filled with the note lengths the decoders write."""
    if plan.pickup and not 0 < plan.pickup < meter:
        return False
    planned = slots(plan, meter)
    if any(slot.length <= 0 for slot in planned):
        return False
    ctx = Context(METER, meter, unit, _NO_KEY, planned)
    return all(ctx.fillable(ctx.ticks(slot.length)) for slot in planned)


class PlanBook:
    """The plans of the training tunes, by rhythm and meter, to draw from."""

    def __init__(self, tunes: list[str]):
        self.by_kind: dict[tuple[str, str], list[Plan]] = defaultdict(list)
        self.by_meter: dict[str, list[Plan]] = defaultdict(list)
        self.every: list[Plan] = []
        for tune in tunes:
            plan = plan_of(tune)
            if plan is None:
                continue
            fields = header_fields(tune)
            meter, rhythm = _norm(fields.get("M")), _norm(fields.get("R"))
            self.by_kind[(rhythm, meter)].append(plan)
            self.by_meter[meter].append(plan)
            self.every.append(plan)

    def candidates(self, header: str) -> list[Plan]:
        """The plans of the training tunes with the header's rhythm and meter, else its meter."""
        fields = header_fields(header)
        meter, rhythm = _norm(fields.get("M")), _norm(fields.get("R"))
        return (rhythm and self.by_kind.get((rhythm, meter))) or self.by_meter.get(meter) or []

    def draw(self, header: str, seed: int, fits=lambda plan: True) -> Plan | None:
        """A plan for a tune with this header, drawn (seeded) among the training tunes' plans of its
        rhythm and meter that `fits` accepts; None when there is none."""
        pool = [p for p in self.candidates(header) if fits(p)]
        return random.Random(seed).choice(pool) if pool else None


def _norm(value: str | None) -> str:
    return re.sub(r"\s+", " ", (value or "").strip().lower())
