"""The corpus stage: read ABC sources into the <start>/<end> corpus, a tune table and a report.

Finding and reading the files is sources.py's job; exact and near-duplicates are neardup.py's.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from abcrnn.notation.tunes import keep_fields
from abcrnn.config import NEEDED_FIELDS, STRUCTURE_FIELDS, parse_header_fields  # noqa: F401
from abcrnn.data.reader import DROP_REASONS, Tune

from abcrnn.data.neardup import SIMILARITY, NearDuplicates, Notes, bucket_keys, exact_key
from abcrnn.data.sources import FileResult


NEAR_MODES = ("drop", "group", "keep")
REASONS = DROP_REASONS + ("duplicate", "near_duplicate")
REPORT_COLUMNS = ["source", "read", "kept"] + [f"dropped_{r}" for r in REASONS] + ["removed_field_lines"]
TUNE_COLUMNS = ["id", "source", "index", "X", "title", "key", "meter", "rhythm", "chars", "group", "removed"]


def select(results: list[FileResult], dedupe: bool, near: str, threshold: float = SIMILARITY,
           index: NearDuplicates | None = None):
    """(kept tunes, their group ids), counting dropped duplicates into each file's result."""
    kept: list[Tune] = []
    groups: list[int] = []
    seen: set[str] = set()
    index = index or NearDuplicates(threshold)
    for result in results:
        for tune in result.tunes:
            key = exact_key(tune)
            if dedupe and key in seen:
                result.dropped["duplicate"] += 1
                continue
            notes, keys = (Notes.of(tune), bucket_keys(tune)) if near != "keep" else (None, None)
            match = index.match(tune, notes, keys) if near != "keep" else None
            if match is not None and near == "drop":
                result.dropped["near_duplicate"] += 1
                continue
            seen.add(key)
            tune_id = len(kept)
            kept.append(tune)
            groups.append(groups[match] if match is not None else tune_id)
            if near != "keep":
                index.add(tune, tune_id, notes, keys)
    return kept, groups


def variant_label(keep: frozenset[str] | None) -> str:
    """The corpus variant's name in tables: `all`, or the kept field letters (X,T,M,L,K first)."""
    if keep is None:
        return "all"
    first = "XTMLKRQP"
    return ",".join(sorted(keep, key=lambda f: (first.index(f) if f in first else len(first), f)))


def drop_fields(kept: list[Tune], keep: frozenset[str] | None) -> list[Tune]:
    """The kept tunes with only the wanted field lines; each tune's `removed` says what went. The
    lines that shape the music (STRUCTURE_FIELDS: V:, P:, U:, m:, K:, M:, L:) stay, listed or not."""
    if keep is None:
        return kept
    keep = keep | STRUCTURE_FIELDS
    out = []
    for tune in kept:
        text, removed = keep_fields(tune.text, keep)
        counts = Counter(removed)
        out.append(dataclasses.replace(tune, text=text, removed=" ".join(f"{f}:{n}" for f, n in sorted(counts.items()))))
    return out


# --- tables ------------------------------------------------------------------------------------


def tune_rows(kept: list[Tune], groups: list[int]) -> list[dict]:
    return [
        {"id": i, "source": t.source, "index": t.index, "X": t.X, "title": t.title, "key": t.key,
         "meter": t.meter, "rhythm": t.rhythm, "chars": len(t.text), "group": g, "removed": t.removed}
        for i, (t, g) in enumerate(zip(kept, groups))
    ]


def report_rows(results: list[FileResult], kept: list[Tune]) -> list[dict]:
    """One row per file and a `total` row; read = kept + every dropped_* column on each row;
    removed_field_lines: the field lines corpus.header_fields took out of the kept tunes."""
    kept_per_file = Counter(t.source for t in kept)
    removed_per_file = Counter()
    for t in kept:
        removed_per_file[t.source] += sum(int(part.split(":")[1]) for part in t.removed.split())
    rows = []
    for r in results:
        row = {"source": r.name, "kept": kept_per_file[r.name]}
        row.update({f"dropped_{reason}": r.dropped[reason] for reason in REASONS})
        row["read"] = row["kept"] + sum(r.dropped.values())
        row["removed_field_lines"] = removed_per_file[r.name]
        rows.append(row)
    total = {"source": "total"}
    total.update({c: sum(row[c] for row in rows) for c in REPORT_COLUMNS[1:]})
    return rows + [total]


def summary(total: dict, n_files: int) -> str:
    """'read 2009 tunes from 39 files, kept 1839 (dropped 1 duplicate, 169 near-duplicate)'."""
    dropped = ", ".join(f"{total[f'dropped_{r}']} {r.replace('_', '-')}" for r in REASONS if total[f"dropped_{r}"])
    removed = f"; removed {total['removed_field_lines']} field lines" if total["removed_field_lines"] else ""
    return (f"read {total['read']} tunes from {n_files} file{'s' * (n_files != 1)}, kept {total['kept']}"
            f" ({'dropped ' + dropped if dropped else 'none dropped'}{removed})")


# --- command line ------------------------------------------------------------------------------
