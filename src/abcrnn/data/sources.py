"""Finding and reading the files behind corpus sources: music21 corpora, .abc files, folders (every
*.abc inside, links to folders not followed, so a link loop cannot make it endless), glob patterns and
<start>/<end> text. Anything but a regular file (a named pipe, a socket) stops with one line: reading it
would wait for ever."""

from __future__ import annotations

import glob
import importlib.util
import os
import stat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


from abcrnn.errors import AbcrnnError
from abcrnn.data.reader import Tune, read_abc_bytes


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


def not_regular(path: str | os.PathLike) -> str | None:
    """What a path is when it is there but is no regular file nor folder ("a named pipe", ...), else
    None. Reading a named pipe waits for a writer for ever, so such a file must never be read."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None  # missing or unreadable: reported where it is read
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kinds = {stat.S_ISFIFO: "a named pipe", stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a character device",
             stat.S_ISBLK: "a block device"}
    return next((kind for test, kind in kinds.items() if test(mode)), "a special file")


def check_regular(path: str | os.PathLike) -> None:
    kind = not_regular(path)
    if kind:
        raise AbcrnnError(f"{path}: not a regular file ({kind})")


def walk_abc(directory: str | os.PathLike) -> list[Path]:
    """Every *.abc file below `directory`, sorted by path. Links to folders are not followed (a link
    to its own folder would make the walk endless); a named pipe or other special file among them
    stops it with one line (reading one would wait for ever)."""
    found = []
    for root, _, files in os.walk(directory, followlinks=False):
        for name in files:
            if name.endswith(".abc"):
                path = Path(root, name)
                check_regular(path)
                if path.is_file():  # not a broken link
                    found.append(path)
    return sorted(found)


def glob_files(pattern: str) -> list[str]:
    """The files `pattern` matches, as glob.glob(pattern, recursive=True) finds them, but with `**`
    not following links to folders (one to its own folder would make glob recurse without end),
    sorted; a named pipe or other special file among them stops it with one line."""
    matches = sorted(p for p in set(_glob(pattern)) if not os.path.isdir(p))
    for p in matches:
        check_regular(p)
    return [p for p in matches if os.path.isfile(p)]


def _glob(pattern: str) -> list[str]:
    parts = pattern.split("/")
    if "**" not in parts:
        return glob.glob(pattern)
    i = parts.index("**")
    head, rest = "/".join(parts[:i]) or ("/" if i else ""), "/".join(parts[i + 1 :])
    bases = glob.glob(head) if glob.has_magic(head) else [head]
    found: list[str] = []
    for base in bases:
        if not os.path.isdir(base or "."):
            continue
        for root, dirs, files in os.walk(base or ".", followlinks=False):
            dirs[:] = [d for d in dirs if not d.startswith(".")]  # as glob's `**`: no hidden folders
            if not base:
                root = os.path.relpath(root)
                root = "" if root == "." else root
            if rest:
                found += _glob(os.path.join(glob.escape(root), rest) if root else rest)
            else:  # a trailing `**`: everything below
                found += [os.path.join(root, n) for n in dirs + files if not n.startswith(".")]
    return found


def _abc_files(directory: Path, name: str) -> list[SourceFile]:
    """Every *.abc below `directory`, sorted by path, named `name/relative/path`."""
    return [SourceFile(p, f"{name}/{p.relative_to(directory).as_posix()}") for p in walk_abc(directory)]


def local_files(source: str) -> list[str]:
    """The local files behind a source, as the corpus stage reads them, for a workflow to watch (an
    edited one reruns the stage); a missing file is returned as it is, a pattern that matches nothing
    gives none (the stage reports both). A named pipe or other special file raises AbcrnnError."""
    if source.startswith("music21:"):
        return []  # ships inside the installed music21 package
    if os.path.isdir(source):
        return [str(p) for p in walk_abc(source)]
    if os.path.lexists(source) or not glob.has_magic(source):
        check_regular(source)
        return [source]
    return glob_files(source)


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
        check_regular(path)
        return [SourceFile(path, source)]
    if glob.has_magic(source):
        matches = glob_files(source)
        if not matches:
            raise AbcrnnError(f"source {source}: pattern matches no files")
        return [SourceFile(Path(p), p) for p in matches]
    raise AbcrnnError(f"source {source}: no such file or directory")


def read_file(sf: SourceFile, comments: str) -> FileResult:
    try:
        # O_NONBLOCK: a file that turned into a named pipe since it was found is refused, not waited on
        fd = os.open(sf.path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with open(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise AbcrnnError(f"{sf.path}: not a regular file")
            data = fh.read()
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
