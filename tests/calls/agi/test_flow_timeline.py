"""What a flow session leaves on the call timeline (real database): the call row, hang-ups, fallbacks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ivr.calls.agi.flow import FlowContext, FlowTable
from ivr.calls.timeline import Timeline
from ivr.channel import Channel
from ivr.db import Database
from ivr.db.models import HangupSide
from tests.plugins.fake_agi import ServerFactory
from tests.agi.fake_asterisk import FakeAsterisk


async def start(port: int, fakes: list[FakeAsterisk], uniqueid: str) -> FakeAsterisk:
    fake = await FakeAsterisk.start(port, "flow/gas", {"agi_uniqueid": uniqueid})
    fakes.append(fake)
    return fake


async def test_caller_hang_up_closes_the_call(db: Database, make_server: ServerFactory,
                                              fakes: list[FakeAsterisk]) -> None:
    contexts: list[FlowContext] = []

    async def flow(channel: Channel, context: FlowContext) -> None:
        contexts.append(context)
        await channel.play(["sound:welcome"])

    server = await make_server(db=db, flow_runner=FlowTable({"gas": flow}))
    fake = await start(server.port, fakes, "900.1")
    await fake.answer("200 result=-1 endpos=0")
    await fake.answer("HANGUP", "200 result=0")  # the NOOP probe
    assert await fake.wait_closed_by_server() == b""
    call = await Timeline(db).by_channel("900.1")
    assert call is not None and call.id == contexts[0].call_id
    assert (call.flow, call.protocol, call.hangup_side) == ("gas", "agi", HangupSide.CALLER)
    assert call.ended_at is not None


async def test_flow_that_hangs_up_is_a_system_hang_up(db: Database, make_server: ServerFactory,
                                                      fakes: list[FakeAsterisk]) -> None:
    async def flow(channel: Channel, context: FlowContext) -> None:
        await channel.hangup()

    server = await make_server(db=db, flow_runner=FlowTable({"gas": flow}))
    fake = await start(server.port, fakes, "900.2")
    assert await fake.answer("200 result=1") == "HANGUP"
    assert await fake.wait_closed_by_server() == b""
    call = await Timeline(db).by_channel("900.2")
    assert call is not None and call.hangup_side == HangupSide.SYSTEM


async def test_failed_flow_is_recorded_as_fallback(db: Database, make_server: ServerFactory,
                                                   fakes: list[FakeAsterisk]) -> None:
    async def flow(channel: Channel, context: FlowContext) -> None:
        raise LookupError("no node 'menu2'")

    server = await make_server(db=db, flow_runner=FlowTable({"gas": flow}))
    fake = await start(server.port, fakes, "900.3")
    assert await fake.answer() == "SET VARIABLE HOTLINE_CONTINUE fallback"
    timeline = Timeline(db)
    call = await timeline.by_channel("900.3")
    assert call is not None and call.outcome == "fallback" and call.ended_at is None  # the call goes on
    assert "no node 'menu2'" in call.fallback_reason
    assert [e.kind for e in await timeline.events(call.id)] == ["arrived", "fallback"]


async def test_transferred_call_stays_open(db: Database, make_server: ServerFactory,
                                           fakes: list[FakeAsterisk]) -> None:
    async def flow(channel: Channel, context: FlowContext) -> None:
        await channel.transfer("site-queues", "s")
        await channel.play(["sound:too-late"])  # a flow bug: the call is no longer ours

    server = await make_server(db=db, flow_runner=FlowTable({"gas": flow}))
    fake = await start(server.port, fakes, "900.4")
    for _ in range(3):
        await fake.answer("200 result=0")
    assert await fake.wait_closed_by_server() == b""
    call = await Timeline(db).by_channel("900.4")
    assert call is not None and call.ended_at is None and call.outcome == ""


@pytest.fixture
async def dead_db() -> AsyncIterator[Database]:
    database = Database("postgresql+asyncpg://nobody@127.0.0.1:1/hotline")
    yield database
    await database.dispose()


async def test_flow_still_runs_without_a_database(dead_db: Database, make_server: ServerFactory,
                                                  fakes: list[FakeAsterisk]) -> None:
    contexts: list[FlowContext] = []

    async def flow(channel: Channel, context: FlowContext) -> None:
        contexts.append(context)
        await channel.answer()

    server = await make_server(db=dead_db, flow_runner=FlowTable({"gas": flow}))
    fake = await start(server.port, fakes, "900.5")
    assert await fake.answer("200 result=0") == "ANSWER"
    assert await fake.answer() == "SET VARIABLE HOTLINE_CONTINUE ok"
    assert contexts[0].call_id is None
