"""The `abcrnn gallery` stage: every generated tune as a page a person opens in a browser, from disk.

results/gallery/index.html lists the sample sets (run × temperature); each set's page shows every
tune with its header, its engraved score (the abcm2ps SVG from the set's rendered/ folder), an audio
player, a MIDI download link, its ABC text and its metrics; compare.html puts each generated tune
beside the real test-set tune whose header primed it. Everything the pages show is copied into the
gallery folder (assets/), so it can be moved or zipped, and nothing is loaded from the internet;
the pages use no JavaScript.

Audio: each MIDI file (its first MAX_AUDIO_S seconds) → fluidsynth with the General MIDI soundfont
render.py finds (TimGM6mb first) → Ogg Vorbis, written by fluidsynth itself (libsndfile), a few
hundred kB per tune, peak-normalised to -1 dBFS like `abcrnn render --audio` (render.normalised_audio). The
primer tunes are rendered here (abc2midi, abcm2ps) from the test split. Without a renderer the
gallery still builds: the index says what is missing and how to install it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path


from abcrnn.notation.tunes import header_text, split_tagged
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import read_tsv, write_text
from abcrnn.report.gallery_html import VALID, compare_page, index_page, set_page
from abcrnn.generation.audio import MAX_AUDIO_S, clip_midi, normalised_audio
from abcrnn.generation.programs import program, soundfont
from abcrnn.generation.render import MAX_SCORE_PAGES, Settings, render_files

MARKER = ".abcrnn-gallery"  # a gallery folder holds it; any other existing folder is not replaced


@dataclass
class Card:
    """One tune on a page."""
    anchor: str
    caption: str                 # "T = 0.5, 03" or "real test tune 112"
    title: str
    header: str
    text: str
    scores: list[str] = field(default_factory=list)   # paths relative to the gallery folder
    midi: str = ""
    audio: str = ""
    metrics: list[tuple[str, str]] = field(default_factory=list)
    primer: int | None = None    # the test tune (1-based) whose header primed it
    page: str = ""               # the page that shows it


@dataclass
class SetPage:
    label: str
    run: str
    slug: str
    directory: str
    cards: list[Card]

    @property
    def name(self) -> str:
        temperature, _, decoding = self.label.partition("-")
        name = "argmax" if temperature == "argmax" else f"T = {temperature}"
        return f"{name}, {decoding}-aware" if decoding else name

    @property
    def page(self) -> str:
        return f"set-{self.slug}.html"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "set"


def _table(path: str | None) -> dict[tuple[str, str], dict]:
    """A per-tune table keyed by (samples folder, file)."""
    if not path:
        return {}
    if not Path(path).is_file():
        raise AbcrnnError(f"{path}: not found")
    rows = read_tsv(path)
    if rows and not {"samples", "file"} <= set(rows[0]):
        raise AbcrnnError(f"{path}: missing column samples or file")
    return {(os.path.normpath(r["samples"]), r["file"]): r for r in rows}


def _flag(value: str | None) -> str:
    return {"True": "yes", "False": "no"}.get(value or "", "–")


def _share(value: str | None) -> str:
    try:
        return f"{float(value):.0%}"
    except (TypeError, ValueError):
        return "–"


def metrics(validity: dict | None, quality: dict | None, sample: dict | None = None) -> list[tuple[str, str]]:
    v, q, s = validity or {}, quality or {}, sample or {}
    nearest = "–"
    if q.get("nearest_title") or q.get("nearest_x"):
        nearest = f"{q.get('nearest_title', '')} (X:{q.get('nearest_x', '')}), similarity {float(q['similarity']):.2f}"
        if q.get("copy") == "True":
            nearest += " – a copy"
    errors = v.get("errors", "")
    decoding = s.get("constrain", "none")
    shown = [("form plan", s["plan"])] if s.get("plan") else []
    if decoding not in ("", "none"):
        shown.append((f"{decoding}-aware decoding", f"masked {_share(s.get('masked'))} of the probability per step"))
    return shown + [
        (VALID, _flag(v.get("renders_ok")) + (f", {errors} errors" if errors not in ("", "0") else "")),
        ("valid: no error in the written part, no mark without its note", _flag(v.get("valid"))),
        ("bars fitting the meter", _share(v.get("bars_match_meter"))),
        ("reached the end", _flag(v.get("ended"))),
        ("nearest training tune", nearest),
        ("two-part form (AABB)", _flag(q.get("two_part"))),
        ("ends on the tonic", _flag(q.get("ends_on_tonic"))),
    ]


def _copy(source: Path, target: Path) -> bool:
    if not source.is_file():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return True


def _scores(rendered: Path, stem: str, assets: Path, root: Path) -> list[str]:
    """The score's pages copied into assets: at most MAX_SCORE_PAGES, as `abcrnn render` keeps them."""
    pages = [rendered / f"{stem}.svg"] + sorted(rendered.glob(f"{stem}-p*.svg"),
                                                key=lambda p: int(re.sub(r"\D", "", p.stem.split("-p")[-1]) or 0))
    pages = pages[:MAX_SCORE_PAGES]
    return [str((assets / p.name).relative_to(root)) for p in pages if _copy(p, assets / p.name)]


def sample_cards(directory: Path, label: str, run: str, root: Path, validity, quality, primers: dict[str, int]
                 ) -> SetPage:
    table = directory / "samples.tsv"
    if not table.is_file():
        raise AbcrnnError(f"{table}: not found (not an `abcrnn sample` folder)")
    page = SetPage(label, run, slug(f"{run}-{label}" if run else label), str(directory), [])
    assets = root / "assets" / page.slug
    key = os.path.normpath(str(directory))
    for row in read_tsv(table):
        path = directory / row["file"]
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AbcrnnError(f"{path}: cannot read the tune ({exc.strerror})") from None
        stem = Path(row["file"]).stem
        rendered = directory / "rendered"
        prime = row.get("prime", "").replace("\\n", "\n").replace("<start>", "").strip("\n")
        card = Card(anchor=f"{page.slug}-{stem}", caption=f"{page.name}, tune {stem}",
                    title=_title(text), header=header_text(text) or "", text=text.rstrip("\n"),
                    scores=_scores(rendered, stem, assets, root),
                    midi=str((assets / f"{stem}.mid").relative_to(root))
                    if _copy(rendered / f"{stem}.mid", assets / f"{stem}.mid") else "",
                    metrics=metrics(validity.get((key, row["file"])), quality.get((key, row["file"])), row),
                    primer=primers.get(prime), page=page.page)
        page.cards.append(card)
    return page


def _title(text: str) -> str:
    m = re.search(r"^T:\s*(.*)$", text, re.M)
    return m.group(1).strip() if m else "(no title)"


def primer_cards(tests: list[str], numbers: list[int], root: Path, quality, test_source: str,
                 notices: list[str], timeout: float, threads: int) -> dict[int, Card]:
    """The test tunes that primed samples, rendered into assets/test/ (score and MIDI)."""
    folder = root / "assets" / "test"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for n in numbers:
        files.append(folder / f"{n:04d}.abc")
        write_text(files[-1], tests[n - 1].strip("\n") + "\n")
    have = {name: _found(name) for name in ("abc2midi", "abcm2ps")}
    for name, package in (("abc2midi", "abcmidi"), ("abcm2ps", "abcm2ps")):
        if not have[name]:
            notices.append(f"{name} is not installed: the real test tunes have no "
                           f"{'MIDI or audio' if name == 'abc2midi' else 'score'} "
                           f"(install it with `apt-get install {package}`, or `make setup` as root)")
    if files and any(have.values()):
        render_files(files, Settings(midi=have["abc2midi"], score=have["abcm2ps"], audio=False, timeout=timeout),
                     folder, threads)
    cards = {}
    for n, path in zip(numbers, files):
        text = path.read_text(encoding="utf-8")
        stem = path.stem
        q = quality.get((os.path.normpath(test_source), f"{test_source}#{n}"))
        cards[n] = Card(anchor=f"test-{n}", caption=f"real test tune {n}", title=_title(text),
                        header=header_text(text) or "", text=text.rstrip("\n"),
                        scores=[str(p.relative_to(root)) for p in [folder / f"{stem}.svg"] if p.is_file()],
                        midi=str((folder / f"{stem}.mid").relative_to(root)) if (folder / f"{stem}.mid").is_file()
                        else "", metrics=metrics(None, q)[3:], primer=n, page="compare.html")
    return cards


def _found(name: str) -> bool:
    try:
        program(name)
    except AbcrnnError:
        return False
    return True


def encode_audio(cards: list[Card], root: Path, timeout: float, threads: int, notices: list[str]) -> None:
    """Ogg Vorbis beside each card's MIDI file, with fluidsynth; notices say why there is none."""
    try:
        program("fluidsynth"), soundfont()
    except AbcrnnError as exc:
        notices.append(f"no audio: {exc} (`make setup` as root installs fluidsynth and timgm6mb-soundfont)")
        return

    def one(card: Card) -> tuple[str, bool]:
        midi = root / card.midi
        target = midi.with_suffix(".ogg")
        with tempfile.TemporaryDirectory(dir=midi.parent, prefix=".audio-") as tmp:
            out, played = Path(tmp).resolve() / target.name, Path(tmp).resolve() / midi.name
            try:
                clipped = clip_midi(midi, played, MAX_AUDIO_S)
            except Exception:  # mido rejects a malformed file with various exception types
                return "", False
            run = normalised_audio(played, out, timeout)
            if run.returncode == 0 and not run.failure and out.is_file() and out.stat().st_size > 0:
                os.replace(out, target)
                return str(target.relative_to(root)), clipped
        return "", False

    todo = [c for c in cards if c.midi]
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for card, (audio, clipped) in zip(todo, pool.map(one, todo)):
            card.audio = audio
            if clipped:
                card.metrics.append(("recording", f"the first {MAX_AUDIO_S // 60} minutes"))
    failed = sum(1 for c in todo if not c.audio)
    if failed:
        notices.append(f"fluidsynth could not render {failed} of {len(todo)} MIDI files to audio")


def _primers(tests: list[str]) -> dict[str, int]:
    """Header text → the test tune's number (1-based), the first of equal headers."""
    out: dict[str, int] = {}
    for n, tune in enumerate(tests, 1):
        head = header_text(tune.strip("\n"))
        if head:
            out.setdefault(head.strip("\n"), n)
    return out


def build(specs: list[tuple[str, str, Path]], test: str, out_dir: Path, validity_path: str | None,
          quality_path: str | None, summary_path: str | None, audio: bool, timeout: float, threads: int) -> Path:
    """Write the gallery into out_dir (replacing an earlier gallery there, never another folder)."""
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
        raise AbcrnnError(f"{out_dir}: exists and is not an abcrnn gallery; choose a new or empty --out-dir")
    try:
        tests = split_tagged(Path(test).read_text(encoding="utf-8"))
    except OSError as exc:
        raise AbcrnnError(f"{test}: cannot read the test split ({exc.strerror})") from None
    validity, quality = _table(validity_path), _table(quality_path)
    summary = read_tsv(summary_path) if summary_path else []
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        primers = _primers(tests)
        pages = [sample_cards(d, label, run, root, validity, quality, primers) for run, label, d in specs]
        notices: list[str] = []
        if any(not c.scores for p in pages for c in p.cards):
            notices.append("some tunes have no score: abcm2ps could not typeset them, or rendering ran without "
                           "abcm2ps (render.score: false, or `apt-get install abcm2ps`)")
        numbers = sorted({c.primer for p in pages for c in p.cards if c.primer})
        real = primer_cards(tests, numbers, root, quality, test, notices, timeout, threads)
        if audio:
            encode_audio([c for p in pages for c in p.cards] + list(real.values()), root, timeout, threads, notices)
        else:
            notices.append("audio is off (gallery.audio: false)")
        write_text(root / "index.html", index_page(pages, summary, notices))
        for page in pages:
            write_text(root / page.page, set_page(page, pages, real))
        write_text(root / "compare.html", compare_page(pages, real))
        write_text(root / MARKER, "written by abcrnn gallery\n")
        os.chmod(root, 0o755)
        _swap(root, out_dir)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out_dir / "index.html"


def _swap(new: Path, out_dir: Path) -> None:
    """Put the finished gallery in place of the old one."""
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-old-", dir=out_dir.parent))
        os.replace(out_dir, old / "gallery")
    os.replace(new, out_dir)
    if old:
        shutil.rmtree(old, ignore_errors=True)
