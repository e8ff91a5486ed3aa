"""Stopping, crashing, reconnecting: no call dropped, no row duplicated, no row left open for a dead channel."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from websockets.asyncio.client import connect

from ivr.ari.client import basic_auth_header
from ivr.calls.ari_engine import AriEngine
from ivr.calls.handler import AgentLegContext, CallContext
from ivr.channel import Channel
from ivr.db.models import Call, HangupSide
from tests.plugins.fake_ari import Gate, Harness, guard, until


async def _rows(h: Harness, channel_id: str) -> int:
    async with h.db.session() as s:
        return int((await s.execute(select(func.count()).select_from(Call)
                                    .where(Call.channel_id == channel_id))).scalar_one())


async def _crash(engine: AriEngine) -> None:
    """Our process dies: the websocket closes, nothing is handed over, memory is lost."""
    for task in list(engine.service._tasks):
        task.cancel()
    await asyncio.gather(*engine.service._tasks, return_exceptions=True)
    await engine.session.stop()
    await engine.client.close()


async def test_stopping_hands_ivr_calls_to_the_fallback_and_restart_adopts_them(harness: Harness) -> None:
    gate = Gate()
    first = await harness.start(harness.engine(gate))
    cid = await harness.fake.inbound_call()
    _, ctx = await guard(gate.entered.get())
    await first.stop()
    harness.engines.remove(first)
    step = harness.fake.dialplan[-1]
    assert step["channel"] == cid and step["vars"]["HOTLINE_CONTINUE"] == "fallback"
    assert step["vars"]["HOTLINE_FALLBACK_DETAIL"] == "hotline service stopping"
    call = await harness.timeline.get(ctx.call_id)
    assert call is not None and call.ended_at is None and call.outcome == "fallback"
    assert isinstance(gate.results[0], asyncio.CancelledError)

    second = await harness.start(harness.engine(gate))
    assert list(second.service.calls) == [cid]  # watched for its hang-up, not run again
    assert gate.entered.empty()
    await harness.fake.caller_hangup(cid)
    ended = await harness.notice("call_ended")
    assert ended.call_id == ctx.call_id and ended.data["side"] == "caller"
    assert await _rows(harness, cid) == 1
    assert [d["event"] for d in harness.fake.dialplan if d["channel"] == cid] == ["continue"]


async def test_crash_then_restart_continues_the_caller_to_the_fallback(harness: Harness) -> None:
    gate = Gate()
    first = await harness.start(harness.engine(gate))
    cid = await harness.fake.inbound_call()
    _, ctx = await guard(gate.entered.get())
    await _crash(first)
    harness.engines.remove(first)
    assert harness.fake.channels[cid].stasis_app == "hotline"  # Asterisk keeps it in the app meanwhile

    await harness.start(harness.engine(gate))
    fallback = await harness.notice("fallback")
    assert fallback.call_id == ctx.call_id
    assert fallback.data["reason"] == "service restarted during the call"
    assert await _rows(harness, cid) == 1
    kinds = [e.kind for e in await harness.timeline.events(ctx.call_id)]
    assert kinds.count("arrived") == 1 and "resynced" in kinds


async def test_restart_resumes_with_the_resume_handler(harness: Harness) -> None:
    gate = Gate()
    resumed: list[CallContext] = []

    async def resume(channel: Channel, ctx: CallContext) -> None:
        resumed.append(ctx)
        await channel.play(["sound:sorry-for-the-wait"])
        await channel.hangup()

    first = await harness.start(harness.engine(gate))
    cid = await harness.fake.inbound_call()
    _, ctx = await guard(gate.entered.get())
    await _crash(first)
    harness.engines.remove(first)
    await harness.start(harness.engine(gate, resume_handler=resume))
    ended = await harness.notice("call_ended")
    assert ended.data["side"] == "system"
    assert [(c.call_id, c.resumed) for c in resumed] == [(ctx.call_id, True)]
    assert await _rows(harness, cid) == 1


async def test_crash_while_talking_keeps_the_bridge_and_still_knows_who_hung_up(harness: Harness) -> None:
    gate = Gate()

    async def agent_handler(leg: Channel, ctx: AgentLegContext) -> None:
        if not ctx.resumed:
            assert ctx.caller is not None
            await ctx.caller.bridge_with(leg)

    first = await harness.start(harness.engine(gate, agent_handler=agent_handler))
    cid = await harness.fake.inbound_call()
    _, ctx = await guard(gate.entered.get())
    leg = await first.client.originate("PJSIP/agent-1001", app="hotline", app_args=f"agent,{ctx.uid}")
    await harness.fake.answer(leg.id)
    await harness.notice("bridged", lambda n: n.data["role"] == "agent")
    await _crash(first)
    harness.engines.remove(first)

    second = await harness.start(harness.engine(gate, agent_handler=agent_handler))
    assert harness.fake.bridges and all(harness.fake.channels[c].bridge for c in (cid, leg.id))
    assert list(second.service.legs) == [leg.id]
    assert not [d for d in harness.fake.dialplan if d["channel"] == cid]  # not pulled out of the bridge
    await harness.fake.caller_hangup(leg.id)  # the agent hangs up first
    await harness.fake.caller_hangup(cid)
    ended = await harness.notice("call_ended")
    assert ended.data["side"] == "agent"


async def test_events_lost_during_a_blip_are_reconciled(harness: Harness) -> None:
    gate = Gate()
    engine = await harness.start(harness.engine(gate))
    cid = await harness.fake.inbound_call()
    _, ctx = await guard(gate.entered.get())
    await harness.fake.stop()
    await harness.fake.caller_hangup(cid)  # nobody connected: the events are lost
    engine.session.resynced.clear()
    await harness.fake.start()
    await guard(engine.session.resynced.wait(), "resync after the blip")
    ended = await harness.notice("call_ended")
    assert ended.call_id == ctx.call_id and ended.data["side"] == HangupSide.UNKNOWN.value
    await until(lambda: bool(gate.results), "handler ended")
    assert type(gate.results[0]).__name__ == "ChannelHungUp"


async def test_asterisk_restart_closes_every_call_once(harness: Harness) -> None:
    gate = Gate()
    engine = await harness.start(harness.engine(gate))
    cids = [await harness.fake.inbound_call(caller=f"1380000000{i}") for i in range(3)]
    for _ in cids:
        await guard(gate.entered.get())
    await harness.fake.stop()
    harness.fake.vanish()
    engine.session.resynced.clear()
    await harness.fake.start()
    await guard(engine.session.resynced.wait())
    ended = {(await harness.notice("call_ended")).call_id for _ in cids}
    assert len(ended) == 3
    for call_id in ended:
        call = await harness.timeline.get(call_id)
        assert call is not None and call.hangup_side == HangupSide.UNKNOWN and call.ended_at is not None
    assert await harness.timeline.open_calls() == []


async def test_a_call_whose_stasis_start_we_never_saw_gets_its_row(harness: Harness) -> None:
    # Another instance of us held the app when the call arrived, then died before opening the row.
    url = harness.fake.url.replace("http", "ws", 1) + "/ari/events?app=hotline&subscribeAll=false"
    async with connect(url, additional_headers={"Authorization": basic_auth_header(harness.fake.user,
                                                                                   harness.fake.password)},
                       proxy=None):
        await until(lambda: bool(harness.fake.sockets.get("hotline")))
        cid = await harness.fake.inbound_call(caller="13700000000")
    await harness.start(harness.engine(handler=None))
    fallback = await harness.notice("fallback")
    call = await harness.timeline.get(fallback.call_id)
    assert call is not None and call.channel_id == cid and call.caller_number == "13700000000"
    assert await _rows(harness, cid) == 1


async def test_repeated_resyncs_never_duplicate(harness: Harness) -> None:
    gate = Gate()
    engine = await harness.start(harness.engine(gate))
    cid = await harness.fake.inbound_call()
    _, ctx = await guard(gate.entered.get())
    for _ in range(3):
        engine.session.resynced.clear()
        await harness.fake.drop_websockets()
        await guard(engine.session.resynced.wait())
    assert await _rows(harness, cid) == 1
    assert engine.session.connections == 4
    assert list(engine.service.calls) == [cid] and gate.results == []
    await harness.fake.caller_hangup(cid)
    assert (await harness.notice("call_ended")).data["side"] == "caller"
