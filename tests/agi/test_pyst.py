"""pyst2's AGI class in a worker thread over our connection: the signal gotcha, limits, error translation."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from asterisk.agi import AGI

from ivr.agi.errors import (
    AgiCommandFailed,
    AgiDeadChannel,
    AgiEncodingError,
    AgiGarbage,
    AgiHangup,
    AgiInvalidCommand,
    AgiLineTooLong,
    AgiProtocolError,
    AgiUsageError,
)
from ivr.agi.pyst import ThreadedAGI, run_pyst
from tests.plugins.fake_agi import Pair


@pytest.fixture
async def executor() -> AsyncIterator[concurrent.futures.ThreadPoolExecutor]:
    pool = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="test-pyst")
    yield pool
    await asyncio.get_running_loop().run_in_executor(None, pool.shutdown)


def start(pair: Pair, executor: concurrent.futures.Executor, job: Callable[[ThreadedAGI], Any],
          timeout: float = 10.0) -> asyncio.Future[Any]:
    return asyncio.ensure_future(run_pyst(pair.conn, pair.env, job, executor=executor, timeout=timeout))


async def test_plain_pyst2_agi_cannot_start_off_the_main_thread() -> None:
    # NOTES.md gotcha 7, kept as a test so a pyst2 upgrade that fixes it is noticed.
    def construct() -> None:
        AGI(stdin=io.StringIO("agi_request: x\n\n"), stdout=io.StringIO(), stderr=io.StringIO())

    with pytest.raises(ValueError, match="main thread"):
        await asyncio.to_thread(construct)


async def test_pyst2_api_runs_in_a_worker_thread(pair: Pair, executor: concurrent.futures.Executor) -> None:
    def job(agi: ThreadedAGI) -> tuple[str, str, str]:
        agi.verbose("hotline lookup", 3)
        value = agi.get_variable("CALLERID(num)")
        return threading.current_thread().name, value, agi.env["agi_uniqueid"]

    task = start(pair, executor, job)
    assert await pair.fake.answer("200 result=1") == 'VERBOSE "hotline lookup" 3'
    assert await pair.fake.answer("200 result=1 (13800138000)") == 'GET VARIABLE "CALLERID(num)"'
    thread, value, uniqueid = await task
    assert thread.startswith("test-pyst") and thread != threading.main_thread().name
    assert value == "13800138000" and uniqueid == "1763900000.17"


@pytest.mark.parametrize("reply, exc", [
    (["511 Command Not Permitted on a dead channel"], AgiDeadChannel),
    (["510 Invalid or unknown command"], AgiInvalidCommand),
    (["520-Invalid command syntax.  Proper usage follows:", "Usage: NOOP", "520 End of proper usage."],
     AgiUsageError),
    (["200 result=-1"], AgiCommandFailed),
    (["200 result=-1 (hangup)"], AgiHangup),
    (["this is not agi"], AgiGarbage),  # pyst2 alone would die in int('') with a ValueError
    (["HANGUP", "200 garbage"], AgiGarbage),
])
async def test_pyst2_errors_come_back_as_ours(pair: Pair, executor: concurrent.futures.Executor,
                                             reply: list[str], exc: type[Exception]) -> None:
    task = start(pair, executor, lambda agi: agi.noop())
    assert await pair.fake.answer(*reply) == "NOOP"
    with pytest.raises(exc):
        await task


async def test_hangup_notice_stops_the_next_pyst2_command(pair: Pair,
                                                          executor: concurrent.futures.Executor) -> None:
    def job(agi: ThreadedAGI) -> None:
        agi.noop()
        agi.noop()

    task = start(pair, executor, job)
    assert await pair.fake.answer("HANGUP", "200 result=0") == "NOOP"
    with pytest.raises(AgiHangup):
        await task
    assert pair.conn.hangup_seen


async def test_newline_injection_through_pyst2_is_refused(pair: Pair,
                                                          executor: concurrent.futures.Executor) -> None:
    def job(agi: ThreadedAGI) -> None:
        try:
            # pyst2 joins arguments with spaces and never checks them.
            agi.execute("SET VARIABLE", "X", "1\nEXEC System reboot")
        except AgiEncodingError:
            agi.noop()
            raise

    task = start(pair, executor, job)
    assert await pair.fake.answer("200 result=0") == "NOOP"  # the first line Asterisk ever sees
    with pytest.raises(AgiEncodingError):
        await task


async def test_silent_asterisk_times_the_worker_out(pair: Pair, executor: concurrent.futures.Executor) -> None:
    task = start(pair, executor, lambda agi: agi.noop(), timeout=0.2)
    assert await pair.fake.command() == "NOOP"
    with pytest.raises(AgiProtocolError, match="no answer"):
        await task


async def test_long_reply_line_is_refused(pair: Pair, executor: concurrent.futures.Executor) -> None:
    task = start(pair, executor, lambda agi: agi.get_variable("X"))
    assert await pair.fake.command() == 'GET VARIABLE "X"'
    try:
        await pair.fake.send(b"200 result=1 (" + b"z" * (1 << 20) + b")\n")
    except ConnectionError:
        pass
    with pytest.raises(AgiLineTooLong):
        await task


async def test_connection_lost_while_pyst2_waits(pair: Pair, executor: concurrent.futures.Executor) -> None:
    task = start(pair, executor, lambda agi: agi.wait_for_digit(30000))
    assert await pair.fake.command() == "WAIT FOR DIGIT 30000"
    await pair.fake.close()
    with pytest.raises(AgiHangup):
        await task
