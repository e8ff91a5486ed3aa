"""Vosk recognition of a caller's utterance against a menu's phrase list (a Vosk grammar).

One Recognizer per process: the model (hundreds of MB) is loaded once, off the event loop, and shared by
every call; each utterance gets its own KaldiRecognizer in a worker thread. A file is what the Channel's
record() gives us, so nothing here knows about ARI or AGI.

Deployers: install the Chinese model (vosk-model-small-cn-0.22, https://alphacephei.com/vosk/models),
unpack it and set `[vosk] model_path` in hotline.toml (or HOTLINE_VOSK_MODEL_PATH).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import threading
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from aiohttp import web

from ivr.speech.phrases import UNK, Grammar, build_grammar, find_keyword, match_phrase

log = logging.getLogger(__name__)


class SpeechError(Exception):
    """The model or the audio cannot be used; the message says which and why."""


@dataclass(frozen=True)
class Word:
    word: str
    conf: float
    start: float
    end: float


@dataclass(frozen=True)
class Recognition:
    text: str  # what the recognizer returned (words joined by spaces; [unk] removed)
    words: tuple[Word, ...]
    confidence: float  # mean word confidence; 0 when nothing was heard
    heard: str | None  # the phrase the text matches, whatever the confidence
    phrase: str | None  # `heard` when confident enough, else None
    emergency: str | None  # emergency keyword heard (confident enough), checked on every utterance
    audio_seconds: float
    elapsed_seconds: float
    dropped: tuple[str, ...] = field(default=())  # phrases the model cannot spell (not in its vocabulary)

    @property
    def silent(self) -> bool:
        return not self.text


def read_pcm(path: str | os.PathLike[str]) -> tuple[bytes, int]:
    """16-bit mono PCM and its rate from a wav, or from raw Asterisk slin (.sln 8 kHz, .sln16 16 kHz)."""
    p = Path(path)
    try:
        if p.suffix in (".sln", ".raw"):
            return p.read_bytes(), 8000
        if p.suffix == ".sln16":
            return p.read_bytes(), 16000
        with wave.open(str(p), "rb") as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getcomptype() != "NONE":
                raise SpeechError(f"{p}: need 16-bit mono PCM wav, got {w.getnchannels()} channel(s), "
                                  f"{8 * w.getsampwidth()}-bit {w.getcomptype()}")
            return w.readframes(w.getnframes()), w.getframerate()
    except FileNotFoundError:
        raise SpeechError(f"{p}: recording not found") from None
    except (wave.Error, EOFError) as exc:
        raise SpeechError(f"{p}: not a readable wav file: {exc}") from None


class Recognizer:
    def __init__(self, model_path: str | os.PathLike[str], *, min_confidence: float = 0.6,
                 max_parallel: int | None = None) -> None:
        self.model_path = Path(model_path)
        self.min_confidence = min_confidence
        self._model: Any = None
        self._load_lock = threading.Lock()
        # Own pool: recognitions are CPU-bound, so more threads than cores only adds latency; and it keeps
        # them from starving the loop's default executor (DNS, file I/O).
        self._pool = ThreadPoolExecutor(max_workers=max_parallel or os.cpu_count() or 2,
                                        thread_name_prefix="vosk")
        self._grammars: dict[tuple[str, ...], Grammar] = {}

    @classmethod
    def from_settings(cls, settings: Any) -> "Recognizer | None":
        """None when no model is configured: menus then take keys only (and say so in the log)."""
        vs = settings.vosk
        if vs.model_path is None:
            return None
        return cls(vs.model_path, min_confidence=vs.min_confidence)

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load_sync(self) -> None:
        with self._load_lock:
            if self._model is not None:
                return
            if not (self.model_path / "am").is_dir() and not (self.model_path / "final.mdl").exists():
                raise SpeechError(f"{self.model_path}: not a Vosk model directory (no am/ inside); install "
                                  "vosk-model-small-cn-0.22 and set [vosk] model_path")
            import vosk

            from ivr.speech.model import without_dither

            # Kaldi dithers features at random by default: the same utterance could pick a different menu
            # option on a second try. The dither-free view (symlinks + one conf line) makes it repeatable.
            try:
                path = without_dither(self.model_path)
            except OSError as exc:
                raise SpeechError(f"{self.model_path}: cannot prepare the model without dither: {exc}") from None
            vosk.SetLogLevel(-1)
            try:
                self._model = vosk.Model(str(path))
            except Exception as exc:  # vosk raises a bare Exception when Kaldi refuses the files
                raise SpeechError(f"{self.model_path}: Vosk could not load the model: {exc}") from None
            if self._model.vosk_model_find_word(UNK) < 0:
                log.warning("speech: %s has no %s word: out-of-menu speech is forced onto a menu phrase and "
                            "only the confidence threshold filters it", self.model_path, UNK)

    async def load(self) -> None:
        """Load the model in a worker thread (seconds of disk and CPU); safe to call more than once."""
        if self._model is None:
            await asyncio.get_running_loop().run_in_executor(self._pool, self.load_sync)

    @property
    def rejects_unknown(self) -> bool:
        """The model has a garbage word, so speech outside a grammar can come out as "not understood".
        False until the model is loaded (never loads it: this is asked on the event loop)."""
        return self._model is not None and self._model.vosk_model_find_word(UNK) >= 0

    def knows(self, word: str) -> bool:
        self.load_sync()
        return bool(self._model.vosk_model_find_word(word) >= 0)

    def grammar(self, phrases: Sequence[str], *, private: bool = False) -> Grammar:
        key = tuple(phrases)
        g = self._grammars.get(key)
        if g is None:
            g = build_grammar(phrases, self.knows)
            if g.dropped:  # a name is personal data: say that one was dropped, not which
                log.warning("speech: the model cannot spell %s; those phrases need keys",
                            f"{len(g.dropped)} private phrase(s)" if private else ", ".join(g.dropped))
            if len(self._grammars) >= 512:  # menus repeat, names do not: keep the cache from growing forever
                self._grammars.clear()
            self._grammars[key] = g
        return g

    def recognize_sync(self, path: str | os.PathLike[str], phrases: Sequence[str], *,
                       emergency: Sequence[str] = (), min_confidence: float | None = None,
                       private: bool = False) -> Recognition:
        self.load_sync()
        import vosk

        threshold = self.min_confidence if min_confidence is None else min_confidence
        grammar = self.grammar([*phrases, *emergency], private=private)
        pcm, rate = read_pcm(path)
        started = time.perf_counter()
        rec = vosk.KaldiRecognizer(self._model, rate, json.dumps(list(grammar.entries), ensure_ascii=False))
        rec.SetWords(True)
        chunk = rate  # half a second of 16-bit audio per call keeps memory flat for long utterances
        for i in range(0, len(pcm), chunk):
            rec.AcceptWaveform(pcm[i:i + chunk])
        result = json.loads(rec.FinalResult())
        elapsed = time.perf_counter() - started
        words = tuple(Word(w["word"], float(w.get("conf", 0.0)), float(w.get("start", 0.0)), float(w.get("end", 0.0)))
                      for w in result.get("result", []) if w.get("word") != UNK)
        text = " ".join(w.word for w in words)
        confidence = sum(w.conf for w in words) / len(words) if words else 0.0
        heard = match_phrase(text, phrases)
        confident = confidence >= threshold
        keyword = find_keyword(text, emergency) if confident else None
        return Recognition(text=text, words=words, confidence=round(confidence, 3), heard=heard,
                           phrase=heard if confident else None, emergency=keyword,
                           audio_seconds=len(pcm) / 2 / rate, elapsed_seconds=elapsed, dropped=grammar.dropped)

    async def recognize(self, path: str | os.PathLike[str], phrases: Sequence[str], *,
                        emergency: Sequence[str] = (), min_confidence: float | None = None,
                        private: bool = False) -> Recognition:
        """Recognize one utterance in a worker thread; at most max_parallel run at once.
        private: the phrases are personal data (a registered name) and stay out of the log."""
        call = functools.partial(self.recognize_sync, path, phrases, emergency=emergency,
                                 min_confidence=min_confidence, private=private)
        return await asyncio.get_running_loop().run_in_executor(self._pool, call)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


SPEECH: web.AppKey[Recognizer] = web.AppKey("speech", Recognizer)
