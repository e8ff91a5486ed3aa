"""ScriptedChannel: a stand-in caller for `hotline flows simulate` and for flow tests, NOT a protocol adapter.

It implements the Channel Protocol the way the real adapters behave towards the engine: each input the
flow asks for (a collect, a recording) takes the caller's next scripted action; keys pressed ahead are kept
for the next collect; a wait shorter than a human reaction (0.5 s) only sees keys already pressed. Spoken
input is real audio: `say:` text is synthesized with espeak-ng so the real Vosk recognizer hears it.

Script syntax (comma separated, as in `--input "1,1234#,say:漏气,-,hangup"`):
  1 / 1234# / *   keys          -        no input (the caller stays silent until the timeout)
  say:TEXT        speech        wav:PATH a recorded utterance        hangup   the caller hangs up
The script running out means the caller hangs up.
"""

from __future__ import annotations

import re
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

from call_flows.prompts import synthesize
from ivr.channel import (
    CallerInfo,
    ChannelHungUp,
    DigitsResult,
    Direction,
    RecordingHandle,
    Unsupported,
)

REACTION_SECONDS = 0.5


class ScriptError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    kind: Literal["keys", "say", "audio", "silence", "hangup"]
    value: str = ""

    def __str__(self) -> str:
        return {"keys": self.value, "say": f"say:{self.value}", "audio": f"wav:{self.value}",
                "silence": "-", "hangup": "hangup"}[self.kind]


def parse_script(text: str) -> list[Step]:
    steps: list[Step] = []
    if not text.strip():
        return steps
    for i, raw in enumerate(text.split(","), 1):
        tok = raw.strip()
        if tok in ("", "-", "timeout", "silence"):
            steps.append(Step("silence"))
        elif tok == "hangup":
            steps.append(Step("hangup"))
        elif tok.startswith("say:") and tok[4:].strip():
            steps.append(Step("say", tok[4:].strip()))
        elif tok.startswith("wav:") and tok[4:].strip():
            steps.append(Step("audio", tok[4:].strip()))
        elif re.fullmatch(r"[0-9*#]+", tok):
            steps.append(Step("keys", tok))
        else:
            raise ScriptError(f"input {i} {tok!r}: use keys (0-9 * #), '-' for no input, say:TEXT, wav:FILE "
                              "or hangup")
    return steps


Listener = Callable[[str, dict[str, Any]], None]


class ScriptedChannel:
    def __init__(self, script: Sequence[Step] | str, *, workdir: Path, caller_number: str = "13800138000",
                 channel_id: str | None = None, dialed: str = "95598", voice: str = "cmn",
                 sample_rate: int = 16000, listener: Listener | None = None) -> None:
        self.steps = list(parse_script(script) if isinstance(script, str) else script)
        self.workdir = workdir
        self.voice = voice
        self.sample_rate = sample_rate
        self.listener = listener
        self._info = CallerInfo(channel_id=channel_id or f"sim-{uuid.uuid4().hex[:12]}",
                                caller_number=caller_number, dialed=dialed, protocol="sim")
        self._hung_up = False
        self.buffer = ""  # keys pressed but not yet collected
        self.log: list[tuple[str, Any]] = []
        self.ended_by: str | None = None  # "hangup", "transfer", "dialplan", "caller"

    # --- bookkeeping -------------------------------------------------------------------------------------

    def _note(self, kind: str, **data: Any) -> None:
        self.log.append((kind, data))
        if self.listener is not None:
            self.listener(kind, data)

    def _check(self) -> None:
        if self._hung_up:
            raise ChannelHungUp(self.id)

    def _next(self) -> Step:
        self._check()
        if not self.steps:
            self._hung_up, self.ended_by = True, "caller"
            self._note("caller_hangup", reason="script ended")
            raise ChannelHungUp(self.id)
        step = self.steps.pop(0)
        if step.kind == "hangup":
            self._hung_up, self.ended_by = True, "caller"
            self._note("caller_hangup", reason="script")
            raise ChannelHungUp(self.id)
        return step

    @property
    def played(self) -> list[str]:
        return [m for kind, data in self.log if kind == "play" for m in data["media"]]

    # --- Channel Protocol ----------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._info.channel_id

    @property
    def info(self) -> CallerInfo:
        return self._info

    @property
    def hung_up(self) -> bool:
        return self._hung_up

    async def answer(self) -> None:
        self._check()
        self._note("answer")

    async def play(self, media: Sequence[str], *, interrupt_dtmf: bool = False) -> str | None:
        self._check()
        self._note("play", media=list(media))
        return self.buffer[0] if interrupt_dtmf and self.buffer else None

    async def collect_digits(self, *, max_digits: int, first_timeout: float, inter_timeout: float = 3.0,
                             terminators: str = "#", prompt: Sequence[str] = ()) -> DigitsResult:
        self._check()
        if prompt:
            self._note("play", media=list(prompt))
        if not self.buffer and first_timeout >= REACTION_SECONDS:
            step = self._next()
            if step.kind == "keys":
                self.buffer += step.value
            elif step.kind in ("say", "audio"):
                self._note("ignored", step=str(step), reason="speech at a keys-only prompt")
        digits, ended = "", False
        while self.buffer and len(digits) < max_digits:
            key, self.buffer = self.buffer[0], self.buffer[1:]
            if key in terminators:
                ended = True
                break
            digits += key
        result = DigitsResult(digits, timed_out=not ended and len(digits) < max_digits)
        self._note("collect", digits=digits, timed_out=result.timed_out)
        return result

    async def record(self, name: str, *, max_seconds: float, silence_seconds: float = 3.0,
                     beep: bool = True) -> str:
        step = self._next()
        out = self.workdir / f"{name}.wav"
        self.workdir.mkdir(parents=True, exist_ok=True)
        if step.kind == "say":
            await synthesize(step.value, out, voice=self.voice, speed=120, rate=self.sample_rate, pad_seconds=0.3)
        elif step.kind == "audio":
            out = Path(step.value)
        else:
            if step.kind == "keys":
                self.buffer += step.value  # a key ends the recording; the engine collects it next
            self._silence(out, min(silence_seconds, max_seconds))
        self._note("record", name=name, path=str(out), step=str(step))
        return str(out)

    def _silence(self, out: Path, seconds: float) -> None:
        with wave.open(str(out), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.sample_rate)
            w.writeframes(b"\0\0" * int(self.sample_rate * seconds))

    async def start_call_recording(self, name: str) -> RecordingHandle:
        self._check()
        return RecordingHandle(name, {d: str(self.workdir / f"{name}-{d.value}.wav") for d in Direction})

    async def stop_call_recording(self, handle: RecordingHandle) -> None:
        self._note("stop_call_recording", name=handle.name)

    async def set_variable(self, name: str, value: str) -> None:
        self._check()
        self._note("set_variable", name=name, value=value)

    async def get_variable(self, name: str) -> str | None:
        self._check()
        return None

    async def hold(self) -> None:
        self._note("hold")

    async def unhold(self) -> None:
        self._note("unhold")

    async def start_moh(self, moh_class: str = "default") -> None:
        self._note("moh", moh_class=moh_class)

    async def stop_moh(self) -> None:
        self._note("moh_stop")

    async def ring(self) -> None:
        self._note("ring")

    async def bridge_with(self, other: Any) -> str:
        raise Unsupported("a scripted caller cannot be bridged")

    async def transfer(self, context: str, extension: str, priority: int = 1) -> None:
        self._check()
        self._note("transfer", context=context, extension=extension, priority=priority)
        self._hung_up, self.ended_by = True, "transfer"

    async def continue_in_dialplan(self, context: str | None = None, extension: str | None = None,
                                   priority: int | None = None) -> None:
        self._note("continue_in_dialplan", context=context, extension=extension)
        self._hung_up, self.ended_by = True, "dialplan"

    async def hangup(self, cause: str = "normal") -> None:
        self._note("hangup", cause=cause)
        self._hung_up, self.ended_by = True, "hangup"
