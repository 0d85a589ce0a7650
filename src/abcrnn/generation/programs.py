"""The external programs the renderers run: finding them (abc2midi, abcm2ps, fluidsynth, a General MIDI
soundfont) and running one with list arguments, a timeout and its process group killed when it
runs over, its messages read as text."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from abcrnn.errors import AbcrnnError

PROGRAMS = {  # program: (environment variable, default, Debian packages)
    "abc2midi": ("ABCRNN_ABC2MIDI", "abc2midi", "abcmidi"),
    "abcm2ps": ("ABCRNN_ABCM2PS", "abcm2ps", "abcm2ps"),
    "fluidsynth": ("ABCRNN_FLUIDSYNTH", "fluidsynth", "fluidsynth timgm6mb-soundfont"),
}


# General MIDI soundfonts, in the order they are looked for: Debian's timgm6mb-soundfont (5 MB) first,
# then fluid-soundfont-gm (120 MB), then whichever the system's default-GM link names.
SOUNDFONTS = ("/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf2/FluidR3_GM.sf2",
              "/usr/share/sounds/sf2/default-GM.sf2")


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
