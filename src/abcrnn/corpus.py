"""The corpus stage: read ABC sources into the <start>/<end> corpus, a tune table and a report.

Sources mix freely: `music21:<name>` (an ABC corpus shipped with music21), .abc files,
directories (every *.abc inside, recursively), glob patterns, and text already in the corpus
format (any file with a line that is `<start>` alone; `<start>` amid other text, as in a lyrics
line, leaves an ABC file an ABC file). Bad tunes are skipped and counted, never fatal; a tune
whose text holds `<start>` or `<end>` is one of them (`dropped_tag_in_text`), since the corpus
could not be split back into its tunes.

Duplicates: an exact duplicate is a tune equal to an earlier one apart from its X: number and
whitespace. A near-duplicate is the same tune transcribed twice: it shares a collection number
(X:, or a number in B: such as "O'Neill's 626") or a normalised title with an earlier kept tune,
and their note-letter sequences have a difflib ratio of at least SIMILARITY and share at least
SCREEN_JACCARD of their 4-grams. On O'Neill's 1850 collection, pairs that share a number score
0.897 or more (4-gram Jaccard 0.68 or more), while distinct settings that share a title (O'Neill's
"1st/2nd setting") score 0.842 or less: 0.85 splits the two, and the 4-gram screen keeps the
ratio (unreliable on short sequences) from pairing unrelated tunes that happen to share X:1.
"""

from __future__ import annotations

import argparse
import difflib
import glob
import importlib.util
import re
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from .abc import header_fields, join_tagged, note_letters
from .errors import AbcrnnError
from .fileio import write_text, write_tsv
from .reader import COMMENT_MODES, DROP_REASONS, Tune, read_abc_bytes

NEAR_MODES = ("drop", "group", "keep")
SIMILARITY = 0.85
SCREEN_NGRAM, SCREEN_JACCARD = 4, 0.4
MIN_NOTES = 20  # shorter melodies can't tell a second transcription from a coincidence (O'Neill's shortest: 30)
REASONS = DROP_REASONS + ("duplicate", "near_duplicate")
REPORT_COLUMNS = ["source", "read", "kept"] + [f"dropped_{r}" for r in REASONS]
TUNE_COLUMNS = ["id", "source", "index", "X", "title", "key", "meter", "rhythm", "chars", "group"]


@dataclass
class SourceFile:
    """One file to read: where it is, and the name tables give it."""

    path: Path
    name: str


@dataclass
class FileResult:
    name: str
    tunes: list[Tune]
    dropped: Counter = field(default_factory=Counter)


# --- finding the files behind a source --------------------------------------------------------


def music21_corpus_dir() -> Path:
    """music21's corpus folder, found without importing music21 (which is slow)."""
    spec = importlib.util.find_spec("music21")
    if spec is None or not spec.submodule_search_locations:
        raise AbcrnnError("music21 sources need the music21 package, which is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / "corpus"


def music21_abc_corpora(root: Path) -> list[str]:
    return sorted(d.name for d in root.iterdir() if d.is_dir() and next(d.rglob("*.abc"), None))


def _abc_files(directory: Path, name: str) -> list[SourceFile]:
    """Every *.abc below `directory`, sorted by path, named `name/relative/path`."""
    files = sorted(p for p in directory.rglob("*.abc") if p.is_file())
    return [SourceFile(p, f"{name}/{p.relative_to(directory).as_posix()}") for p in files]


def music21_files(source: str) -> list[SourceFile]:
    name = source.split(":", 1)[1].strip("/")
    root = music21_corpus_dir()
    path = root / name
    if name and path.is_file() and path.suffix == ".abc":
        return [SourceFile(path, source)]
    if not name or not path.is_dir() or not next(path.rglob("*.abc"), None):
        known = ", ".join(f"music21:{c}" for c in music21_abc_corpora(root))
        raise AbcrnnError(f"source {source}: music21 has no ABC corpus {name!r} (ABC corpora: {known})")
    return _abc_files(path, f"music21:{name}")


def source_files(source: str) -> list[SourceFile]:
    """The files behind one --source, in reading order."""
    if source.startswith("music21:"):
        return music21_files(source)
    path = Path(source)
    if path.is_dir():
        files = _abc_files(path, source.rstrip("/") or "/")
        if not files:
            raise AbcrnnError(f"source {source}: directory has no .abc files")
        return files
    if path.exists():
        return [SourceFile(path, source)]
    if glob.has_magic(source):
        matches = sorted(p for p in glob.glob(source, recursive=True) if Path(p).is_file())
        if not matches:
            raise AbcrnnError(f"source {source}: pattern matches no files")
        return [SourceFile(Path(p), p) for p in matches]
    raise AbcrnnError(f"source {source}: no such file or directory")


def read_file(sf: SourceFile, comments: str) -> FileResult:
    try:
        data = sf.path.read_bytes()
    except OSError as exc:
        raise AbcrnnError(f"source {sf.name}: cannot read ({exc.strerror})") from None
    tunes, dropped = read_abc_bytes(data, sf.name, comments)
    return FileResult(sf.name, tunes, dropped)


def read_sources(sources: list[str], comments: str) -> list[FileResult]:
    """Every file of every source read once, in order; a source with no tunes at all is an error."""
    results: list[FileResult] = []
    seen: set[Path] = set()
    for source in sources:
        files = [sf for sf in source_files(source) if sf.path.resolve() not in seen]
        seen.update(sf.path.resolve() for sf in files)
        read = [read_file(sf, comments) for sf in files]
        if files and not any(r.tunes or r.dropped for r in read):
            raise AbcrnnError(f"source {source}: no tunes found (no X: lines or <start> blocks)")
        results += read
    return results


# --- duplicates --------------------------------------------------------------------------------


def exact_key(tune: Tune) -> str:
    """A tune's identity for exact duplicates: its text without the X: line and whitespace."""
    lines = [line for line in tune.text.split("\n") if not line.startswith("X:")]
    return re.sub(r"\s+", "", "\n".join(lines))


def normal_title(title: str) -> str:
    """'The Lamentation of Owen Roe O'Neill' and 'Lamentation of Owen Roe O'Neill, The.' alike."""
    t = re.sub(r"[.\s]+$", "", title.strip().lower())
    t = re.sub(r"^(the|a|an)\s+|,\s*(the|a|an)$", "", t)
    return re.sub(r"[\W_]+", "", t)


def bucket_keys(tune: Tune) -> set[tuple[str, str]]:
    """Collection numbers (X:, numbers in B:) and the normalised title: near-duplicates share one."""
    numbers = re.findall(r"[0-9]+", header_fields(tune.text, to_key=False).get("B", ""))
    if re.fullmatch(r"[0-9]+", tune.X):
        numbers.append(tune.X)
    keys = {("number", str(int(n))) for n in numbers if int(n) > 0}
    title = normal_title(tune.title)
    if title:
        keys.add(("title", title))
    return keys


@dataclass(frozen=True)
class Notes:
    """A tune's note letters and their 4-grams. The grams also screen pairs cheaply before difflib:
    on O'Neill's collection, unrelated tunes share under 1/5 of their 4-grams in 999 pairs of 1000."""

    letters: str
    grams: frozenset

    @classmethod
    def of(cls, tune: Tune) -> "Notes":
        s = note_letters(tune.text)
        return cls(s, frozenset(s[i : i + SCREEN_NGRAM] for i in range(len(s) - SCREEN_NGRAM + 1)))


def similar(a: Notes, b: Notes, threshold: float) -> bool:
    la, lb = len(a.letters), len(b.letters)
    if min(la, lb) < MIN_NOTES or 2 * min(la, lb) / (la + lb) < threshold:
        return False  # difflib's ratio can't reach the threshold with lengths this different
    if len(a.grams & b.grams) < SCREEN_JACCARD * len(a.grams | b.grams):
        return False
    return difflib.SequenceMatcher(None, a.letters, b.letters, autojunk=False).ratio() >= threshold


class NearDuplicates:
    """Earlier kept tunes, bucketed by number and title, so each tune meets only a few of them."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.buckets: dict[tuple[str, str], list[int]] = defaultdict(list)
        self.notes: dict[int, Notes] = {}

    def match(self, tune: Tune) -> int | None:
        """The id of the first earlier tune this one duplicates, if any."""
        notes = Notes.of(tune)
        candidates = sorted({i for key in bucket_keys(tune) for i in self.buckets.get(key, ())})
        return next((i for i in candidates if similar(self.notes[i], notes, self.threshold)), None)

    def add(self, tune: Tune, tune_id: int) -> None:
        self.notes[tune_id] = Notes.of(tune)
        for key in bucket_keys(tune):
            self.buckets[key].append(tune_id)


def select(results: list[FileResult], dedupe: bool, near: str, threshold: float = SIMILARITY):
    """(kept tunes, their group ids), counting dropped duplicates into each file's result."""
    kept: list[Tune] = []
    groups: list[int] = []
    seen: set[str] = set()
    index = NearDuplicates(threshold)
    for result in results:
        for tune in result.tunes:
            key = exact_key(tune)
            if dedupe and key in seen:
                result.dropped["duplicate"] += 1
                continue
            match = index.match(tune) if near != "keep" else None
            if match is not None and near == "drop":
                result.dropped["near_duplicate"] += 1
                continue
            seen.add(key)
            tune_id = len(kept)
            kept.append(tune)
            groups.append(groups[match] if match is not None else tune_id)
            if near != "keep":
                index.add(tune, tune_id)
    return kept, groups


# --- tables ------------------------------------------------------------------------------------


def tune_rows(kept: list[Tune], groups: list[int]) -> list[dict]:
    return [
        {"id": i, "source": t.source, "index": t.index, "X": t.X, "title": t.title, "key": t.key,
         "meter": t.meter, "rhythm": t.rhythm, "chars": len(t.text), "group": g}
        for i, (t, g) in enumerate(zip(kept, groups))
    ]


def report_rows(results: list[FileResult], kept: list[Tune]) -> list[dict]:
    """One row per file and a `total` row; read = kept + every dropped_* column on each row."""
    kept_per_file = Counter(t.source for t in kept)
    rows = []
    for r in results:
        row = {"source": r.name, "kept": kept_per_file[r.name]}
        row.update({f"dropped_{reason}": r.dropped[reason] for reason in REASONS})
        row["read"] = row["kept"] + sum(r.dropped.values())
        rows.append(row)
    total = {"source": "total"}
    total.update({c: sum(row[c] for row in rows) for c in REPORT_COLUMNS[1:]})
    return rows + [total]


def summary(total: dict, n_files: int) -> str:
    """'read 2009 tunes from 39 files, kept 1839 (dropped 1 duplicate, 169 near-duplicate)'."""
    dropped = ", ".join(f"{total[f'dropped_{r}']} {r.replace('_', '-')}" for r in REASONS if total[f"dropped_{r}"])
    return (f"read {total['read']} tunes from {n_files} file{'s' * (n_files != 1)}, kept {total['kept']}"
            f" ({'dropped ' + dropped if dropped else 'none dropped'})")


# --- command line ------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="abcrnn corpus",
        description="Read ABC sources into the <start>/<end> corpus, a tune table and a corpus report.",
    )
    p.add_argument("--source", action="append", required=True, metavar="S",
                   help="music21:<corpus>, an .abc file, a directory, a glob pattern, or <start>/<end> text "
                        "(tags on lines of their own; repeat for several; read in the order given)")
    p.add_argument("--comments", choices=COMMENT_MODES, default="strip",
                   help="strip: drop %% comment lines, %%%% directives and trailing %% comments; keep: leave them")
    p.add_argument("--dedupe", action=argparse.BooleanOptionalAction, default=True,
                   help="drop exact duplicates (equal apart from X: and whitespace)")
    p.add_argument("--near-duplicates", choices=NEAR_MODES, default="drop",
                   help="the same tune transcribed twice: drop the later ones, group them (same 'group' in "
                        "tunes.tsv), or keep them as distinct tunes")
    p.add_argument("--similarity", type=float, default=SIMILARITY,
                   help=f"note-sequence similarity (0-1) from which two tunes are near-duplicates (default {SIMILARITY})")
    p.add_argument("--out", default="results/data/corpus.txt", help="corpus to write")
    p.add_argument("--tunes", default="results/tables/tunes.tsv", help="tune table to write")
    p.add_argument("--report", default="results/tables/corpus_report.tsv", help="per-file report to write")
    return p


def main_corpus(argv: list[str] | None = None) -> int:
    a = parser().parse_args(argv)
    if not 0 < a.similarity <= 1:
        raise AbcrnnError(f"--similarity must be in (0, 1], got {a.similarity}")
    results = read_sources(a.source, a.comments)
    kept, groups = select(results, a.dedupe, a.near_duplicates, a.similarity)
    rows = report_rows(results, kept)
    if not kept:
        raise AbcrnnError(f"no tunes kept from {', '.join(a.source)}: {summary(rows[-1], len(results))}")
    write_text(a.out, join_tagged([t.text for t in kept]))
    write_tsv(a.tunes, tune_rows(kept, groups), TUNE_COLUMNS)
    write_tsv(a.report, rows, REPORT_COLUMNS)
    print(f"abcrnn corpus: {summary(rows[-1], len(results))} -> {a.out}", file=sys.stderr)
    return 0
