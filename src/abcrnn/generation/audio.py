"""Recordings of tunes: MIDI played by fluidsynth, capped in length (clip_midi) and brought to a
peak of PEAK_DBFS (normalised_audio: one float render measures the peak, then the WAV is scaled or
the Ogg re-rendered at the gain)."""

from __future__ import annotations

import shutil
from pathlib import Path

import mido
import numpy as np

from abcrnn.generation.programs import Run, program, run_program, soundfont

SAMPLE_RATE = 22050


# Caps on what one tune makes, shared by `abcrnn render` and the gallery: a 2 kB tune at `Q:1/8=1`
# plays for 34 minutes (a 181 MB WAV), `A99999|` for hours, and 50,000 notes fill hundreds of pages.
MAX_AUDIO_S = 180  # a recording plays at most the first 3 minutes of a tune (at most 16 MB of WAV)


CLIP_TEMPO = 500_000  # microseconds per beat in a clipped MIDI copy


# Loudness: fluidsynth at SYNTH_GAIN put the recordings' peaks at about -20 dBFS (RMS -35 dBFS); each
# is scaled so that its peak is at PEAK_DBFS, by at most MAX_SYNTH_GAIN (fluidsynth's largest gain),
# so that a nearly silent recording is not blown up into noise.
PEAK_DBFS = -1.0


SYNTH_GAIN = 0.5


MAX_SYNTH_GAIN = 10.0


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
