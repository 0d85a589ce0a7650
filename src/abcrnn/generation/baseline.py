"""`abcrnn baseline`: a seeded choice of real test-set tunes, written as {n}.abc to be rendered and
measured exactly like generated ones (the validity table's `test-set` row)."""

from __future__ import annotations

import random
from pathlib import Path

from abcrnn.notation.tunes import split_tagged
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import claim_folder, write_text, write_tsv
from abcrnn.labels import number_width


def write_baseline(tagged: str | Path, tunes_tsv: str | Path, count: int, seed: int) -> list[Path]:
    """Write `count` tunes of a <start>/<end> file (a seeded choice, in file order) as {n}.abc beside
    tunes_tsv, which lists them with their position in the file."""
    try:
        tunes = split_tagged(Path(tagged).read_text(encoding="utf-8"))
    except OSError as exc:
        raise AbcrnnError(f"{tagged}: cannot read ({exc.strerror})") from None
    if count < 1:
        raise AbcrnnError(f"--count: must be at least 1, got {count}")
    if len(tunes) < count:
        raise AbcrnnError(f"{tagged}: has {len(tunes)} tunes, fewer than the {count} asked for "
                          "(lower --count, config key sample.baseline_tunes)")
    chosen = sorted(random.Random(seed).sample(range(len(tunes)), count))
    directory = Path(tunes_tsv).parent
    width = number_width(len(chosen))
    names = [f"{n:0{width}d}.abc" for n in range(1, len(chosen) + 1)]
    claim_folder(directory, [*names, Path(tunes_tsv).name], Path(tunes_tsv).name, "abcrnn baseline")
    rows, files = [], []
    for n, index in enumerate(chosen, 1):
        files.append(directory / f"{n:0{width}d}.abc")
        write_text(files[-1], tunes[index].strip("\n") + "\n")
        rows.append({"n": n, "file": files[-1].name, "index": index + 1})
    write_tsv(tunes_tsv, rows, ["n", "file", "index"])
    return files
