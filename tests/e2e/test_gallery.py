"""The gallery: static pages with every tune's score, audio, MIDI, ABC and metrics, each generated
tune beside the real tune that primed it; opened in a real (headless) browser."""

from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import mido
import pytest
from abc_examples import ONEILLS
from browser import Browser, missing

from abcrnn.notation.tunes import body, header_text, join_tagged
from abcrnn.commands.cli import main as cli
from abcrnn.fileio import write_text, write_tsv
from abcrnn.report.gallery import _scores, clip_midi
from abcrnn.generation.audio import MAX_AUDIO_S
from abcrnn.generation.programs import SOUNDFONTS
from abcrnn.generation.render import MAX_SCORE_PAGES, RENDER_COLUMNS, Settings, render_files
from abcrnn.generation.sample import SAMPLE_COLUMNS

RENDERERS = shutil.which("abc2midi") and shutil.which("abcm2ps")
AUDIO = shutil.which("fluidsynth") and any(os.path.exists(p) for p in SOUNDFONTS)
needs_renderers = pytest.mark.skipif(not RENDERERS, reason="abc2midi/abcm2ps not installed (make setup installs them)")


def sample_set(folder: Path, test: list[str], primers: list[int], render: bool = True) -> None:
    """A sample folder as `abcrnn sample` and `abcrnn render` leave it: each tune is test tune k's
    header (its prime) continued with another tune's music, as a model would."""
    rows = []
    for n, k in enumerate(primers, 1):
        head = header_text(test[k])
        music = body(ONEILLS[(k + 3) % len(ONEILLS)]) + "\nA<B c>d|]"  # broken rhythm: '<' in the ABC text
        write_text(folder / f"{n:02d}.abc", f"{head}\n{music}\n")
        rows.append({"n": n, "file": f"{n:02d}.abc", "seed": n - 1, "temperature": folder.name, "ended": True,
                     "chars": len(music), "prime": f"<start>\n{head}\n".replace("\n", "\\n")})
    write_tsv(folder / "samples.tsv", rows, SAMPLE_COLUMNS)
    files = [folder / r["file"] for r in rows]
    if render:
        results = render_files(files, Settings(midi=True, score=True, audio=False, timeout=30), folder / "rendered")
        write_tsv(folder / "render.tsv", [r.__dict__ for r in results], RENDER_COLUMNS)


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> Path:
    if not RENDERERS:
        pytest.skip("abc2midi/abcm2ps not installed (make setup installs them)")
    root = tmp_path_factory.mktemp("gallery")
    write_text(root / "test.txt", join_tagged(ONEILLS))
    sample_set(root / "0.7", ONEILLS, [1, 4, 6])
    sample_set(root / "2.0", ONEILLS, [1, 8])
    write_tsv(root / "tunes.tsv", [{"temperature": "0.7", "run": "lstm", "samples": str(root / "0.7"), "file": "02.abc",
                                    "nearest_title": "The Kid on the Mountain", "nearest_x": "123",
                                    "similarity": 0.31, "copy": False, "two_part": True, "ends_on_tonic": True}],
              ["temperature", "run", "samples", "file", "nearest_title", "nearest_x", "similarity", "copy", "two_part",
               "ends_on_tonic"])
    assert cli(["gallery", "--samples", f"0.7={root / '0.7'}", f"2.0={root / '2.0' / 'samples.tsv'}", "--run", "lstm",
                "--test", str(root / "test.txt"), "--quality", str(root / "tunes.tsv"), "--threads", "2",
                "--out-dir", str(root / "results" / "gallery")]) == 0
    return root / "results" / "gallery"


class Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.ids, self.text = [], set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.refs += [(tag, attrs[a]) for a in ("src", "href") if a in attrs]
        if "id" in attrs:
            self.ids.add(attrs["id"])

    def handle_data(self, data):
        self.text.append(data)


def parse(path: Path) -> Refs:
    refs = Refs()
    refs.feed(path.read_text(encoding="utf-8"))
    return refs


def test_pages_show_every_tune_with_score_midi_audio_abc_and_metrics(gallery):
    names = sorted(p.name for p in gallery.glob("*.html"))
    assert names == ["compare.html", "index.html", "set-lstm-0.7.html", "set-lstm-2.0.html"]
    page = parse(gallery / "set-lstm-0.7.html")
    images = [v for t, v in page.refs if t == "img"]
    assert len([v for v in images if v.endswith("01.svg")]) == 1 and len(images) >= 3
    assert sum(v.endswith(".mid") for _, v in page.refs) == 3
    text = "".join(page.text)
    assert "A<B c>d|]" in text  # the ABC text, escaped in the HTML and shown as written
    assert "The Kid on the Mountain (X:123), similarity 0.31" in text  # tune 02's nearest training tune
    if AUDIO:
        assert sum(t == "audio" for t, _ in page.refs) == 3
        assert all((gallery / v).stat().st_size > 5000 for t, v in page.refs if t == "audio")


def test_every_link_stays_inside_the_gallery_and_exists(gallery):
    for html in gallery.glob("*.html"):
        page = parse(html)
        for tag, ref in page.refs:
            if ref == "data:,":  # the empty favicon: no request at all
                continue
            assert not re.match(r"[a-z]+:", ref), f"{html.name}: {ref} leaves the gallery"
            target = ref.split("#")[0]
            if target:
                assert (gallery / target).is_file(), f"{html.name}: {ref} does not exist"
            if "#" in ref:
                assert ref.split("#")[1] in parse(gallery / (target or html.name)).ids, f"{html.name}: {ref}"


def test_compare_page_puts_each_tune_beside_the_real_tune_that_primed_it(gallery):
    page = parse(gallery / "compare.html")
    assert {"tune-2", "tune-5", "tune-7", "tune-9"} <= page.ids  # test tunes 2, 5, 7 and 9 primed samples
    html = (gallery / "compare.html").read_text(encoding="utf-8")
    row = html.split('id="tune-2"')[1].split('<h2')[0]  # test tune 2 primed 0.7's 01 and 2.0's 01
    assert 'id="test-2"' in row and 'id="lstm-0.7-01"' in row and 'id="lstm-2.0-01"' in row
    assert (gallery / "assets" / "test" / "0002.svg").stat().st_size > 1000


def test_without_renderers_the_gallery_still_builds_and_says_what_is_missing(tmp_path, monkeypatch):
    write_text(tmp_path / "test.txt", join_tagged(ONEILLS))
    sample_set(tmp_path / "0.7", ONEILLS, [1, 2], render=False)
    for name in ("ABC2MIDI", "ABCM2PS", "FLUIDSYNTH"):
        monkeypatch.setenv(f"ABCRNN_{name}", str(tmp_path / "not-installed"))
    assert cli(["gallery", "--samples", f"0.7={tmp_path / '0.7'}", "--test", str(tmp_path / "test.txt"),
                "--out-dir", str(tmp_path / "gallery")]) == 0
    index = (tmp_path / "gallery" / "index.html").read_text(encoding="utf-8")
    assert "no audio" in index and "not-installed: not found" in index
    assert "abcm2ps is not installed" in index and "abc2midi is not installed" in index
    assert "no score" in (tmp_path / "gallery" / "set-0.7.html").read_text(encoding="utf-8")


def test_a_folder_that_is_not_a_gallery_is_not_replaced(tmp_path, capsys):
    write_text(tmp_path / "test.txt", join_tagged(ONEILLS))
    sample_set(tmp_path / "0.7", ONEILLS, [1], render=False)
    write_text(tmp_path / "mine" / "notes.txt", "my notes")
    assert cli(["gallery", "--samples", f"0.7={tmp_path / '0.7'}", "--test", str(tmp_path / "test.txt"),
                "--no-audio", "--out-dir", str(tmp_path / "mine")]) == 1
    assert "is not an abcrnn gallery" in capsys.readouterr().err
    assert (tmp_path / "mine" / "notes.txt").read_text() == "my notes"


@pytest.mark.skipif(missing() is not None, reason=str(missing()))
def test_gallery_in_a_real_browser(gallery):
    """Debian's headless chromium: no console errors, every score drawn, every recording playable,
    and a screenshot in the gallery folder (look at it)."""
    browser = Browser()
    try:
        for html in sorted(gallery.glob("*.html")):
            page = browser.open(html)
            assert page.console == [], f"{html.name}: {page.console}"
            for src, width, height, shown_w, shown_h in page.images:
                assert width > 0 and height > 0 and shown_w > 0 and shown_h > 0, f"{html.name}: {src} not drawn"
            for src, duration, error in page.audio:
                assert error == 0 and duration > 0, f"{html.name}: {src} does not play (error {error})"
            if html.name.startswith("set-"):
                assert page.images and (page.audio or not AUDIO)
        browser.screenshot(gallery / "set-lstm-0.7.html", gallery / "screenshot.png")
    finally:
        browser.close()
    assert (gallery / "screenshot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (gallery / "screenshot.png").stat().st_size > 50000


def test_a_runaway_tune_is_recorded_for_its_first_minutes_only(tmp_path):
    """An argmax loop or a two-hour note (T = 2) must not take hours to render: the recording plays
    the first MAX_AUDIO_S seconds, with the same notes in the same order, each one ended."""
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=250_000, time=0),  # 240 beats a minute
                            mido.Message("program_change", program=73, time=0)])
    for k in range(2000):  # 2000 quarter notes at 240 bpm: 500 seconds
        track += [mido.Message("note_on", note=60 + k % 12, velocity=80, time=0),
                  mido.Message("note_off", note=60 + k % 12, velocity=0, time=480)]
    long = mido.MidiFile(ticks_per_beat=480)
    long.tracks.append(track)
    long.save(tmp_path / "long.mid")
    assert clip_midi(tmp_path / "long.mid", tmp_path / "clip.mid", 60) == pytest.approx(500, abs=1)  # its length
    clip = mido.MidiFile(tmp_path / "clip.mid")
    assert clip.length == pytest.approx(60, abs=0.3)
    notes = [m.note for m in clip if m.type == "note_on" and m.velocity > 0]
    assert notes == [60 + k % 12 for k in range(len(notes))] and 235 <= len(notes) <= 241
    assert any(m.type == "program_change" and m.program == 73 for m in clip)
    sounding = sum(1 if m.type == "note_on" and m.velocity else -1 for m in clip if m.type in ("note_on", "note_off"))
    assert sounding == 0
    assert not clip_midi(tmp_path / "clip.mid", tmp_path / "same.mid", 120)  # short enough: copied as it is
    assert (tmp_path / "same.mid").read_bytes() == (tmp_path / "clip.mid").read_bytes()


def test_the_gallery_copies_a_score_up_to_the_page_cap(tmp_path):
    """A 50,000-note tune's hundreds of pages: the gallery shows and copies the first MAX_SCORE_PAGES,
    the pages `abcrnn render` keeps (one cap, render.py's, like the recordings' MAX_AUDIO_S)."""
    rendered = tmp_path / "rendered"
    rendered.mkdir()
    (rendered / "07.svg").write_text("<svg/>")
    for n in range(2, 290):
        (rendered / f"07-p{n}.svg").write_text("<svg/>")
    shown = _scores(rendered, "07", tmp_path / "gallery" / "assets" / "set", tmp_path / "gallery")
    assert len(shown) == MAX_SCORE_PAGES and shown[-1].endswith(f"07-p{MAX_SCORE_PAGES}.svg")
    assert len(list((tmp_path / "gallery" / "assets" / "set").iterdir())) == MAX_SCORE_PAGES
    assert MAX_AUDIO_S == 180


@pytest.mark.skipif(not (AUDIO and shutil.which("oggdec")), reason="fluidsynth or oggdec (vorbis-tools) not installed")
def test_recordings_are_at_a_normal_level(gallery, tmp_path):
    """Every recording, real tune or generated, is peak-normalised to -1 dBFS (they were at about
    -20 dBFS, RMS -35): decoded with oggdec, its loudest sample is within 1 dB of -1 dBFS."""
    import subprocess
    import wave

    import numpy as np

    recordings = sorted(gallery.glob("assets/**/*.ogg"))
    assert len(recordings) >= 8 and any("test" in p.parts for p in recordings)
    for ogg in recordings:
        wav = tmp_path / f"{ogg.parent.name}-{ogg.stem}.wav"
        subprocess.run(["oggdec", "-Q", "-o", str(wav), str(ogg)], check=True)
        with wave.open(str(wav)) as w:
            samples = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2") / 32768
        peak = 20 * np.log10(np.abs(samples).max())
        rms = 20 * np.log10(np.sqrt(np.mean(samples ** 2)))
        assert abs(peak - (-1.0)) <= 1.0 and rms > -25, (ogg, peak, rms)
