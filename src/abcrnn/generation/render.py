"""Rendering ABC tunes with external programs: abc2midi (MIDI), abcm2ps (SVG score), fluidsynth (WAV).

abc2midi exits 0 even when it reports errors and writes a MIDI file even for a tune without notes,
so its messages are parsed and the notes counted in the MIDI. A program that crashes or runs past
the timeout marks only that tune invalid. Program names can be overridden with the environment
variables ABCRNN_ABC2MIDI, ABCRNN_ABCM2PS and ABCRNN_FLUIDSYNTH (and the soundfont with
ABCRNN_SOUNDFONT); a tune's file reaches them as `./NAME.abc`, never as a flag.

Tunes are untrusted, so what they make is capped: a recording plays at most the first MAX_AUDIO_S
seconds (the gallery's recordings too), a score keeps at most MAX_SCORE_PAGES pages, and
render.tsv's `cut` column says what was left out. Every recording is peak-normalised: scaled so that
its loudest sample is at PEAK_DBFS (-1 dBFS), as loud as other music, whatever the soundfont's level
(normalised_audio; the gallery's Ogg files too).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
from tqdm import tqdm

from abcrnn.notation.tunes import renderable
from abcrnn.errors import AbcrnnError
from abcrnn.fileio import claim_folder, write_tsv

PROGRAMS = {  # program: (environment variable, default, Debian packages)
    "abc2midi": ("ABCRNN_ABC2MIDI", "abc2midi", "abcmidi"),
    "abcm2ps": ("ABCRNN_ABCM2PS", "abcm2ps", "abcm2ps"),
    "fluidsynth": ("ABCRNN_FLUIDSYNTH", "fluidsynth", "fluidsynth timgm6mb-soundfont"),
}
# General MIDI soundfonts, in the order they are looked for: Debian's timgm6mb-soundfont (5 MB) first,
# then fluid-soundfont-gm (120 MB), then whichever the system's default-GM link names.
SOUNDFONTS = ("/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf2/FluidR3_GM.sf2",
              "/usr/share/sounds/sf2/default-GM.sf2")
SAMPLE_RATE = 22050
# Caps on what one tune makes, shared by `abcrnn render` and the gallery: a 2 kB tune at `Q:1/8=1`
# plays for 34 minutes (a 181 MB WAV), `A99999|` for hours, and 50,000 notes fill hundreds of pages.
MAX_AUDIO_S = 180  # a recording plays at most the first 3 minutes of a tune (at most 16 MB of WAV)
MAX_SCORE_PAGES = 20  # a score keeps at most its first 20 SVG pages
CLIP_TEMPO = 500_000  # microseconds per beat in a clipped MIDI copy
# Loudness: fluidsynth at SYNTH_GAIN put the recordings' peaks at about -20 dBFS (RMS -35 dBFS); each
# is scaled so that its peak is at PEAK_DBFS, by at most MAX_SYNTH_GAIN (fluidsynth's largest gain),
# so that a nearly silent recording is not blown up into noise.
PEAK_DBFS = -1.0
SYNTH_GAIN = 0.5
MAX_SYNTH_GAIN = 10.0
# errors: abc2midi's errors; header_errors: those of them in the header (a tune's K: line and before:
# "Hornpipe must be in 2/4 or 4/4 time" belongs to the header a sample was primed with); body_errors:
# abc2midi's and abcm2ps's errors in the body, the text a model wrote
RENDER_COLUMNS = ["file", "midi_ok", "notes", "errors", "header_errors", "body_errors", "warnings", "score_ok",
                  "audio_ok", "timed_out", "cut", "message"]
MESSAGE_CHARS = 300

_ERROR = re.compile(r"^\s*Error\b")
_SCORE_ERROR = re.compile(r":\d+:\d+: error:")  # abcm2ps: FILE:LINE:COL: error: …
_WARNING = re.compile(r"^\s*Warning\b")


# --- running programs ---------------------------------------------------------------------------

def program(name: str) -> str:
    """The path of an external program, or an AbcrnnError saying how to install it."""
    env, default, package = PROGRAMS[name]
    command = os.environ.get(env) or default
    found = shutil.which(command)
    if not found:
        raise AbcrnnError(f"{command}: not found on PATH; install it with `apt-get install {package}`"
                          f" (or set {env} to the program)")
    return found


def soundfont() -> str:
    """ABCRNN_SOUNDFONT, else the first of SOUNDFONTS that exists."""
    chosen = os.environ.get("ABCRNN_SOUNDFONT")
    if chosen:
        if not Path(chosen).is_file():
            raise AbcrnnError(f"{chosen}: soundfont not found (ABCRNN_SOUNDFONT)")
        return chosen
    found = next((path for path in SOUNDFONTS if Path(path).is_file()), None)
    if found is None:
        raise AbcrnnError(f"no General MIDI soundfont in {', '.join(SOUNDFONTS)}; install one with"
                          " `apt-get install timgm6mb-soundfont` (or set ABCRNN_SOUNDFONT)")
    return found


@dataclass
class Run:
    returncode: int | None  # None when the program could not finish
    output: str             # stdout and stderr, interleaved
    timed_out: bool = False
    failure: str = ""       # why it did not finish normally


def run_program(args: list[str], timeout: float, cwd=None) -> Run:
    """Run a program without a shell; on timeout kill its whole process group (it may have children)."""
    try:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=cwd, start_new_session=True)
    except OSError as exc:
        return Run(None, "", failure=f"{Path(args[0]).name} could not start: {exc.strerror}")
    with proc:
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            try:
                out, _ = proc.communicate(timeout=5)
            except subprocess.TimeoutExpired:  # a descendant left the group and holds the pipe
                out = b""
            return Run(None, _text(out), True, f"{Path(args[0]).name} timed out after {timeout:g} s")
    text = _text(out)
    if proc.returncode < 0:
        return Run(proc.returncode, text, failure=f"{Path(args[0]).name} crashed ({_signal_name(-proc.returncode)})")
    return Run(proc.returncode, text)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:  # it ended just now
        pass


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _as_path(abc: Path) -> str:
    """The tune's file name as a renderer run in its folder must get it: `./-v.abc`, never a flag."""
    return f"./{abc.name}"


def abc2midi_messages(output: str) -> tuple[list[str], list[str]]:
    """(error lines, warning lines) from abc2midi's output, e.g. 'Error in line-char 6-30 : …'.

    abc2midi repeats some messages once per pass or track; each distinct line counts once.
    """
    lines = list(dict.fromkeys(line.strip() for line in output.splitlines()))
    return [x for x in lines if _ERROR.match(x)], [x for x in lines if _WARNING.match(x)]


def _line_of(message: str) -> int:
    """The line an abc2midi ('Error in line-char 7-12 : …') or abcm2ps ('t.abc:7:12: error: …')
    message is about; 0 when it names none."""
    m = re.search(r"line-char (\d+)-|:(\d+):\d+: ", message)
    return int(m.group(1) or m.group(2)) if m else 0


def header_end(abc: Path) -> int:
    """The line number of a tune file's K: line (its header's end); 0 without one."""
    try:
        lines = abc.read_text(encoding="utf-8", errors="replace").split("\n")
    except OSError:
        return 0
    return next((k + 1 for k, line in enumerate(lines) if line.startswith("K:")), 0)


def count_notes(path: Path) -> int:
    """Notes sounded in a MIDI file: note_on events with velocity > 0, over all tracks."""
    midi = mido.MidiFile(path)
    return sum(1 for track in midi.tracks for msg in track if msg.type == "note_on" and msg.velocity > 0)


# --- rendering one tune ---------------------------------------------------------------------------

@dataclass
class Rendered:
    file: str
    midi_ok: bool | str = ""    # "" when the step was not asked for
    notes: int | str = ""
    errors: int | str = ""
    header_errors: int | str = ""
    body_errors: int | str = 0
    warnings: int | str = ""
    score_ok: bool | str = ""
    audio_ok: bool | str = ""
    timed_out: bool = False
    cut: str = ""               # what the caps left out: "audio: the first 180 s of 2048 s; score: …"
    message: str = ""


@dataclass(frozen=True)
class Settings:
    midi: bool = True
    score: bool = True
    audio: bool = False
    timeout: float = 20.0


def render_midi(abc: Path, out_dir: Path, timeout: float, result: Rendered, problems: list[str]) -> None:
    """abc2midi → out_dir/{n}.mid; midi_ok when it finished, reported no errors and wrote a readable MIDI.

    abc2midi exits 0 when it rendered, errors or not, and 1 when it gave up half way (say "eputc:
    aborting because of file runaway (infinite loop)" when a tune's repeats make the MIDI file grow
    past its limit): its half-written MIDI file is no rendering, and is not kept.
    """
    target = out_dir / f"{abc.stem}.mid"
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".render-") as tmp:
        out = Path(tmp).resolve() / target.name
        run = run_program([program("abc2midi"), _as_path(abc), "-o", str(out)], timeout, cwd=abc.parent)
        errors, warnings = abc2midi_messages(run.output)
        result.errors, result.warnings = len(errors), len(warnings)
        lines = [_line_of(e) for e in errors]
        result.header_errors = sum(0 < n <= header_end(abc) for n in lines)
        result.body_errors += len(errors) - result.header_errors
        result.timed_out |= run.timed_out
        failure = run.failure
        if not failure and run.returncode:
            lines = [x.strip() for x in run.output.splitlines()
                     if x.strip() and not re.match(r"\s*(Warning\b|writing MIDI file)", x)]
            why = next((x for x in lines if re.search(r"\babort|\bfail", x, re.I)), lines[-1] if lines else "")
            failure = f"abc2midi aborted (exit status {run.returncode}){': ' + why if why else ''}"
        if failure:
            problems.append(failure)
        problems.extend(f"abc2midi: {e}" for e in errors[:2])
        if len(errors) > 2:
            problems.append(f"abc2midi: {len(errors) - 2} more error(s)")
        notes = None
        if out.exists() and not failure:
            try:
                notes = count_notes(out)
            except Exception as exc:  # mido rejects a malformed file with various exception types
                problems.append(f"abc2midi wrote an unreadable MIDI file ({exc})")
            else:
                os.replace(out, target)
        elif not failure and not errors:
            problems.append("abc2midi wrote no MIDI file")
    result.notes = notes if notes is not None else 0
    result.midi_ok = notes is not None and not errors


def render_score(abc: Path, out_dir: Path, timeout: float, result: Rendered, problems: list[str],
                 cuts: list[str] | None = None) -> None:
    """abcm2ps -g → {n}.svg, one cropped SVG for the tune (abcm2ps names it {n}001.svg).

    abcm2ps -g overflows its output buffer on very long tunes; those are typeset as pages
    instead (-v): {n}.svg is the first page, {n}-p2.svg … the others, at most MAX_SCORE_PAGES
    (`cuts` says how many more there were). score_ok means a score was typeset; abcm2ps's complaints
    about the tune go to the message.
    """
    run, svgs, total = _abcm2ps(abc, out_dir, "-g", timeout)
    if not svgs and "buffer overflow" in run.output:
        run, svgs, total = _abcm2ps(abc, out_dir, "-v", timeout)
    if total > len(svgs) and cuts is not None:
        cuts.append(f"score: the first {len(svgs)} of {total} pages")
    result.timed_out |= run.timed_out
    if run.failure:
        problems.append(run.failure)
    elif not svgs:
        problems.append(f"abcm2ps wrote no score ({_first_problem(run.output, 'no tune found: missing X: line?')})")
    elif run.returncode != 0:  # it typesets what it can and exits 1 on any error in the tune
        problems.append(f"abcm2ps: {_first_problem(run.output)}")
    end = header_end(abc)
    result.body_errors += sum(_line_of(x) > end for x in dict.fromkeys(run.output.splitlines()) if _SCORE_ERROR.search(x))
    result.score_ok = bool(svgs) and not run.failure


def _abcm2ps(abc: Path, out_dir: Path, mode: str, timeout: float) -> tuple[Run, list[Path], int]:
    """Run abcm2ps in a scratch directory and move the first MAX_SCORE_PAGES SVG pages it wrote into
    out_dir: (its run, those pages, how many it wrote)."""
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".render-") as tmp:
        run = run_program([program("abcm2ps"), mode, _as_path(abc), "-O",
                           str(Path(tmp).resolve() / f"{abc.stem}.svg")], timeout, cwd=abc.parent)
        # {n}001.svg, {n}002.svg, … {n}1000.svg: one prefix, so a longer name is a later page
        written = sorted(Path(tmp).glob("*.svg"), key=lambda p: (len(p.name), p.name))
        pages = written[:MAX_SCORE_PAGES]
        if run.failure:
            return run, [], 0
        targets = [out_dir / f"{abc.stem}.svg"] + [out_dir / f"{abc.stem}-p{i}.svg" for i in range(2, len(pages) + 1)]
        for target in targets[1: len(pages)]:
            if target.exists():  # an earlier rendering's pages were removed: this one is not abcrnn's
                raise AbcrnnError(f"{target}: exists and was not written by abcrnn render; choose a new --out-dir")
        for page, target in zip(pages, targets):
            os.replace(page, target)
    return run, targets[: len(pages)], len(written)


def synthesize(midi: Path, out: Path, timeout: float, file_type: str, gain: float = SYNTH_GAIN) -> Run:
    """fluidsynth plays `midi` with the General MIDI soundfont into `out`: `raw` (little-endian 32-bit
    float, stereo: nothing clips, to be measured), `wav` or `oga` (Ogg Vorbis)."""
    sample_format = ["-O", "float", "-E", "little"] if file_type == "raw" else []
    return run_program([program("fluidsynth"), "-ni", "-q", "-g", f"{gain:.6g}", "-r", str(SAMPLE_RATE),
                        "-T", file_type, *sample_format, "-F", str(out), soundfont(), str(midi)],
                       timeout, cwd=out.parent)


def peak_gain(samples: np.ndarray) -> float:
    """The factor that puts the peak of `samples` at PEAK_DBFS (1 for silence), at most
    MAX_SYNTH_GAIN / SYNTH_GAIN."""
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if not peak > 0:
        return 1.0
    return min(10 ** (PEAK_DBFS / 20) / peak, MAX_SYNTH_GAIN / SYNTH_GAIN)


def read_raw(path: Path) -> np.ndarray:
    """The samples of a `synthesize(..., "raw")` file."""
    return np.fromfile(path, dtype="<f4")


def write_wav(path: Path, samples: np.ndarray) -> None:
    """Interleaved stereo float samples as a 16-bit WAV file at SAMPLE_RATE."""
    import wave

    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes(pcm.tobytes())


def normalised_audio(midi: Path, target: Path, timeout: float) -> Run:
    """A recording of `midi` in target (.wav or .oga/.ogg), its peak at PEAK_DBFS: fluidsynth renders
    it once as float samples, which are measured; a WAV is those samples scaled, an Ogg file is
    rendered again with the gain that puts its peak there (Vorbis coding moves a peak by a few
    tenths of a dB). `target` is written only when the returned Run succeeded."""
    raw = target.with_name(f".{target.stem}.raw")
    try:
        run = synthesize(midi, raw, timeout, "raw")
        if run.returncode != 0 or run.failure or not raw.exists():
            return run
        samples = read_raw(raw)
        gain = peak_gain(samples)
        if target.suffix == ".wav":
            write_wav(target, samples * gain)
            return run
        del samples
        return synthesize(midi, target, timeout, "oga", SYNTH_GAIN * gain)
    finally:
        raw.unlink(missing_ok=True)


def render_audio(abc: Path, out_dir: Path, timeout: float, result: Rendered, problems: list[str],
                 cuts: list[str] | None = None) -> None:
    """fluidsynth renders out_dir/{n}.mid with the General MIDI soundfont into out_dir/{n}.wav: its
    first MAX_AUDIO_S seconds (`cuts` says how long the tune was), peak-normalised to PEAK_DBFS."""
    midi, target = out_dir / f"{abc.stem}.mid", out_dir / f"{abc.stem}.wav"
    if not midi.exists():
        result.audio_ok = False
        problems.append("no MIDI file to play")
        return
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".render-") as tmp:
        out, played = Path(tmp).resolve() / target.name, Path(tmp).resolve() / midi.name
        try:
            length = clip_midi(midi, played, MAX_AUDIO_S)
        except Exception as exc:  # mido rejects a malformed file with various exception types
            result.audio_ok = False
            problems.append(f"no audio: unreadable MIDI file ({exc})")
            return
        run = normalised_audio(played, out, timeout)
        result.timed_out |= run.timed_out
        ok = run.returncode == 0 and not run.failure and out.exists() and out.stat().st_size > 0
        if ok:
            os.replace(out, target)
            if length is not None and cuts is not None:
                cuts.append(f"audio: the first {MAX_AUDIO_S} s of {length:.0f} s")
        else:
            problems.append(run.failure or f"fluidsynth failed: {_first_problem(run.output)}")
    result.audio_ok = ok


def clip_midi(source: Path, target: Path, seconds: float) -> float | None:
    """Write the first `seconds` of a MIDI file to target and return the file's whole length in
    seconds, or copy the file itself when it is no longer (None): a loop that never ends, or one note
    of two hours, should not take two hours of rendering. The clipped copy keeps every message's
    timing at one tempo and ends every note."""
    midi = mido.MidiFile(source)
    length = midi.length
    if length <= seconds:
        shutil.copyfile(source, target)
        return None
    ticks_per_second = midi.ticks_per_beat * 1_000_000 / CLIP_TEMPO
    track = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=CLIP_TEMPO, time=0)])
    now, last_tick, sounding = 0.0, 0, set()
    for msg in midi:  # merged tracks, times in seconds with the file's tempo changes applied
        now += msg.time
        if now > seconds:
            break
        if msg.is_meta:  # tempo changes are in the timing already; names and markers are not needed
            continue
        tick = round(now * ticks_per_second)
        track.append(msg.copy(time=tick - last_tick))
        last_tick = tick
        if msg.type == "note_on" and msg.velocity > 0:
            sounding.add((msg.channel, msg.note))
        elif msg.type in ("note_off", "note_on"):
            sounding.discard((msg.channel, msg.note))
    end = round(seconds * ticks_per_second)
    for k, (channel, note) in enumerate(sorted(sounding)):
        track.append(mido.Message("note_off", channel=channel, note=note, time=end - last_tick if k == 0 else 0))
    clipped = mido.MidiFile(type=0, ticks_per_beat=midi.ticks_per_beat)
    clipped.tracks.append(track)
    clipped.save(target)
    return length


def _first_problem(output: str, default: str = "no message") -> str:
    """The first line of a program's output that reports a problem."""
    flagged = [x.strip() for x in output.splitlines() if re.search(r"error|warning|abort|fail", x, re.I)]
    return (flagged or [default])[0]


def render_tune(abc: Path, settings: Settings, out_dir: Path | None = None) -> Rendered:
    """Render one .abc file into out_dir (default: beside it); an earlier rendering's outputs go first."""
    out_dir = abc.parent if out_dir is None else out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    for suffix, wanted in ((".mid", settings.midi), (".svg", settings.score), (".wav", settings.audio)):
        if wanted:
            (out_dir / f"{abc.stem}{suffix}").unlink(missing_ok=True)
    result, problems, cuts = Rendered(abc.name), [], []
    try:
        text = abc.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise AbcrnnError(f"{abc}: cannot read ({exc.strerror})") from None
    # The renderers see a cleaned copy, alone in a scratch folder: nothing in a tune can make them read other files.
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".tune-") as scratch:
        safe = Path(scratch) / abc.name
        safe.write_text(renderable(text), encoding="utf-8")
        if settings.midi:
            render_midi(safe, out_dir, settings.timeout, result, problems)
        if settings.score:
            render_score(safe, out_dir, settings.timeout, result, problems, cuts)
        if settings.audio:
            render_audio(safe, out_dir, settings.timeout, result, problems, cuts)
    result.cut = "; ".join(cuts)
    result.message = _one_line("; ".join(problems))
    return result


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MESSAGE_CHARS else text[: MESSAGE_CHARS - 1] + "…"


# --- rendering a directory ------------------------------------------------------------------------

def tune_files(directory: Path) -> list[Path]:
    """The *.abc files of a directory, numbered ones in numeric order."""
    def key(path: Path):
        return (0, int(path.stem), "") if path.stem.isdigit() else (1, 0, path.stem)

    return sorted((p for p in directory.glob("*.abc") if p.is_file()), key=key)


def check_programs(settings: Settings) -> None:
    """Fail early, with install advice, when a program the settings need is missing."""
    if settings.midi:
        program("abc2midi")
    if settings.score:
        program("abcm2ps")
    if settings.audio:
        program("fluidsynth")
        soundfont()


LEDGER = "files.tsv"  # what `abcrnn render` wrote into its output folder, so reruns replace only that


def render_files(files: list[Path], settings: Settings, out_dir: Path, threads: int = 1,
                 progress: bool = False) -> list[Rendered]:
    """Render .abc files into out_dir, `threads` tunes at a time; results in the order of files.

    out_dir may hold earlier renderings (listed in its files.tsv), which are replaced; a file of the
    same name that abcrnn did not write stops the run instead of being overwritten.
    """
    if settings.audio and not settings.midi:
        raise AbcrnnError("--audio needs --midi (audio is rendered from the MIDI file)")
    for f in files:
        if not f.is_file():
            raise AbcrnnError(f"{f}: no such tune file")
    stems = [f.stem for f in files]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise AbcrnnError(f"{twice[0]}.abc: given twice (tunes rendered into one folder need different names)")
    check_programs(settings)
    suffixes = [suffix for suffix, wanted in ((".mid", settings.midi), (".svg", settings.score),
                                              (".wav", settings.audio)) if wanted]
    names = [f"{stem}{suffix}" for stem in stems for suffix in suffixes]
    out_dir.mkdir(parents=True, exist_ok=True)
    claim_folder(out_dir, [*names, LEDGER], LEDGER, "abcrnn render")
    write_tsv(out_dir / LEDGER, [{"file": n} for n in names], ["file"])  # first: a killed run still owns them
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        jobs = pool.map(lambda f: render_tune(f, settings, out_dir), files)
        results = list(tqdm(jobs, total=len(files), desc="rendering", unit="tune",
                            disable=None if progress else True, file=sys.stderr))
    pages = sorted(p.name for stem in stems for p in out_dir.glob(f"{stem}-p*.svg"))
    write_tsv(out_dir / LEDGER, [{"file": n} for n in [*names, *pages]], ["file"])
    return results
