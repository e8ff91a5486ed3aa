"""pyst2's `asterisk.agi.AGI` driven in a worker thread over our asyncio connection.

Why and how (see NOTES.md gotcha 7):
- pyst2 gives the blocking AGI API many sites' own scripts are written in (execute, set_variable, verbose,
  get_variable, its AGIError hierarchy). The `lookup` handler uses it so its AGI conversation is plain pyst2.
- `AGI.__init__` calls `signal.signal(SIGHUP)`: ValueError outside the main thread, and a process-wide handler
  would be wrong for a server with many sessions anyway. ThreadedAGI skips `__init__`, takes the environment
  our server already parsed, and reports Asterisk's FastAGI `HANGUP` line through `test_hangup`.
- pyst2 reads with an unbounded readline, splits `ERR` codes with `int('')` on garbage, and writes commands
  without checking for line breaks. Its stdin/stdout here are adapters: reads go through our LineBuffer (line
  limit), every reply line is validated by our ReplyParser before pyst2 sees it, and a flush must be exactly
  one command line within Asterisk's 2047 bytes. Values are quoted with our quote_arg, not pyst2's _quote
  (which does not escape quotes).
- The socket stays owned by the event loop: the thread submits each read/write to the loop and blocks on the
  result with a timeout, so a stuck peer costs one worker thread for at most `timeout` seconds per line.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from asterisk.agi import (
    AGI,
    AGIAppError,
    AGIError,
    AGIHangup,
    AGIInvalidCommand,
    AGISIGHUPHangup,
    AGIUnknownError,
    AGIUsageError,
)

from ivr.agi.connection import AgiConnection
from ivr.agi.errors import (
    AgiCommandFailed,
    AgiDeadChannel,
    AgiError,
    AgiGarbage,
    AgiHangup,
    AgiInvalidCommand,
    AgiProtocolError,
    AgiUsageError,
)
from ivr.agi.parser import AgiEnvironment, ReplyParser

T = TypeVar("T")
log = logging.getLogger(__name__)


class _LoopCall:
    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout

    def __call__(self, coro: Any) -> Any:
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(self.timeout)
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise AgiProtocolError(f"no answer from Asterisk within {self.timeout:g} s") from None
        except concurrent.futures.CancelledError:
            raise AgiHangup("AGI session cancelled") from None


class _PystInput:
    """pyst2's stdin: one validated reply line per readline()."""

    def __init__(self, conn: AgiConnection, call: _LoopCall) -> None:
        self._conn = conn
        self._call = call
        self._replies = ReplyParser()

    def readline(self) -> str:
        line: bytes = self._call(self._conn.read_line())
        self._replies.feed(line)  # raises AgiGarbage on anything pyst2 would misparse
        return line.decode("utf-8", "replace") + "\n"


class _PystOutput:
    """pyst2's stdout: buffers write()s, sends exactly one command line per flush()."""

    def __init__(self, conn: AgiConnection, call: _LoopCall) -> None:
        self._conn = conn
        self._call = call
        self._parts: list[str] = []

    def write(self, text: str) -> None:
        self._parts.append(text)

    def flush(self) -> None:
        data, self._parts = "".join(self._parts), []
        if data:
            self._call(self._conn.send_line(data.encode("utf-8")))


class _DebugLog:
    """pyst2's stderr (it narrates every command there)."""

    def write(self, text: str) -> None:
        if text.strip():
            log.debug("pyst2: %s", text.rstrip())

    def flush(self) -> None:
        pass


class ThreadedAGI(AGI):  # pyst2 ships no type information
    def __init__(self, conn: AgiConnection, env: AgiEnvironment, loop: asyncio.AbstractEventLoop, *,
                 timeout: float = 10.0) -> None:
        # AGI.__init__ is skipped on purpose: see the module docstring.
        call = _LoopCall(loop, timeout)
        self.stdin = _PystInput(conn, call)
        self.stdout = _PystOutput(conn, call)
        self.stderr = _DebugLog()
        self.env = dict(env.values)
        self._got_sighup = False
        self._conn = conn

    def test_hangup(self) -> None:
        if self._conn.hangup_seen:
            self._got_sighup = True
            raise AGISIGHUPHangup("Asterisk sent HANGUP")


def translate(exc: AGIError) -> AgiError | AgiProtocolError:
    """pyst2's exceptions as ours, so callers see one hierarchy."""
    if isinstance(exc, AGIHangup):
        return AgiHangup(str(exc) or "caller hung up")
    if isinstance(exc, AGIInvalidCommand):
        return AgiInvalidCommand(str(exc))
    if isinstance(exc, AGIUsageError):
        return AgiUsageError("pyst2 command", str(exc).strip())
    if isinstance(exc, AGIUnknownError) and exc.args and exc.args[0] == 511:
        return AgiDeadChannel("command not permitted on a dead channel")
    if isinstance(exc, AGIAppError):
        return AgiCommandFailed("pyst2 command", "-1", str(exc))
    return AgiGarbage(f"pyst2: {exc}")


async def run_pyst(conn: AgiConnection, env: AgiEnvironment, job: Callable[[ThreadedAGI], T], *,
                   executor: concurrent.futures.Executor, timeout: float = 10.0) -> T:
    """Run job(agi) in a worker thread; pyst2's errors come back as ivr.agi.errors types."""
    loop = asyncio.get_running_loop()
    agi = ThreadedAGI(conn, env, loop, timeout=timeout)

    def work() -> T:
        try:
            return job(agi)
        except AGIError as exc:
            raise translate(exc) from exc

    try:
        return await loop.run_in_executor(executor, work)
    except asyncio.CancelledError:
        # The worker still owns the socket mid-command: nobody else may write or read on it now. Closing it
        # makes the worker's pending read fail at once and ends AGI() (HOTLINE_CONTINUE unset = fallback).
        await conn.close()
        raise
