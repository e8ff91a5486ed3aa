"""Vosk transcription of one mono track into segments with word times.

The model is loaded once per Transcriber (once per worker process); recognition is blocking C code, so
async callers run `transcribe` in a thread. Each Vosk result (an utterance ended by its endpointer) becomes
one segment. Words are joined without spaces between Chinese characters and with spaces otherwise.
"""

from __future__ import annotations

import json
import re
import wave
from pathlib import Path
from typing import Any, Callable

from ivr.speech.model import without_dither
from recordings.exceptions import RecordingError
from recordings.qa.model import Segment, Word
from recordings.qa.text import join_words

# Vosk models emit bracketed tokens for noise and unknown words ([unk], [noise], [2]...): not speech.
_NON_SPEECH = re.compile(r"^(\[.*\]|<.*>)$")
CHUNK_FRAMES = 4000


class ModelError(Exception):
    """The Vosk model cannot be loaded; str() says which path and what to do."""


def load_model(model_path: str | Path, *, deterministic: bool = True) -> Any:
    """Load a Vosk model directory (blocking, seconds). Never downloads anything."""
    p = Path(model_path)
    if not (p / "am").is_dir() and not (p / "conf").is_dir():
        raise ModelError(f"{p}: not a Vosk model directory (expected am/ and conf/ inside); set [vosk] model_path")
    if deterministic:
        try:
            p = without_dither(p)
        except OSError as exc:
            raise ModelError(f"{p}: cannot prepare the model view without dither: {exc}") from None
    from vosk import Model, SetLogLevel

    SetLogLevel(-1)  # Kaldi's own logging would flood the worker's stderr
    try:
        return Model(str(p))
    except Exception as exc:  # vosk raises a bare Exception when Kaldi refuses the files
        raise ModelError(f"{p}: Vosk could not load the model: {exc}") from None


def check_track(path: Path) -> tuple[int, int]:
    """(sample rate, frames) of a track Vosk can read: mono 16-bit PCM WAV; else RecordingError."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getcomptype() != "NONE":
                raise RecordingError(
                    f"{path}: need mono 16-bit PCM WAV, got {w.getnchannels()} channel(s), "
                    f"{8 * w.getsampwidth()}-bit {w.getcomptype()}; convert with: sox IN -c 1 -b 16 OUT.wav")
            return w.getframerate(), w.getnframes()
    except FileNotFoundError:
        raise RecordingError(f"{path}: file not found") from None
    except (wave.Error, EOFError) as exc:
        raise RecordingError(f"{path}: not a readable WAV file ({exc})") from None


def segment_from_result(result: dict[str, Any], speaker: str) -> Segment | None:
    """One Vosk result (with SetWords) -> a Segment, or None if it held no speech."""
    words = [Word(word=str(w["word"]), start=float(w["start"]), end=float(w["end"]), conf=float(w.get("conf", 1.0)))
             for w in result.get("result", []) if not _NON_SPEECH.match(str(w.get("word", "")))]
    if not words:
        return None
    text, _ = join_words([w.word for w in words])
    conf = sum(w.conf for w in words) / len(words)
    return Segment(speaker=speaker, start=words[0].start, end=words[-1].end, text=text, words=tuple(words),
                   confidence=round(conf, 4))


class Transcriber:
    """Holds one loaded model; transcribe() may run in several threads (one recogniser per call)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    @classmethod
    def from_path(cls, model_path: str | Path, *, deterministic: bool = True) -> "Transcriber":
        return cls(load_model(model_path, deterministic=deterministic))

    def transcribe(self, path: str | Path, speaker: str, *,
                   progress: Callable[[float], None] | None = None) -> list[Segment]:
        """Recognise a whole track. progress(seconds) is called with each chunk's audio length."""
        from vosk import KaldiRecognizer

        p = Path(path)
        rate, _ = check_track(p)
        rec = KaldiRecognizer(self.model, rate)
        rec.SetWords(True)
        segments: list[Segment] = []

        def take(raw: str) -> None:
            seg = segment_from_result(json.loads(raw), speaker)
            if seg is not None:
                segments.append(seg)

        with wave.open(str(p), "rb") as w:
            while True:
                data = w.readframes(CHUNK_FRAMES)
                if not data:
                    break
                if rec.AcceptWaveform(data):
                    take(rec.Result())
                if progress is not None:
                    progress(len(data) / 2 / rate)
        take(rec.FinalResult())
        return segments
