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
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import mido
from tqdm import tqdm

from abcrnn.errors import AbcrnnError
from abcrnn.fileio import claim_folder, write_tsv
from abcrnn.generation.audio import MAX_AUDIO_S, clip_midi, normalised_audio
from abcrnn.generation.programs import Run, program, run_program, soundfont
from abcrnn.notation.tunes import renderable

MAX_SCORE_PAGES = 20  # a score keeps at most its first 20 SVG pages
# errors: abc2midi's errors; header_errors: those the header caused ("Hornpipe must be in 2/4 or 4/4
# time" in the header a sample was primed with, and the body's "Cannot apply broken rhythm" that only
# R:hornpipe brings); body_errors: abc2midi's and abcm2ps's other errors, in the text a model wrote
RENDER_COLUMNS = ["file", "midi_ok", "notes", "errors", "header_errors", "body_errors", "warnings", "score_ok",
                  "audio_ok", "timed_out", "cut", "message"]
MESSAGE_CHARS = 300

_ERROR = re.compile(r"^\s*Error\b")
_SCORE_ERROR = re.compile(r":\d+:\d+: error:")  # abcm2ps: FILE:LINE:COL: error: …
_WARNING = re.compile(r"^\s*Warning\b")


# --- running programs ---------------------------------------------------------------------------


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


_HORNPIPE = re.compile(r"R:\s*hornpipe", re.IGNORECASE)


def _rhythm_line(abc: Path, end: int) -> int:
    """The line number of an `R:hornpipe` line in the header (0 without one). abc2midi plays a
    hornpipe's note pairs as broken rhythm and reports pairs it cannot ("Cannot apply broken rhythm"),
    errors in the body that the header caused."""
    try:
        lines = abc.read_text(encoding="utf-8", errors="replace").split("\n")[:end]
    except OSError:
        return 0
    return next((k + 1 for k, line in enumerate(lines) if _HORNPIPE.match(line)), 0)


def _body_errors_without_line(abc: Path, line: int, end: int, tmp: Path, timeout: float) -> list[str]:
    """abc2midi's body errors for the tune with its header line `line` (the `R:` line) emptied (same
    line numbers)."""
    lines = abc.read_text(encoding="utf-8", errors="replace").split("\n")
    lines[line - 1] = "R:"
    plain = tmp / "plain.abc"
    plain.write_text("\n".join(lines), encoding="utf-8")
    run = run_program([program("abc2midi"), _as_path(plain), "-o", str(tmp / "plain.mid")], timeout, cwd=tmp)
    return [e for e in abc2midi_messages(run.output)[0] if _line_of(e) > end or not _line_of(e)]


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
        end = header_end(abc)
        body = [e for e in errors if _line_of(e) > end or not _line_of(e)]
        if body and (rhythm := _rhythm_line(abc, end)):
            body = _body_errors_without_line(abc, rhythm, end, Path(tmp).resolve(), timeout)
        result.header_errors = len(errors) - len(body)
        result.body_errors += len(body)
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
