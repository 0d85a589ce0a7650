"""Rendering fixed ABC tunes: notes in the MIDI, abc2midi errors, timeouts, missing programs."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from abcrnn.commands.cli import main as cli
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import read_tsv
from abcrnn.generation.audio import MAX_AUDIO_S
from abcrnn.generation.programs import SOUNDFONTS
from abcrnn.generation.render import (MAX_SCORE_PAGES, RENDER_COLUMNS, Settings, abc2midi_messages, render_files,
                                      render_tune)

DATA = Path(__file__).parents[1] / "data" / "render"
needs_abc = pytest.mark.skipif(not (shutil.which("abc2midi") and shutil.which("abcm2ps")),
                               reason="abc2midi and abcm2ps not installed")
needs_audio = pytest.mark.skipif(not (shutil.which("abc2midi") and shutil.which("fluidsynth")
                                      and any(os.path.exists(path) for path in SOUNDFONTS)),
                                 reason="fluidsynth or its soundfont not installed")
MIDI_ONLY = Settings(midi=True, score=False, audio=False, timeout=20)


def copy_tunes(tmp_path: Path, *names: str) -> Path:
    for name in names:
        shutil.copy(DATA / name, tmp_path / name)
    return tmp_path


def fake_program(tmp_path: Path, name: str, script: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@needs_abc
def test_valid_tune_renders_with_its_notes(tmp_path):
    copy_tunes(tmp_path, "valid.abc")
    result = render_tune(tmp_path / "valid.abc", Settings(timeout=20))
    # GABc dedB | dBAG A4 | [GB]2 z2 G4: 8 + 5 + 2 (chord) + 1 notes
    assert (result.midi_ok, result.notes, result.errors, result.score_ok, result.message) == (True, 16, 0, True, "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["valid.abc", "valid.mid", "valid.svg"]
    assert (tmp_path / "valid.svg").read_text().lstrip().startswith("<?xml")


@needs_abc
def test_broken_tune_is_invalid_with_its_message(tmp_path):
    copy_tunes(tmp_path, "broken.abc", "no-x.abc")
    broken = render_tune(tmp_path / "broken.abc", MIDI_ONLY)
    assert broken.midi_ok is False and broken.errors == 2
    assert "Chord already finished" in broken.message and "Unrecognized character: #" in broken.message
    no_x = render_tune(tmp_path / "no-x.abc", Settings(timeout=20))
    assert (no_x.midi_ok, no_x.notes, no_x.score_ok) == (False, 0, False)
    assert "missing X: field" in no_x.message and "\n" not in no_x.message



@needs_abc
def test_errors_the_header_caused_are_counted_apart(tmp_path, monkeypatch):
    # R:hornpipe makes abc2midi play note pairs as broken rhythm; after a staccato `.D` it pairs a
    # sixteenth with an eighth and reports it on a body line: the header's error, not the model's
    head = "X:1\nT:t\nR:{}\nM:{}\nL:1/16\nK:D\n"
    body = "AB | AFEF EDED | D3E FEF.D | G,B,B,D ED/2D/2 FD |\n"
    for name, header, errors, header_errors, body_errors in [
        ("hornpipe", head.format("hornpipe", "2/4"), 1, 1, 0),
        ("reel", head.format("reel", "2/4"), 0, 0, 0),
        ("in-6-8", head.format("Hornpipe", "6/8"), 1, 1, 0),   # "Hornpipe must be in 2/4 or 4/4 time"
        ("with-a-tie", head.format("hornpipe", "2/4"), 2, 1, 1),  # … and the tie to nowhere is the body's
    ]:
        tune = tmp_path / f"{name}.abc"
        tune.write_text(header + (body if name != "with-a-tie" else body.replace("FD |", "F-D |")))
        monkeypatch.chdir(tmp_path)  # relative folders, as the workflow gives them
        (tmp_path / "out").mkdir(exist_ok=True)
        result = render_tune(Path(tune.name), MIDI_ONLY, Path("out"))
        assert (result.errors, result.header_errors, result.body_errors) == (errors, header_errors, body_errors), \
            (name, result.message)


@needs_abc
@pytest.mark.parametrize("name", ["-v.abc", "--help.abc", "-O x.abc"])
def test_a_file_name_is_never_read_as_a_flag(tmp_path, name):
    """abcm2ps read a tune file named `-v.abc` as its -v option ("Unknown flag", no score)."""
    shutil.copy(DATA / "valid.abc", tmp_path / name)
    result = render_tune(tmp_path / name, Settings(timeout=20), tmp_path / "out")
    stem = name[:-4]
    assert (result.midi_ok, result.notes, result.score_ok, result.message) == (True, 16, True, "")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{stem}.mid", f"{stem}.svg"]


RUNAWAY = ("X:1\nT:Repeats without end\nM:4/4\nL:1/16\nP:((((A9)9)9)9)9\nK:G\nP:A\n"
           + "|".join(["ABcd efga"] * 20) + "|\n")  # part A 59049 times: past abc2midi's limit on a MIDI file


@pytest.mark.skipif(not shutil.which("abc2midi"), reason="abc2midi not installed")
def test_abc2midi_giving_up_half_way_is_a_failed_rendering(tmp_path):
    # abc2midi stops with "eputc: aborting because of file runaway (infinite loop)" and exit status 1,
    # leaving a truncated MIDI file that reads as 0 notes: no clean rendering.
    (tmp_path / "runaway.abc").write_text(RUNAWAY)
    result = render_tune(tmp_path / "runaway.abc", MIDI_ONLY)
    assert result.midi_ok is False and result.notes == 0
    assert result.message.startswith("abc2midi aborted (exit status 1): eputc: aborting because of file runaway")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runaway.abc"]  # the truncated file is not kept


def test_abc2midi_messages_are_counted():
    output = ("4.84 January 20 2023 abc2midi\nWarning in line-char 6-17 : Slur within slur\n"
              "Error in line-char 6-30 : Chord already finished\nwriting MIDI file bad.mid\n"
              "Warning in line-char 6-28 : Track 1 Bar 1 has 6 time units while the time signature has 4\n"
              "Error in line-char 6-30 : Chord already finished\n")
    errors, warnings = abc2midi_messages(output)
    assert errors == ["Error in line-char 6-30 : Chord already finished"]  # repeated, counted once
    assert len(warnings) == 2


def test_hanging_renderer_is_killed_and_the_rest_goes_on(tmp_path, monkeypatch):
    tunes = tmp_path / "tunes"
    tunes.mkdir()
    copy_tunes(tunes, "valid.abc", "broken.abc")
    # a shell that waits on a child: killing only the shell would leave the pipe open
    monkeypatch.setenv("ABCRNN_ABC2MIDI", fake_program(tmp_path, "abc2midi-hangs", "sleep 30 & wait"))
    results = render_files(sorted(tunes.glob("*.abc")), Settings(midi=True, score=False, timeout=0.5),
                           tmp_path / "out", threads=2)
    assert [r.file for r in results] == ["broken.abc", "valid.abc"]
    for r in results:
        assert r.timed_out is True and r.midi_ok is False and "timed out after 0.5 s" in r.message


def test_crashing_renderer_marks_the_tune_invalid(tmp_path, monkeypatch):
    copy_tunes(tmp_path, "valid.abc")
    monkeypatch.setenv("ABCRNN_ABC2MIDI", fake_program(tmp_path, "abc2midi-crashes", "kill -SEGV $$"))
    result = render_tune(tmp_path / "valid.abc", MIDI_ONLY)
    assert result.midi_ok is False and result.timed_out is False and "crashed (SIGSEGV)" in result.message


def test_missing_program_says_how_to_install(tmp_path, monkeypatch, capsys):
    copy_tunes(tmp_path, "valid.abc")
    monkeypatch.setenv("ABCRNN_ABC2MIDI", "no-such-abc2midi")
    with pytest.raises(AbcrnnError, match=r"no-such-abc2midi: not found on PATH.*apt-get install abcmidi"):
        render_files([tmp_path / "valid.abc"], MIDI_ONLY, tmp_path / "out")
    monkeypatch.setenv("ABCRNN_ABCM2PS", "no-such-abcm2ps")
    assert cli(["render", "--dir", str(tmp_path), "--no-midi", "--out", str(tmp_path / "r.tsv")]) == 1
    assert "apt-get install abcm2ps" in capsys.readouterr().err


@needs_abc
def test_cli_renders_a_test_set_baseline_into_its_own_folder(tmp_path):
    tunes, rendered = tmp_path / "baseline", tmp_path / "baseline" / "rendered"
    choose = ["baseline", "--test", str(DATA / "oneills.txt"), "--count", "3", "--seed", "1",
              "--out", str(tunes / "tunes.tsv")]
    assert cli(choose) == 0
    abc = [str(tunes / f"0{n}.abc") for n in (1, 2, 3)]
    render = ["render", "--tunes", *abc, "--out-dir", str(rendered), "--out", str(tunes / "render.tsv"),
              "--no-score", "--threads", "2"]
    assert cli(render) == 0
    rows = read_tsv(tunes / "render.tsv")
    assert list(rows[0]) == RENDER_COLUMNS
    assert [r["file"] for r in rows] == ["01.abc", "02.abc", "03.abc"]
    # O'Neill's transcriptions often tie different notes, which abc2midi reports as errors
    assert all(r["midi_ok"] in ("True", "False") and int(r["notes"]) > 20 and r["score_ok"] == "" for r in rows)
    first = (tunes / "01.abc").read_text()
    assert first.startswith("X:") and "<start>" not in first
    assert cli(choose) == 0 and cli(render) == 0  # the same seed picks the same tunes
    assert (tunes / "01.abc").read_text() == first
    assert sorted(p.name for p in tunes.iterdir()) == ["01.abc", "02.abc", "03.abc", "render.tsv", "rendered",
                                                       "tunes.tsv"]
    assert sorted(p.name for p in rendered.iterdir()) == ["01.mid", "02.mid", "03.mid", "files.tsv"]


@needs_abc
def test_render_replaces_its_own_files_and_never_a_users(tmp_path, capsys):
    copy_tunes(tmp_path, "valid.abc", "broken.abc")
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    argv = ["render", "--tunes", str(tmp_path / "valid.abc"), str(tmp_path / "broken.abc"), "--out-dir", str(out),
            "--out", str(tmp_path / "render.tsv"), "--no-score"]
    assert cli(argv) == 0 and cli(argv) == 0  # a rerun replaces what the first run wrote
    assert sorted(p.name for p in out.iterdir()) == ["broken.mid", "files.tsv", "notes.txt", "valid.mid"]
    assert cli(argv[:3] + argv[4:]) == 0  # one tune fewer: the other's old MIDI goes too
    assert sorted(p.name for p in out.iterdir()) == ["files.tsv", "notes.txt", "valid.mid"]
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "valid.mid").write_bytes(b"my own recording")
    assert cli(["render", "--tunes", str(tmp_path / "valid.abc"), "--out-dir", str(mine), "--out",
                str(tmp_path / "r2.tsv"), "--no-score"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "valid.mid, which abcrnn render did not write" in err
    assert (mine / "valid.mid").read_bytes() == b"my own recording"


def test_baseline_with_fewer_test_tunes_than_asked_names_the_key(tmp_path, capsys):
    assert cli(["baseline", "--test", str(DATA / "oneills.txt"), "--count", "100000",
                "--out", str(tmp_path / "tunes.tsv")]) == 1
    assert "sample.baseline_tunes" in capsys.readouterr().err
    assert not (tmp_path / "tunes.tsv").exists()


@pytest.mark.skipif(not (shutil.which("abc2midi") and shutil.which("fluidsynth")
                         and any(os.path.exists(path) for path in SOUNDFONTS)),
                    reason="fluidsynth or its soundfont not installed")
def test_audio_is_rendered_from_the_midi(tmp_path):
    copy_tunes(tmp_path, "valid.abc")
    result = render_tune(tmp_path / "valid.abc", Settings(midi=True, score=False, audio=True, timeout=30))
    assert result.audio_ok is True
    assert (tmp_path / "valid.wav").read_bytes()[:4] == b"RIFF"


@needs_abc
@pytest.mark.parametrize("directive", ["%%abc-include {secret}", "%%format {secret}", "%%EPS {secret}",
                                       "I:abc-include {secret}", "[I:abc-include {secret}]"])
def test_a_tune_cannot_make_the_renderers_read_other_files(tmp_path, directive):
    """ABC text is untrusted: file-including directives never reach abc2midi or abcm2ps."""
    secret = tmp_path / "secret.abc"
    secret.write_text("X:99\nT:SECRET-TITLE\nM:4/4\nL:1/8\nK:C\n" + "cdef gabc'|" * 40 + "\n")
    clean = (DATA / "valid.abc").read_text()
    lines = clean.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("K:")) + 1
    hostile = tmp_path / "tunes" / "hostile.abc"
    hostile.parent.mkdir()
    hostile.write_text("\n".join(lines[:at] + [directive.format(secret=secret)] + lines[at:]) + "\n")
    copy_tunes(tmp_path / "tunes", "valid.abc")
    result = render_tune(hostile, Settings(timeout=20), tmp_path / "out")
    reference = render_tune(tmp_path / "tunes" / "valid.abc", Settings(timeout=20), tmp_path / "ref")
    assert result.notes == reference.notes  # the secret tune's 320 notes did not come in
    assert "SECRET" not in (tmp_path / "out" / "hostile.svg").read_text()
    assert not (tmp_path / "out" / "hostile-p2.svg").exists()


def test_renderable_drops_directives_and_instructions_only():
    from abcrnn.notation.tunes import renderable

    tune = "X:1\nT:A\n%%abc-include x.abc\nI:abc-include y\n+:more\nK:D\nab [I:format z] cd|\n%%EPS e.ps\nefg|"
    assert renderable(tune) == "X:1\nT:A\nK:D\nab  cd|\nefg|"


SLOW = ("X:1\nT:Slow\nM:4/4\nL:1/8\nQ:1/8=1\nK:G\n"  # 1.8 kB, one eighth a second: 34 minutes
        + "|".join(["GABc dedB", "dBAG A4", "GABc d2e2", "fedc B4"] * 50) + "|]\n")
LONG_NOTES = "X:2\nT:Long notes\nM:4/4\nL:1/8\nK:C\nA99999|B99999|c99999|\n"  # 21 hours


def many_notes(count: int) -> str:
    music = "".join("ABCDEFGabcdefg"[(i * 5) % 14] + ("|" if i % 8 == 7 else "") + ("\n" if i % 64 == 63 else "")
                    for i in range(count))
    return f"X:3\nT:Many notes\nM:4/4\nL:1/8\nK:C\n{music}|]\n"


def wav_seconds(path: Path) -> float:
    import wave

    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


@needs_abc
@needs_audio
def test_recordings_and_scores_are_capped_and_render_tsv_says_what_was_cut(tmp_path):
    """A 2 kB tune at `Q:1/8=1` wrote a 181 MB WAV; `A99999|...` kept fluidsynth writing until the
    timeout; a long tune gave hundreds of SVG pages. Recordings stop at MAX_AUDIO_S (as the
    gallery's), scores at MAX_SCORE_PAGES pages, and render.tsv's `cut` column says what went."""
    tunes = tmp_path / "tunes"
    tunes.mkdir()
    (tunes / "slow.abc").write_text(SLOW)
    (tunes / "long-notes.abc").write_text(LONG_NOTES)
    (tunes / "many.abc").write_text(many_notes(10_000))
    shutil.copy(DATA / "valid.abc", tunes / "valid.abc")
    out = tmp_path / "rendered"
    assert cli(["render", "--dir", str(tunes), "--out-dir", str(out), "--out", str(tmp_path / "render.tsv"),
                "--audio", "--timeout", "30", "--threads", "2"]) == 0
    rows = {r["file"]: r for r in read_tsv(tmp_path / "render.tsv")}
    assert list(next(iter(rows.values()))) == RENDER_COLUMNS and "cut" in RENDER_COLUMNS
    for name in ("slow", "long-notes", "many"):
        row = rows[f"{name}.abc"]
        assert row["audio_ok"] == "True" and row["timed_out"] == "False", row
        assert MAX_AUDIO_S - 1 < wav_seconds(out / f"{name}.wav") <= MAX_AUDIO_S + 5
        assert (out / f"{name}.wav").stat().st_size < 20_000_000
        assert f"audio: the first {MAX_AUDIO_S} s of " in row["cut"], row
    assert rows["slow.abc"]["cut"].startswith(f"audio: the first {MAX_AUDIO_S} s of 2048 s")
    pages = sorted(out.glob("many*.svg"))
    assert len(pages) == MAX_SCORE_PAGES and (out / f"many-p{MAX_SCORE_PAGES}.svg").exists()
    assert f"score: the first {MAX_SCORE_PAGES} of " in rows["many.abc"]["cut"]
    assert rows["valid.abc"]["cut"] == "" and wav_seconds(out / "valid.wav") < 30
    listed = (out / "files.tsv").read_text().split()
    assert "many-p20.svg" in listed and "many-p21.svg" not in listed


def peak_and_rms_dbfs(samples) -> tuple[float, float]:
    import numpy as np

    samples = np.asarray(samples, dtype=np.float64)
    return 20 * np.log10(np.abs(samples).max()), 20 * np.log10(np.sqrt(np.mean(samples ** 2)))


def wav_samples(path: Path):
    import wave

    import numpy as np

    with wave.open(str(path)) as w:
        assert (w.getsampwidth(), w.getnchannels()) == (2, 2)
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2") / 32768


@needs_audio
def test_a_recording_is_normalised_to_a_peak_of_minus_1_dbfs(tmp_path):
    """Recordings at -20 dBFS peak (-35 dBFS RMS) are quiet next to any other music: each is scaled
    so that its loudest sample is at -1 dBFS (peak normalisation)."""
    from abc_examples import ONEILLS

    (tmp_path / "tune.abc").write_text(ONEILLS[0] + "\n")
    result = render_tune(tmp_path / "tune.abc", Settings(midi=True, score=False, audio=True, timeout=30))
    assert result.audio_ok is True
    peak, rms = peak_and_rms_dbfs(wav_samples(tmp_path / "tune.wav"))
    assert abs(peak - (-1.0)) <= 1.0, peak
    assert rms > -25, rms
