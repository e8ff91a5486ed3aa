"""AgiChannel: the Channel Protocol (ivr/channel.py) over one FastAGI session.

What AGI cannot do and how it is mapped:
- No bridging (bridge_with raises Unsupported): queueing over AGI is continue_in_dialplan to a queue context.
- Leaving the application means ending the AGI session: transfer/continue_in_dialplan set the dialplan
  location, then close the socket, after which every operation raises ChannelGone.
- hold/unhold is music on hold: an AGI channel is never in one of our bridges.
- "result=-1" means "failed or hung up"; Asterisk writes HANGUP before reading our next command, so a NOOP
  after a failure tells the two apart (ChannelHungUp vs OperationFailed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence

from ivr.agi.connection import AgiConnection
from ivr.agi.errors import AgiCommandFailed, AgiHangup
from ivr.agi.parser import AgiEnvironment, AgiReply
from ivr.channel import (
    CallerInfo,
    Channel,
    ChannelGone,
    ChannelHungUp,
    DigitsResult,
    Direction,
    RecordingHandle,
    Unsupported,
)

DEFAULT_RECORDING_DIR = "/var/spool/asterisk/recording"  # where ARI's "recording:" names live too
ALL_KEYS = "0123456789*#"
CONTINUE_VARIABLE = "HOTLINE_CONTINUE"
_AUDIO_EXT = re.compile(r"\.(wav|WAV|gsm|sln\d*|slin\d*|ulaw|alaw|g722|g729)$")
_VAR_NAME = re.compile(r"_{0,2}[A-Za-z][A-Za-z0-9_]*(\([^()\"\s]*\))?")
_REC_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*")
_DIALPLAN_NAME = re.compile(r"[A-Za-z0-9_+*#.-]+")
_HANGUP_CAUSES = {"busy": 17, "no_answer": 19, "rejected": 21, "congestion": 34, "unallocated": 1}


class AgiChannel:
    def __init__(self, conn: AgiConnection, env: AgiEnvironment, *, recording_dir: str = DEFAULT_RECORDING_DIR,
                 variables: Mapping[str, str] | None = None,
                 host_path: Callable[[str], str | os.PathLike[str]] | None = None) -> None:
        self._conn = conn
        self._env = env
        self._recording_dir = recording_dir.rstrip("/") or "/"
        # record() returns the file as this host sees it (the recogniser reads it here, not in Asterisk's
        # chroot), like the ARI channel does.
        self._host_path = host_path
        extra = {f"agi_arg_{i}": a for i, a in enumerate(env.args, 1)}
        extra.update(variables or {})
        self._info = CallerInfo(channel_id=env.uniqueid, caller_number=env.caller_number,
                                caller_name=env.caller_name, dialed=env.dialed, protocol="agi", variables=extra)
        self._pending_keys = ""  # keys pressed during prompts, kept for the next collect_digits (type-ahead)
        self._monitors: dict[str, str] = {}  # recording name -> MixMonitor id
        self._released = False
        self.hung_up_by_us = False

    # --- identity ---------------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self._env.uniqueid

    @property
    def info(self) -> CallerInfo:
        return self._info

    @property
    def env(self) -> AgiEnvironment:
        return self._env

    @property
    def hung_up(self) -> bool:
        return self.hung_up_by_us or self._conn.hangup_seen or not (self._conn.usable or self._released)

    @property
    def released(self) -> bool:
        """True once the call went back to the dialplan (the AGI session is over)."""
        return self._released

    # --- plumbing ---------------------------------------------------------------------------------------

    async def _exec(self, verb: str, *args: str | int, failure: Sequence[str] = ("-1",)) -> AgiReply:
        if self._released:
            raise ChannelGone(f"{verb}: the call was handed back to the dialplan")
        if not self._conn.usable:
            raise AgiHangup(f"{verb}: AGI session ended")
        return await self._conn.execute(verb, *args, failure=failure)

    async def _media(self, verb: str, *args: str | int) -> AgiReply:
        try:
            return await self._exec(verb, *args)
        except AgiCommandFailed:
            await self._exec("NOOP", failure=())
            if self._conn.hangup_seen:
                raise AgiHangup(f"{verb}: caller hung up") from None
            raise

    async def _app(self, app: str, args: str = "") -> AgiReply:
        # EXEC answers -2 when the application does not exist (module not loaded).
        return await self._exec("EXEC", app, args, failure=("-1", "-2"))

    def _recording_path(self, name: str) -> str:
        if not _REC_NAME.fullmatch(name) or ".." in name.split("/"):
            raise ValueError(f"recording name must be letters, digits, _ . - and /, got {name!r}")
        return f"{self._recording_dir}/{name}"

    def _media_command(self, uri: str, escape: str) -> tuple[str, tuple[str | int, ...]]:
        scheme, sep, rest = uri.partition(":")
        if not sep or not rest:
            raise Unsupported(f"media URI without scheme or name: {uri!r}")
        if scheme == "sound":
            return "STREAM FILE", (rest, escape)
        if scheme == "recording":
            return "STREAM FILE", (self._recording_path(_AUDIO_EXT.sub("", rest)), escape)
        if scheme == "file":
            if not rest.startswith("/"):
                raise Unsupported(f"file: media needs an absolute path, got {uri!r}")
            return "STREAM FILE", (_AUDIO_EXT.sub("", rest), escape)
        if scheme == "digits":
            if not rest.isascii() or not rest.isdigit():
                raise Unsupported(f"digits: takes 0-9 only, got {uri!r}")
            return "SAY DIGITS", (rest, escape)
        if scheme == "number":
            if not re.fullmatch(r"-?\d{1,9}", rest):
                raise Unsupported(f"number: takes an integer below 10^9, got {uri!r}")
            return "SAY NUMBER", (rest, escape)
        raise Unsupported(f"AGI cannot play {scheme}: media ({uri!r})")

    # --- Channel Protocol -------------------------------------------------------------------------------

    async def answer(self) -> None:
        await self._media("ANSWER")

    async def play(self, media: Sequence[str], *, interrupt_dtmf: bool = False) -> str | None:
        # Asterisk throws away keys that are not escape digits of the running STREAM FILE, so every file
        # listens for all keys: an interruptible prompt stops at the first, any other resumes where the key
        # stopped it (endpos) and the key waits for the next input (type-ahead, as over ARI).
        commands = [self._media_command(uri, ALL_KEYS) for uri in media]  # reject bad URIs before playing any
        if interrupt_dtmf and self._pending_keys:
            return self._pending_keys[0]  # a key pressed already skips the prompt
        for verb, args in commands:
            if verb != "STREAM FILE" and not interrupt_dtmf:
                args = (args[0], "")  # SAY cannot resume: a read-out that must not stop plays deaf
            while True:
                reply = await self._media(verb, *args)
                key = reply.digit
                if key is None:
                    break
                self._pending_keys += key
                if interrupt_dtmf:
                    return key
                endpos = reply.extras.get("endpos", "")
                if verb != "STREAM FILE" or not endpos.isdigit():
                    break
                args = (args[0], ALL_KEYS, int(endpos))
        return None

    async def collect_digits(self, *, max_digits: int, first_timeout: float, inter_timeout: float = 3.0,
                             terminators: str = "#", prompt: Sequence[str] = ()) -> DigitsResult:
        if max_digits < 1:
            raise ValueError("max_digits must be at least 1")
        if prompt and not self._pending_keys:
            await self.play(prompt, interrupt_dtmf=True)
        digits = ""
        while self._pending_keys:
            typed, self._pending_keys = self._pending_keys[0], self._pending_keys[1:]
            if typed in terminators:
                return DigitsResult(digits, timed_out=False)
            digits += typed
            if len(digits) >= max_digits:
                return DigitsResult(digits, timed_out=False)
        # WAIT FOR DIGIT per key rather than GET DATA: GET DATA has one timeout and always ends on '#'.
        while True:
            timeout = first_timeout if not digits else inter_timeout
            key = (await self._media("WAIT FOR DIGIT", max(0, int(timeout * 1000)))).digit
            if key is None:
                return DigitsResult(digits, timed_out=True)
            if key in terminators:
                return DigitsResult(digits, timed_out=False)
            digits += key
            if len(digits) >= max_digits:
                return DigitsResult(digits, timed_out=False)

    async def record(self, name: str, *, max_seconds: float, silence_seconds: float = 3.0,
                     beep: bool = True) -> str:
        path = self._recording_path(name)
        args: list[str | int] = [path, "wav", "#", max(1, int(max_seconds * 1000))]
        if beep:
            args.append("BEEP")
        if silence_seconds > 0:
            args.append(f"s={max(1, round(silence_seconds))}")
        reply = await self._exec("RECORD FILE", *args, failure=())
        if reply.data == "hangup":
            # The caller hung up while speaking: the message is on disk and must not be lost.
            self._conn.hangup_seen = True
            return self._on_host(f"{path}.wav")
        if reply.result == "-1":
            raise AgiCommandFailed("RECORD FILE", reply.result, reply.data)
        return self._on_host(f"{path}.wav")

    def _on_host(self, path: str) -> str:
        return str(self._host_path(path)) if self._host_path is not None else path

    async def start_call_recording(self, name: str) -> RecordingHandle:
        base = self._recording_path(name)
        paths = {Direction.CALLER: f"{base}-caller.wav", Direction.AGENT: f"{base}-agent.wav",
                 Direction.MIXED: f"{base}-mixed.wav"}
        id_var = "HOTLINE_MIXMON_" + re.sub(r"[^A-Za-z0-9_]", "_", name)
        # r() is what the channel receives from the caller, t() what it transmits to the caller.
        options = (f"{paths[Direction.MIXED]},r({paths[Direction.CALLER]})t({paths[Direction.AGENT]})"
                   f"i({id_var})")
        await self._app("MixMonitor", options)
        self._monitors[name] = await self.get_variable(id_var) or ""
        return RecordingHandle(name=name, paths=paths)

    async def stop_call_recording(self, handle: RecordingHandle) -> None:
        await self._app("StopMixMonitor", self._monitors.pop(handle.name, ""))

    async def set_variable(self, name: str, value: str) -> None:
        if not _VAR_NAME.fullmatch(name):
            raise ValueError(f"not a channel variable name: {name!r}")
        await self._exec("SET VARIABLE", name, value)

    async def get_variable(self, name: str) -> str | None:
        if not _VAR_NAME.fullmatch(name):
            raise ValueError(f"not a channel variable name: {name!r}")
        reply = await self._exec("GET VARIABLE", name, failure=())
        return (reply.data or "") if reply.result == "1" else None

    async def hold(self) -> None:
        await self.start_moh()

    async def unhold(self) -> None:
        await self.stop_moh()

    async def start_moh(self, moh_class: str = "default") -> None:
        await self._app("StartMusicOnHold", moh_class)

    async def stop_moh(self) -> None:
        await self._app("StopMusicOnHold")

    async def ring(self) -> None:
        # Before answer the network plays ringback on an indication; after answer only in-band tones reach the
        # caller, and Playtones(ring) uses the channel's tone zone (cn: 1 s on / 4 s off).
        status = await self._exec("CHANNEL STATUS")
        if status.result == "6":  # AST_STATE_UP
            await self._app("Playtones", "ring")
        else:
            await self._app("Ringing")

    async def bridge_with(self, other: Channel) -> str:
        raise Unsupported("AGI cannot bridge channels; continue_in_dialplan to a queue context instead")

    async def transfer(self, context: str, extension: str, priority: int = 1) -> None:
        await self._goto(context, extension, priority)
        await self._release()

    async def continue_in_dialplan(self, context: str | None = None, extension: str | None = None,
                                   priority: int | None = None) -> None:
        if context is None and extension is None and priority is None:
            # Back to the priority after AGI(): the site's dialplan takes the fallback branch.
            await self._exec("SET VARIABLE", CONTINUE_VARIABLE, "fallback")
        else:
            await self._goto(context, extension, 1 if priority is None else priority)
        await self._release()

    async def _goto(self, context: str | None, extension: str | None, priority: int) -> None:
        for value in (context, extension):
            if value is not None and not _DIALPLAN_NAME.fullmatch(value):
                raise ValueError(f"not a dialplan context/extension: {value!r}")
        if priority < 1:
            raise ValueError("dialplan priority starts at 1")
        if context is not None:
            await self._exec("SET CONTEXT", context)
        if extension is not None:
            await self._exec("SET EXTENSION", extension)
        await self._exec("SET PRIORITY", priority)

    async def _release(self) -> None:
        # Closing the socket ends AGI(); the channel then runs the dialplan location set above.
        self._released = True
        await self._conn.close()

    async def hangup(self, cause: str = "normal") -> None:
        if self.hung_up or self._released:
            return
        try:
            code = _HANGUP_CAUSES.get(cause)
            if code is None:
                await self._exec("HANGUP", failure=())
            else:
                # Hangup() itself returns -1, which is its success.
                await self._exec("EXEC", "Hangup", str(code), failure=("-2",))
        except (ChannelHungUp, ChannelGone):
            pass  # already gone: the wanted outcome
        self.hung_up_by_us = True
