"""Atomic file writes: a killed job never leaves a half-written output behind."""

from __future__ import annotations

import csv
import errno
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from abcrnn.errors import AbcrnnError


@contextmanager
def atomic_path(path: str | os.PathLike):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    A write that fails for want of room (ENOSPC, or torch's bare RuntimeError while the disk is full)
    or is refused (a read-only folder) raises AbcrnnError naming `path`, not the temporary file:
    `PATH: no space left on the device`, `PATH: cannot write (Permission denied)`.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as exc:
        raise _write_error(path, exc) from None
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private; outputs get normal permissions
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and (exc.errno in _NO_SPACE or exc.filename is None or str(exc.filename) == tmp):
            raise _write_error(path, exc) from None
        if isinstance(exc, RuntimeError) and _disk_full(path.parent):  # torch.save: "basic_ios::clear: iostream error"
            raise AbcrnnError(f"{path}: no space left on the device") from None
        raise


_NO_SPACE = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


def _write_error(path: Path, exc: OSError) -> AbcrnnError:
    if exc.errno in _NO_SPACE:
        return AbcrnnError(f"{path}: no space left on the device")
    return AbcrnnError(f"{path}: cannot write ({exc.strerror or exc})")


def _disk_full(folder: Path, room: int = 1 << 20) -> bool:
    """Whether the file system holding `folder` has less than `room` bytes free."""
    try:
        return shutil.disk_usage(folder).free < room
    except OSError:
        return False


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_tsv(path: str | os.PathLike, rows: Iterable[Mapping], columns: Sequence[str]) -> None:
    """Write rows (dicts) as a TSV with a header; floats keep full precision via repr."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), delimiter="\t", lineterminator="\n", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(row.get(k, "")) for k in columns})


def read_tsv(path: str | os.PathLike, needed: Sequence[str] | None = None, what: str = "table") -> list[dict[str, str]]:
    """The rows of a TSV with a header line, as dicts of strings.

    With `needed` (the columns the caller reads), a file that is missing or unreadable, or lacks one
    of those columns, stops with one line naming the file and `what` it should be; without it an
    OSError goes to the caller.
    """
    if needed is None:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh, delimiter="\t"))
    try:
        rows = read_tsv(path)
    except OSError as exc:
        raise AbcrnnError(f"{path}: cannot read the {what} ({exc.strerror})") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise AbcrnnError(f"{path}: not a {what} ({exc})") from None
    missing = [c for c in needed if rows and c not in rows[0]]
    if missing:
        raise AbcrnnError(f"{path}: not a {what} (missing column(s) {', '.join(missing)})")
    return rows


_RAISE = object()


def number(value, default=_RAISE):
    """A table cell as a number: an int where it is written as one (`12`), else a float; NaN for a
    blank cell. An unreadable cell raises ValueError, or gives `default` when one is given (blank
    cells too)."""
    text = str(value).strip()
    if text == "" or value is None:
        return math.nan if default is _RAISE else default
    try:
        parsed = float(text)
    except ValueError:
        if default is _RAISE:
            raise
        return default
    return int(parsed) if parsed.is_integer() and text.lstrip("+-").isdigit() else parsed


def _fmt(value):
    """Floats with up to 6 decimals (losses differ in the 4th), small ones in 6 significant digits."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        if value == 0 or abs(value) >= 1e-3:
            return f"{value:.6f}".rstrip("0").rstrip(".")
        return f"{value:.6g}"
    return value


def claim_folder(folder: str | os.PathLike, names: Sequence[str], ledger: str, program: str,
                 always: Sequence[str] = ()) -> None:
    """Make room for the files `names` (ledger among them) in folder, touching nothing the program did not write.

    The ledger is the TSV (with a `file` column) that `program` writes last into the folder: the files
    it lists, the ledger itself and the files in `always` (written on every run) are that program's and
    are replaced or removed; any other file in the way stops the run with one line, so that a user's
    files are never overwritten.
    """
    folder = Path(folder)
    owned: set[str] = set()
    if (folder / ledger).is_file():
        try:
            owned = {row["file"] for row in read_tsv(folder / ledger)} | {ledger, *always}
        except (KeyError, ValueError, UnicodeDecodeError, csv.Error):
            owned = set()
    for name in names:
        if (folder / name).exists() and name not in owned:
            raise AbcrnnError(f"{folder}: already holds {name}, which {program} did not write there; "
                              "choose a new or empty folder")
    for name in sorted(owned - set(names)):  # an earlier, larger set of tunes
        (folder / name).unlink(missing_ok=True)


def torch_save(obj, path: str | os.PathLike) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
