"""The call engine (ivr/calls) over the fake ARI and a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from sqlalchemy import func, select

from ivr.calls.handler import AgentLegContext, CallContext
from ivr.channel import Channel, Direction
from ivr.db.models import Call, CallState, HangupSide, Recording
from tests.plugins.fake_ari import Gate, Harness, guard, until


async def _count_calls(h: Harness, channel_id: str | None = None) -> int:
    async with h.db.session() as s:
        q = select(func.count()).select_from(Call)
        if channel_id is not None:
            q = q.where(Call.channel_id == channel_id)
        return int((await s.execute(q)).scalar_one())


async def _kinds(h: Harness, call_id: int) -> list[str]:
    return [e.kind for e in await h.timeline.events(call_id)]


async def test_row_and_timeline_exist_before_the_handler_runs(harness: Harness) -> None:
    seen: list[tuple[str, list[str]]] = []
    answered = asyncio.Event()

    async def handler(channel: Channel, ctx: CallContext) -> None:
        call = await ctx.timeline.get(ctx.call_id)
        assert call is not None
        seen.append((call.channel_id, [e.kind for e in await ctx.timeline.events(ctx.call_id)]))
        await channel.answer()
        answered.set()
        await channel.collect_digits(max_digits=2, first_timeout=5)

    await harness.start(harness.engine(handler))
    cid = await harness.fake.inbound_call(caller="13812345678")
    started = await harness.notice("call_started")
    assert started.data["caller"] == "13812345678" and started.data["dialed"] == "95598"
    await until(lambda: seen, "handler")
    assert seen == [(cid, ["arrived"])]
    # Keys and the hang-up after the answer: on a busy machine they could otherwise overtake it.
    await guard(answered.wait(), "answered")
    await harness.fake.press(cid, "42")
    await harness.fake.caller_hangup(cid)
    ended = await harness.notice("call_ended")
    assert ended.data == {"side": "caller", "cause": "Normal Clearing"}
    call = await harness.timeline.get(started.call_id)
    assert call is not None and call.state == CallState.ENDED
    assert call.hangup_side == HangupSide.CALLER and call.hangup_cause == "Normal Clearing"
    assert call.caller_number == "13812345678" and call.dialed == "95598" and call.protocol == "ari"
    kinds = await _kinds(harness, call.id)
    assert kinds[0] == "arrived"
    assert set(kinds[kinds.index("hangup") + 1:]) <= {"recording_stored"}  # the recordings are stored last
    assert kinds.index("answered") < kinds.index("dtmf") < kinds.index("hangup_request") < kinds.index("hangup")
    digits = [e.data["digit"] for e in await harness.timeline.events(call.id) if e.kind == "dtmf"]
    assert digits == ["4", "2"]
    seqs = [e.seq for e in await harness.timeline.events(call.id)]
    assert seqs == list(range(1, len(seqs) + 1))


async def test_we_hang_up_side_system(harness: Harness) -> None:
    async def handler(channel: Channel, ctx: CallContext) -> None:
        await channel.answer()
        await channel.play(["sound:goodbye"])
        await channel.hangup("normal")

    await harness.start(harness.engine(handler))
    await harness.fake.inbound_call()
    ended = await harness.notice("call_ended")
    assert ended.data["side"] == "system"
    call = await harness.timeline.get(ended.call_id)
    assert call is not None and call.hangup_side == HangupSide.SYSTEM


async def test_handler_returning_hangs_up_normally(harness: Harness) -> None:
    async def handler(channel: Channel, ctx: CallContext) -> None:
        await channel.answer()

    await harness.start(harness.engine(handler))
    await harness.fake.inbound_call()
    assert (await harness.notice("call_ended")).data["side"] == "system"


async def test_handler_failure_continues_to_the_dialplan_fallback(harness: Harness) -> None:
    async def handler(channel: Channel, ctx: CallContext) -> None:
        await channel.answer()
        raise KeyError("flow node 'menu' has no option 7")

    await harness.start(harness.engine(handler))
    cid = await harness.fake.inbound_call()
    fallback = await harness.notice("fallback")
    assert "KeyError" in fallback.data["reason"]
    await harness.notice("stasis_end")
    step = harness.fake.dialplan[-1]
    assert step["channel"] == cid and step["event"] == "continue" and step["context"] is None
    assert step["vars"]["HOTLINE_CONTINUE"] == "fallback"
    assert "KeyError" in step["vars"]["HOTLINE_FALLBACK_DETAIL"]
    call = await harness.timeline.get(fallback.call_id)
    assert call is not None and call.outcome == "fallback" and "KeyError" in call.fallback_reason
    assert call.ended_at is None  # the dialplan has the call now; it is not over
    # The caller hangs up while in the fallback queue: still captured (we stayed subscribed).
    await harness.fake.caller_hangup(cid)
    ended = await harness.notice("call_ended")
    assert ended.data["side"] == "caller"
    kinds = await _kinds(harness, fallback.call_id)
    assert kinds.index("handler_failed") < kinds.index("fallback") < kinds.index("stasis_end") < \
        kinds.index("hangup")


async def test_no_handler_means_fallback(harness: Harness) -> None:
    await harness.start(harness.engine(handler=None))
    await harness.fake.inbound_call()
    notice = await harness.notice("fallback")
    assert notice.data["reason"] == "no call handler configured"


async def test_caller_gone_before_fallback_is_not_an_error(harness: Harness) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def handler(channel: Channel, ctx: CallContext) -> None:
        entered.set()
        await release.wait()  # busy elsewhere (a lookup) while the caller hangs up
        raise RuntimeError("late failure")

    await harness.start(harness.engine(handler))
    cid = await harness.fake.inbound_call()
    await guard(entered.wait())
    await harness.fake.caller_hangup(cid)
    await harness.notice("hangup_request")
    release.set()
    skipped = await harness.notice("fallback_skipped")
    assert skipped.data["hung_up"] is True
    assert not [d for d in harness.fake.dialplan if d["channel"] == cid]


async def test_agent_leg_is_routed_to_the_acd_and_agent_hangs_up_first(harness: Harness) -> None:
    legs: list[tuple[Channel, AgentLegContext]] = []
    gate = Gate()

    async def agent_handler(leg: Channel, ctx: AgentLegContext) -> None:
        legs.append((leg, ctx))
        assert ctx.caller is not None
        await ctx.caller.bridge_with(leg)

    engine = await harness.start(harness.engine(gate, agent_handler=agent_handler))
    cid = await harness.fake.inbound_call()
    caller, ctx = await guard(gate.entered.get())
    leg = await engine.client.originate("PJSIP/agent-1001", app="hotline", app_args=f"agent,{ctx.uid}")
    await harness.fake.answer(leg.id)
    await harness.notice("bridged", lambda n: n.data["role"] == "agent")
    assert len(legs) == 1 and legs[0][1].call_uid == ctx.uid and legs[0][1].call_id == ctx.call_id
    assert await _count_calls(harness) == 1  # the agent leg is not a call
    await harness.fake.caller_hangup(leg.id)  # the agent hangs up first
    await harness.notice("agent_leg_ended")
    await harness.fake.caller_hangup(cid)
    ended = await harness.notice("call_ended")
    assert ended.data["side"] == "agent"
    gate.release.set()


async def test_ringing_agent_leg_rejecting_is_not_the_hangup_side(harness: Harness) -> None:
    gate = Gate()

    async def agent_handler(leg: Channel, ctx: AgentLegContext) -> None:
        await leg.hangup("busy")  # e.g. the ACD cancels an offer

    engine = await harness.start(harness.engine(gate, agent_handler=agent_handler))
    cid = await harness.fake.inbound_call()
    _, ctx = await guard(gate.entered.get())
    leg = await engine.client.originate("PJSIP/agent-1002", app="hotline", app_args=f"agent,{ctx.uid}")
    await harness.fake.answer(leg.id)
    await harness.notice("agent_leg_ended")
    await harness.fake.caller_hangup(cid)
    assert (await harness.notice("call_ended")).data["side"] == "caller"
    gate.release.set()


async def test_two_track_recording_is_stored_with_sha256(harness: Harness) -> None:
    async def handler(channel: Channel, ctx: CallContext) -> None:
        await channel.answer()
        await channel.collect_digits(max_digits=1, first_timeout=30)

    await harness.start(harness.engine(handler))
    cid = await harness.fake.inbound_call()
    await harness.notice("recording_started", lambda n: n.data["name"].endswith("-agent"))
    await harness.fake.caller_hangup(cid)
    await harness.notice("call_ended")
    async with harness.db.session() as s:
        rows = {r.direction: r for r in (await s.execute(select(Recording))).scalars()}
    assert set(rows) == {"caller", "agent", "mixed"}
    for direction, row in rows.items():
        path = Path(row.path)
        assert path.is_file() and path.is_relative_to(harness.archive)
        assert row.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert row.size_bytes == path.stat().st_size and row.duration_seconds == 1.0
        assert path.name.endswith(f"-{direction}.wav")
    assert not any(harness.fake.recording_dir.glob("call-*.wav"))  # moved into the archive
    assert Direction.MIXED.value in rows


async def test_notifier_streams_the_call(harness: Harness) -> None:
    async def handler(channel: Channel, ctx: CallContext) -> None:
        await channel.answer()
        await channel.hangup()

    sub = harness.notifier.subscribe()
    await harness.start(harness.engine(handler))
    await harness.fake.inbound_call()
    kinds = []
    async for notice in sub:
        kinds.append(notice.kind)
        if notice.kind == "call_ended":
            break
    sub.close()
    assert kinds[0] == "call_started" and kinds[1] == "arrived" and "answered" in kinds and "hangup" in kinds


async def test_database_down_still_serves_the_caller(harness: Harness, tmp_path: Path) -> None:
    from ivr.calls.timeline import Timeline
    from ivr.db import Database

    broken = Database(f"sqlite+aiosqlite:///{tmp_path}/no-such-dir/x.db")
    (tmp_path / "no-such-dir").rmdir()
    harness.timeline = Timeline(broken)
    try:
        engine = harness.engine(handler=None)
        await engine.start()
        await guard(engine.session.connected.wait(), "websocket")
        cid = await harness.fake.inbound_call()
        await until(lambda: any(d["channel"] == cid for d in harness.fake.dialplan), "fallback")
        assert harness.fake.dialplan[-1]["vars"]["HOTLINE_FALLBACK_DETAIL"] == "database unavailable"
    finally:
        await broken.dispose()
