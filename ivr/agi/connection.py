"""The thin transport: one FastAGI socket, commands out, lines in, nothing interpreted beyond the parser.

Reads happen only when a reply is wanted, in chunks fed to LineBuffer, so a peer that floods us is held back by
the StreamReader's flow control (it pauses the socket) and a runaway line costs at most max_line bytes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Collection

from ivr.agi.errors import AgiEncodingError, AgiEnvError, AgiError, AgiHangup
from ivr.agi.parser import (
    MAX_COMMAND_BYTES,
    AgiEnvironment,
    AgiReply,
    EnvParser,
    LineBuffer,
    ReplyParser,
    encode_command,
    is_hangup_notice,
    raise_for_reply,
)

READ_CHUNK = 4096


class AgiConnection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, max_line: int) -> None:
        self._reader = reader
        self._writer = writer
        self._buffer = LineBuffer(max_line)
        self._lines: deque[bytes] = deque()
        self._replies = ReplyParser()
        self._lock = asyncio.Lock()
        self._unanswered = 0  # commands sent whose reply was not read (a cancelled execute)
        self._eof = False
        self._closed = False
        self.hangup_seen = False
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else str(peer)

    @property
    def usable(self) -> bool:
        return not (self._eof or self._closed)

    async def _raw_line(self) -> bytes:
        while not self._lines:
            if not self.usable:
                raise AgiHangup("AGI connection is closed")
            try:
                chunk = await self._reader.read(READ_CHUNK)
            except (ConnectionError, OSError) as exc:
                self._eof = True
                raise AgiHangup(f"AGI connection lost: {exc}") from None
            if not chunk:
                self._eof = True
                raise AgiHangup("Asterisk closed the AGI connection")
            self._lines.extend(self._buffer.feed(chunk))
        return self._lines.popleft()

    async def read_line(self) -> bytes:
        """The next protocol line; HANGUP notices are consumed here and remembered in hangup_seen."""
        while True:
            line = await self._raw_line()
            if is_hangup_notice(line):
                self.hangup_seen = True
                continue
            return line

    async def read_env(self) -> AgiEnvironment:
        parser = EnvParser()
        while True:
            try:
                line = await self._raw_line()
            except AgiHangup:
                raise AgiEnvError("connection closed inside the environment block") from None
            env = parser.feed(line)
            if env is not None:
                return env

    async def send_line(self, line: bytes) -> None:
        """Write one already-encoded command line (the pyst2 bridge uses this); refuses anything else."""
        if not line.endswith(b"\n") or line.count(b"\n") != 1 or b"\r" in line or b"\0" in line:
            raise AgiEncodingError(f"not exactly one command line: {line[:60]!r}")
        if len(line) > MAX_COMMAND_BYTES:
            raise AgiEncodingError(f"command is {len(line)} bytes, Asterisk reads at most {MAX_COMMAND_BYTES}")
        if not self.usable:
            raise AgiHangup("AGI connection is closed")
        self._writer.write(line)
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as exc:
            self._eof = True
            raise AgiHangup(f"AGI connection lost: {exc}") from None

    async def _read_reply(self) -> AgiReply:
        while True:
            reply = self._replies.feed(await self.read_line())
            if reply is not None:
                self._unanswered -= 1
                return reply

    async def execute(self, verb: str, *args: str | int, failure: Collection[str] = ("-1",)) -> AgiReply:
        """Send one command and return its reply, raising the typed error the reply means."""
        line = encode_command(verb, *args)  # refuse bad arguments before touching the socket
        async with self._lock:
            # A cancelled command still gets its reply later; skip it so replies stay paired with commands.
            while self._unanswered > 0:
                await self._read_reply()
            self._unanswered += 1
            try:
                await self.send_line(line)
            except AgiError:  # not sent, or the socket is gone: no reply will come (cancelled drain: it will)
                self._unanswered -= 1
                raise
            reply = await self._read_reply()
        return raise_for_reply(reply, verb, failure=failure, hangup_seen=self.hangup_seen)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except (ConnectionError, OSError):
            pass
