"""The FastAGI server over real sockets: routing, flows through the runner seam, and hostile peers.

After every hostile session the same server must still serve a normal one: that is the assertion that the
bad session ended cleanly rather than taking the server down.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from ivr.calls.agi.flow import FlowContext, FlowTable
from ivr.calls.agi.server import AgiServer
from ivr.channel import Channel, ChannelHungUp
from tests.plugins.fake_agi import ServerFactory
from tests.agi.fake_asterisk import FakeAsterisk, env_block
from tests.builders import ZONE


async def open_fake(server: AgiServer, fakes: list[FakeAsterisk], script: str | None = "lookup",
                    **overrides: str) -> FakeAsterisk:
    fake = await FakeAsterisk.connect(server.port) if script is None else \
        await FakeAsterisk.start(server.port, script, overrides)
    fakes.append(fake)
    return fake


async def assert_still_serving(server: AgiServer, fakes: list[FakeAsterisk]) -> None:
    fake = await open_fake(server, fakes, "no-such-script")
    assert await fake.answer() == "SET VARIABLE HOTLINE_CONTINUE fallback"
    assert await fake.wait_closed_by_server() == b""


# --- routing ----------------------------------------------------------------------------------------------


async def test_unknown_script_falls_back(make_server: ServerFactory, fakes: list[FakeAsterisk]) -> None:
    server = await make_server()
    fake = await open_fake(server, fakes, "ivr?mode=test")
    assert await fake.answer() == "SET VARIABLE HOTLINE_CONTINUE fallback"
    assert await fake.wait_closed_by_server() == b""


async def test_unknown_flow_falls_back_without_touching_the_call(make_server: ServerFactory,
                                                                 fakes: list[FakeAsterisk]) -> None:
    server = await make_server(flow_runner=FlowTable({}))
    fake = await open_fake(server, fakes, "flow/nope")
    assert await fake.answer() == "SET VARIABLE HOTLINE_CONTINUE fallback"
    assert await fake.wait_closed_by_server() == b""


async def test_flow_without_runner_falls_back(make_server: ServerFactory, fakes: list[FakeAsterisk]) -> None:
    server = await make_server()
    fake = await open_fake(server, fakes, "flow/gas")
    assert await fake.answer() == "SET VARIABLE HOTLINE_CONTINUE fallback"


# --- flows through the seam -------------------------------------------------------------------------------


async def demo_flow(channel: Channel, context: FlowContext) -> None:
    await channel.answer()
    result = await channel.collect_digits(max_digits=4, first_timeout=5, prompt=["sound:enter-account"])
    await channel.set_variable("HOTLINE_ACCOUNT", result.digits)
    await channel.set_variable("HOTLINE_FLOW_LANG", context.params.get("lang", ""))


async def test_flow_runs_over_agi(make_server: ServerFactory, fakes: list[FakeAsterisk]) -> None:
    seen: list[FlowContext] = []

    async def flow(channel: Channel, context: FlowContext) -> None:
        seen.append(context)
        await demo_flow(channel, context)

    server = await make_server(flow_runner=FlowTable({"gas": flow}))
    fake = await open_fake(server, fakes, "flow/gas?lang=zh", agi_arg_1="from-trunk")
    assert await fake.answer("200 result=0") == "ANSWER"
    assert await fake.answer("200 result=0 endpos=8000") == "STREAM FILE enter-account 0123456789*#"
    assert await fake.answer(f"200 result={ord('7')}") == "WAIT FOR DIGIT 5000"
    assert await fake.answer(f"200 result={ord('#')}") == "WAIT FOR DIGIT 3000"
    assert await fake.answer() == "SET VARIABLE HOTLINE_ACCOUNT 7"
    assert await fake.answer() == "SET VARIABLE HOTLINE_FLOW_LANG zh"
    assert await fake.answer() == "SET VARIABLE HOTLINE_CONTINUE ok"
    assert await fake.wait_closed_by_server() == b""
    ctx = seen[0]
    assert ctx.call_id is None  # no database given
    assert ctx.args == ("from-trunk",) and ctx.dialplan == ("hotline-agi", "gas", "3")


async def test_failing_flow_falls_back(make_server: ServerFactory, fakes: list[FakeAsterisk],
                                       caplog: pytest.LogCaptureFixture) -> None:
    async def broken(channel: Channel, context: FlowContext) -> None:
        await channel.answer()
        raise KeyError("menu node 'x' missing")

    server = await make_server(flow_runner=FlowTable({"gas": broken}))
    fake = await open_fake(server, fakes, "flow/gas")
    assert await fake.answer("200 result=0") == "ANSWER"
    assert await fake.answer() == "SET VARIABLE HOTLINE_CONTINUE fallback"
    assert await fake.wait_closed_by_server() == b""
    assert "flow gas failed" in caplog.text


async def test_flow_that_hands_back_is_not_overridden(make_server: ServerFactory,
                                                      fakes: list[FakeAsterisk]) -> None:
    async def to_queue(channel: Channel, context: FlowContext) -> None:
        await channel.continue_in_dialplan("hotline-queues", "special")

    server = await make_server(flow_runner=FlowTable({"gas": to_queue}))
    fake = await open_fake(server, fakes, "flow/gas")
    assert await fake.answer("200 result=0") == "SET CONTEXT hotline-queues"
    assert await fake.answer("200 result=0") == "SET EXTENSION special"
    assert await fake.answer("200 result=0") == "SET PRIORITY 1"
    assert await fake.wait_closed_by_server() == b""  # no HOTLINE_CONTINUE after the hand-back


async def test_hangup_mid_command_ends_the_session(make_server: ServerFactory,
                                                   fakes: list[FakeAsterisk]) -> None:
    outcome: list[BaseException] = []

    async def waits(channel: Channel, context: FlowContext) -> None:
        try:
            await channel.collect_digits(max_digits=1, first_timeout=30)
        except ChannelHungUp as exc:
            outcome.append(exc)
            raise

    server = await make_server(flow_runner=FlowTable({"gas": waits}))
    fake = await open_fake(server, fakes, "flow/gas")
    assert await fake.command() == "WAIT FOR DIGIT 30000"
    await fake.close()
    await assert_still_serving(server, fakes)
    assert len(outcome) == 1


async def test_hangup_notice_reaches_the_flow(make_server: ServerFactory, fakes: list[FakeAsterisk]) -> None:
    async def plays(channel: Channel, context: FlowContext) -> None:
        await channel.play(["sound:a"])
        await channel.play(["sound:b"])

    server = await make_server(flow_runner=FlowTable({"gas": plays}))
    fake = await open_fake(server, fakes, "flow/gas")
    assert await fake.answer("200 result=-1 endpos=100") == "STREAM FILE a 0123456789*#"
    assert await fake.answer("HANGUP", "200 result=0") == "NOOP"
    # The flow got ChannelHungUp: nothing else is sent, no fallback on a dead call.
    assert await fake.wait_closed_by_server() == b""


# --- hostile and broken peers -----------------------------------------------------------------------------


@pytest.mark.parametrize("block", [
    b"hello\n\n",
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"agi_request: agi://x/lookup\n\n",  # required keys missing
    b"\n",  # empty block
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) + b"\n\n",  # a TLS hello
])
async def test_bad_environment_block_closes_without_a_command(make_server: ServerFactory,
                                                              fakes: list[FakeAsterisk], block: bytes,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "ivr.calls.agi.server")
    server = await make_server()
    fake = await open_fake(server, fakes, None)
    await fake.send(block)
    assert await fake.wait_closed_by_server() == b""
    assert "bad environment block" in caplog.text
    await assert_still_serving(server, fakes)


async def test_connection_closed_inside_the_environment(make_server: ServerFactory,
                                                        fakes: list[FakeAsterisk]) -> None:
    server = await make_server()
    fake = await open_fake(server, fakes, None)
    await fake.send(env_block("lookup")[:200])
    await fake.close()
    await assert_still_serving(server, fakes)


async def test_one_megabyte_environment_line(make_server: ServerFactory, fakes: list[FakeAsterisk],
                                             caplog: pytest.LogCaptureFixture) -> None:
    server = await make_server()
    fake = await open_fake(server, fakes, None)
    try:
        await fake.send(b"agi_request: " + b"A" * (1 << 20) + b"\n\n")
    except ConnectionError:
        pass  # the server may close while we are still writing: that is the point
    assert await fake.wait_closed_by_server() == b""
    assert "longer than 1024 bytes" in caplog.text
    await assert_still_serving(server, fakes)


async def test_one_megabyte_reply_line(make_server: ServerFactory, fakes: list[FakeAsterisk],
                                       caplog: pytest.LogCaptureFixture) -> None:
    async def asks(channel: Channel, context: FlowContext) -> None:
        await channel.get_variable("X")

    server = await make_server(flow_runner=FlowTable({"gas": asks}))
    fake = await open_fake(server, fakes, "flow/gas")
    assert await fake.command() == "GET VARIABLE X"
    try:
        await fake.send(b"200 result=1 (" + b"B" * (1 << 20) + b")\n")
    except ConnectionError:
        pass
    # Closed without reading the rest of the line and without a fallback attempt on a broken stream.
    assert await fake.wait_closed_by_server() == b""
    assert "protocol error" in caplog.text
    await assert_still_serving(server, fakes)


@pytest.mark.parametrize("garbage", [b"hello there\n", b"200 ok\n", b"999 result=1\n", b"\xff\xfe\n",
                                     b"\n"])
async def test_garbage_reply_ends_the_session(make_server: ServerFactory, fakes: list[FakeAsterisk],
                                              garbage: bytes) -> None:
    async def answers(channel: Channel, context: FlowContext) -> None:
        await channel.answer()

    server = await make_server(flow_runner=FlowTable({"gas": answers}))
    fake = await open_fake(server, fakes, "flow/gas")
    assert await fake.command() == "ANSWER"
    await fake.send(garbage)
    assert await fake.wait_closed_by_server() == b""
    await assert_still_serving(server, fakes)


async def test_session_timeout_falls_back(make_server: ServerFactory, fakes: list[FakeAsterisk]) -> None:
    async def stuck(channel: Channel, context: FlowContext) -> None:
        await asyncio.Event().wait()

    server = await make_server(flow_runner=FlowTable({"gas": stuck}), session_timeout=0.2)
    fake = await open_fake(server, fakes, "flow/gas")
    assert await fake.answer() == "SET VARIABLE HOTLINE_CONTINUE fallback"
    assert await fake.wait_closed_by_server() == b""


async def test_silent_peer_is_dropped_after_env_timeout(make_server: ServerFactory,
                                                        fakes: list[FakeAsterisk]) -> None:
    server = await make_server(env_timeout=0.2)
    fake = await open_fake(server, fakes, None)
    await fake.send(b"agi_network: yes\n")
    assert await fake.wait_closed_by_server() == b""


async def test_stop_hands_running_calls_back(agi_settings: object, fakes: list[FakeAsterisk]) -> None:
    started = asyncio.Event()

    async def long_flow(channel: Channel, context: FlowContext) -> None:
        started.set()
        await asyncio.Event().wait()

    server = AgiServer(agi_settings, zone=ZONE, flow_runner=FlowTable({"gas": long_flow}))  # type: ignore[arg-type]
    await server.start()
    try:
        fake = await open_fake(server, fakes, "flow/gas")
        await started.wait()
        stopping = asyncio.ensure_future(server.stop())
        assert await fake.answer() == "SET VARIABLE HOTLINE_CONTINUE fallback"
        assert await fake.wait_closed_by_server() == b""
        await stopping
        assert server.active_sessions == 0
        with pytest.raises(OSError):
            await FakeAsterisk.connect(fake.writer.get_extra_info("peername")[1])
    finally:
        await server.stop()


async def test_too_many_sessions_are_refused(make_server: ServerFactory, fakes: list[FakeAsterisk]) -> None:
    hold = asyncio.Event()

    async def holds(channel: Channel, context: FlowContext) -> None:
        await hold.wait()

    server = await make_server(flow_runner=FlowTable({"gas": holds}), max_sessions=1)
    first = await open_fake(server, fakes, "flow/gas")
    second = await open_fake(server, fakes, "flow/gas")
    assert await second.wait_closed_by_server() == b""  # AGI() returns FAILURE: the dialplan falls back
    hold.set()
    assert await first.answer() == "SET VARIABLE HOTLINE_CONTINUE ok"


async def test_many_concurrent_sessions(make_server: ServerFactory, fakes: list[FakeAsterisk]) -> None:
    server = await make_server()
    clients = [await open_fake(server, fakes, "nothing-here", agi_uniqueid=f"1.{i}") for i in range(30)]
    commands = await asyncio.gather(*(c.answer() for c in clients))
    assert set(commands) == {"SET VARIABLE HOTLINE_CONTINUE fallback"}


async def test_stop_during_a_lookup_with_a_silent_asterisk(make_server: ServerFactory,
                                                          fakes: list[FakeAsterisk]) -> None:
    server = await make_server()
    fake = await open_fake(server, fakes, "lookup")
    assert (await fake.command()).startswith("SET VARIABLE HOTLINE_CUSTOMER_ID")
    # The pyst2 worker waits for a reply that never comes; stopping must not wait for its 10 s timeout,
    # and nothing else may be written between its command and its (missing) reply.
    await server.stop()
    assert await fake.wait_closed_by_server() == b""
    assert server.active_sessions == 0
