"""Synthesized two-track calls (espeak-ng speaks, sox converts) for tests, benchmarks and demos.

Each line of a script is spoken by espeak-ng, converted by sox to the recording format Asterisk writes
(8 kHz mono 16-bit), and placed at its start time on the speaker's own track. The result has exactly the
shape of a real call's recordings: a caller track, an agent track, the same length.
"""

from __future__ import annotations

import array
import random
import shutil
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

RATE = 8000


class SynthError(Exception):
    """espeak-ng or sox is missing or failed; str() says what to install or what went wrong."""


@dataclass(frozen=True)
class Line:
    speaker: str  # caller / agent
    text: str
    start: float | None = None  # None: `gap` seconds after the previous line ends
    voice: str = "cmn"
    gap: float = 0.8


@dataclass(frozen=True)
class Spoken:
    speaker: str
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class SynthCall:
    paths: dict[str, Path]
    spoken: tuple[Spoken, ...]
    duration: float


def _tool(name: str) -> str:
    found = shutil.which(name)
    if not found:
        raise SynthError(f"{name} not found: install the Debian package '{name}'")
    return found


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise SynthError(f"{Path(cmd[0]).name} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-300:]}")


def speak(text: str, out: Path, *, voice: str = "cmn", speed: int = 170) -> array.array[int]:
    """Speak text to an 8 kHz mono 16-bit WAV at out; returns its samples."""
    raw = out.with_suffix(".raw.wav")
    _run([_tool("espeak-ng"), "-v", voice, "-s", str(speed), "-w", str(raw), text])
    # A little gain headroom: sox warns (and clips) when resampling loud espeak output. -R: the same dither
    # every time, so the same text gives the same audio (and the same transcript).
    _run([_tool("sox"), "-R", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out), "gain", "-3"])
    raw.unlink(missing_ok=True)
    with wave.open(str(out), "rb") as w:
        samples = array.array("h")
        samples.frombytes(w.readframes(w.getnframes()))
    return samples


def synthesize_call(lines: list[Line], out_dir: Path, *, name: str = "call", tail_seconds: float = 1.0,
                    noise: int = 24, seed: int = 1, speed: int = 200) -> SynthCall:
    """Write <out_dir>/<name>-caller.wav and -agent.wav; returns paths and when each line is heard."""
    out_dir.mkdir(parents=True, exist_ok=True)
    placed: list[tuple[float, Line, array.array[int]]] = []
    spoken: list[Spoken] = []
    with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
        for i, line in enumerate(lines):
            if line.speaker not in ("caller", "agent"):
                raise SynthError(f"line {i + 1}: speaker must be caller or agent, not {line.speaker!r}")
            samples = speak(line.text, Path(tmp) / f"{i}.wav", voice=line.voice, speed=speed)
            start = line.start if line.start is not None else (spoken[-1].end + line.gap if spoken else line.gap)
            placed.append((start, line, samples))
            spoken.append(Spoken(line.speaker, start, start + len(samples) / RATE, line.text))
    total = int((max((s.end for s in spoken), default=0.0) + tail_seconds) * RATE)
    paths: dict[str, Path] = {}
    rng = random.Random(seed)
    for speaker in ("caller", "agent"):
        # A faint noise floor like a real line: digital silence is not what a recogniser ever hears.
        track = array.array("h", (rng.randint(-noise, noise) for _ in range(total)))
        for start, line, samples in placed:
            if line.speaker != speaker:
                continue
            at = int(start * RATE)
            for j, v in enumerate(samples):
                if at + j < total:
                    track[at + j] = max(-32768, min(32767, track[at + j] + v))
        path = out_dir / f"{name}-{speaker}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(track.tobytes())
        paths[speaker] = path
    return SynthCall(paths=paths, spoken=tuple(spoken), duration=total / RATE)
