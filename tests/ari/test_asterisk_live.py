"""The ARI call engine on a real Asterisk 22 (the session fixture `asterisk`, our generated dialplan).

Callers are Local channels: Local/inbound@hotline-test puts its ;2 half through [hotline-inbound] into
Stasis(hotline,inbound,<exten>) - that is the call - while the ;1 half runs a [hotline-test] extension (send
DTMF, play a sound, wait) and plays the caller's phone. Hanging up the ;1 half is the caller hanging up.
"""

from __future__ import annotations

import array
import asyncio
import datetime as dt
import hashlib
import math
import secrets
import wave
from pathlib import Path
from typing import AsyncIterator

import pytest
from sqlalchemy import func, select

from ivr.ari import events as ev
from ivr.ari.client import AriClient, AriNotFound
from ivr.ari.models import Channel as ChannelModel
from ivr.asterisk.instance import AsteriskInstance
from ivr.workorders.intake import FallbackSweeper
from ivr.calls.handler import AgentLegContext, CallContext
from ivr.calls.notifier import CallNotice
from ivr.channel import Channel
from ivr.db import Database
from ivr.db.models import Call, Recording, WorkOrder, WorkOrderType
from ivr.settings import Settings
from tests.builders import order_service
from tests.plugins.fake_ari import Gate, Harness, guard, until
from tests.plugins.asterisk import settings_for_asterisk

pytestmark = pytest.mark.asterisk


class Live(Harness):
    def __init__(self, asterisk: AsteriskInstance, settings: Settings, db: Database, tmp_path: Path) -> None:
        super().__init__(settings_for_asterisk(asterisk, settings), db, tmp_path,
                         recording_dir=asterisk.recordings_dir_host)
        self.asterisk = asterisk
        self.client = AriClient(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password, spec=self.spec)
        self.phones: list[str] = []

    async def call(self, extension: str, caller: str | None = None,
                   variables: dict[str, str] | None = None) -> tuple[str, CallNotice]:
        """Place a caller; returns (its phone side, the call_started notice of the call in our app)."""
        caller = caller or "139" + "".join(secrets.choice("0123456789") for _ in range(8))
        phone = await self.client.originate("Local/inbound@hotline-test", context="hotline-test",
                                            extension=extension, caller_id=f"Tester <{caller}>",
                                            variables=variables)
        self.phones.append(phone.id)
        started = await self.notice("call_started", lambda n: n.data["caller"] == caller)
        return phone.id, started

    async def hang_up_phone(self, phone_id: str) -> None:
        try:
            await self.client.hangup(phone_id)
        except AriNotFound:
            pass

    async def channel(self, channel_id: str) -> ChannelModel | None:
        try:
            return await self.client.get_channel(channel_id)
        except AriNotFound:
            return None

    async def close(self) -> None:
        await super().close()
        for pid in self.phones:
            await self.hang_up_phone(pid)
        await self.client.close()


@pytest.fixture
async def live(asterisk: AsteriskInstance, settings: Settings, db: Database, tmp_path: Path) -> AsyncIterator[Live]:
    h = Live(asterisk, settings, db, tmp_path)
    await h.client.start()
    try:
        yield h
    finally:
        await h.close()


def _loud_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        rate = w.getframerate()
        samples = array.array("h", w.readframes(w.getnframes()))
    win = rate // 10
    loud = sum(1 for i in range(0, len(samples) - win, win)
               if math.sqrt(sum(x * x for x in samples[i:i + win]) / win) > 300)
    return loud / 10


async def test_call_row_timeline_dtmf_and_caller_hangup(live: Live) -> None:
    got: list[str] = []

    async def handler(channel: Channel, ctx: CallContext) -> None:
        await channel.answer()
        result = await channel.collect_digits(max_digits=5, first_timeout=15, terminators="#")
        got.append(result.digits)
        await channel.collect_digits(max_digits=1, first_timeout=60)  # until the caller hangs up

    await live.start(live.engine(handler))
    phone, started = await live.call("dtmf-12#")  # the phone answers, waits 1 s, sends 1 2 #
    call = await live.timeline.get(started.call_id)
    assert call is not None and call.channel_id == started.data["channel"] and call.dialed == "95598"
    await until(lambda: got == ["12"], "digits 12# from the other half")
    await live.hang_up_phone(phone)
    ended = await live.notice("call_ended", lambda n: n.call_id == started.call_id)
    assert ended.data == {"side": "caller", "cause": "Normal Clearing"}
    events = await live.timeline.events(started.call_id)
    kinds = [e.kind for e in events]
    assert kinds[0] == "arrived" and kinds.index("answered") < kinds.index("dtmf") < kinds.index("hangup")
    assert [e.data["digit"] for e in events if e.kind == "dtmf"] == ["1", "2", "#"]
    assert [e.seq for e in events] == list(range(1, len(events) + 1))


async def test_two_track_recording_has_audio_in_both_directions(live: Live) -> None:
    caller_done = asyncio.Event()

    async def handler(channel: Channel, ctx: CallContext) -> None:
        await channel.answer()
        await channel.play(["sound:hello-world"])  # what the caller hears: the "agent" track
        await caller_done.wait()
        await channel.hangup()

    engine = await live.start(live.engine(handler))
    # The phone plays demo-thanks (about 2 s) to us: that is the caller track.
    phone, started = await live.call("play", variables={"HOTLINE_TEST_SOUND": "demo-thanks"})
    await engine.client.subscribe(live.settings.asterisk.app, f"channel:{phone}")

    def phone_done(event: ev.Event) -> None:  # the Wait(120) after its Playback, not the Wait(0) before it
        if (isinstance(event, ev.ChannelDialplan) and event.channel.id == phone and event.dialplan_app == "Wait"
                and event.dialplan_app_data == "120"):
            caller_done.set()

    engine.router.route(f"channel:{phone}", phone_done)
    await guard(caller_done.wait(), "the phone's Playback to finish")
    # Recordings are stored as the call ends (before the call_ended notice).
    await live.notice("recording_stored", lambda n: n.call_id == started.call_id and n.data["direction"] == "mixed")
    ended = await live.notice("call_ended", lambda n: n.call_id == started.call_id)
    assert ended.data["side"] == "system"
    async with live.db.session() as s:
        rows = {r.direction: r for r in (await s.execute(
            select(Recording).where(Recording.call_id == started.call_id))).scalars()}
    assert set(rows) == {"caller", "agent", "mixed"}
    call = await live.timeline.get(started.call_id)
    assert call is not None
    for track in ("caller", "agent"):  # QA lines the transcript up with the agent's answer from this
        began = rows[track].started_at
        assert began is not None and call.started_at <= began <= call.ended_at
    for row in rows.values():
        path = Path(row.path)
        assert row.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert row.duration_seconds > 1.0 and row.size_bytes == path.stat().st_size
    assert _loud_seconds(Path(rows["caller"].path)) > 1.0  # demo-thanks from the phone
    assert _loud_seconds(Path(rows["agent"].path)) > 0.5  # hello-world from us
    # The mix (sox -m scales each track by 1/2) spans both tracks and carries their audio.
    assert abs(rows["mixed"].duration_seconds - max(rows["caller"].duration_seconds,
                                                    rows["agent"].duration_seconds)) < 0.1
    assert _loud_seconds(Path(rows["mixed"].path)) > 1.0


async def test_agent_hanging_up_first_is_side_agent(live: Live) -> None:
    gate = Gate()
    legs: list[Channel] = []

    async def agent_handler(leg: Channel, ctx: AgentLegContext) -> None:
        legs.append(leg)
        assert ctx.caller is not None
        await ctx.caller.bridge_with(leg)

    engine = await live.start(live.engine(gate, agent_handler=agent_handler))
    phone, started = await live.call("wait")
    caller, ctx = await guard(gate.entered.get())
    await caller.answer()
    leg = await engine.client.originate("Local/wait@hotline-test", app="hotline", app_args=f"agent,{ctx.uid}")
    await live.notice("bridged", lambda n: n.call_id == ctx.call_id and n.data["role"] == "agent")
    model = await live.channel(leg.id)
    assert model is not None and model.stasis_args("hotline") == ("agent", ctx.uid)
    # The agent's phone is the ;2 half of the leg: hang it up.
    agent_phone = [c for c in await engine.client.list_channels()
                   if c.name == leg.name.replace(";1", ";2")][0]
    await engine.client.hangup(agent_phone.id)
    await live.notice("agent_leg_ended", lambda n: n.call_id == ctx.call_id)
    await live.hang_up_phone(phone)
    ended = await live.notice("call_ended", lambda n: n.call_id == ctx.call_id)
    assert ended.data["side"] == "agent"
    async with live.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Call)
                                .where(Call.channel_id == leg.id))).scalar_one() == 0


async def test_handler_failure_reaches_the_dialplan_fallback(live: Live) -> None:
    async def handler(channel: Channel, ctx: CallContext) -> None:
        await channel.answer()
        raise RuntimeError("the flow engine tripped")

    await live.start(live.engine(handler))
    phone, started = await live.call("wait")
    await live.notice("stasis_end", lambda n: n.call_id == started.call_id)
    model = await live.channel(started.data["channel"])
    assert model is not None and model.dialplan.context == "hotline-fallback"  # app_queue, then a message
    call = await live.timeline.get(started.call_id)
    assert call is not None and call.outcome == "fallback" and call.ended_at is None
    await live.hang_up_phone(phone)
    ended = await live.notice("call_ended", lambda n: n.call_id == started.call_id)
    assert ended.data["side"] == "caller"


async def test_stopping_the_service_hands_calls_over_and_restart_resyncs(live: Live) -> None:
    gate = Gate()
    first = await live.start(live.engine(gate))
    phone, started = await live.call("wait")
    await guard(gate.entered.get())
    await first.stop()
    live.engines.remove(first)
    model = await live.channel(started.data["channel"])
    assert model is not None and model.dialplan.context == "hotline-fallback"  # not dropped

    await live.start(live.engine(gate))
    assert gate.entered.empty()  # watched, not run again
    await live.hang_up_phone(phone)
    ended = await live.notice("call_ended", lambda n: n.call_id == started.call_id)
    assert ended.data["side"] == "caller"
    async with live.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Call)
                                .where(Call.channel_id == started.data["channel"]))).scalar_one() == 1


async def test_crash_and_restart_sends_the_waiting_caller_to_the_fallback(live: Live) -> None:
    gate = Gate()
    first = await live.start(live.engine(gate))
    phone, started = await live.call("wait")
    await guard(gate.entered.get())
    for task in list(first.service._tasks):
        task.cancel()
    await asyncio.gather(*first.service._tasks, return_exceptions=True)
    await first.session.stop()  # the websocket dies with the process; Asterisk keeps the channel in Stasis
    await first.client.close()
    live.engines.remove(first)
    model = await live.channel(started.data["channel"])
    assert model is not None and model.stasis_args("hotline") == ("inbound", "95598")

    await live.start(live.engine(gate))
    fallback = await live.notice("fallback", lambda n: n.call_id == started.call_id)
    assert fallback.data["reason"] == "service restarted during the call"
    await live.notice("stasis_end", lambda n: n.call_id == started.call_id)
    model = await live.channel(started.data["channel"])
    assert model is not None and model.dialplan.context == "hotline-fallback"
    kinds = [e.kind for e in await live.timeline.events(started.call_id)]
    assert kinds.count("arrived") == 1 and "resynced" in kinds
    await live.hang_up_phone(phone)
    assert (await live.notice("call_ended", lambda n: n.call_id == started.call_id)).data["side"] == "caller"


async def test_with_our_service_down_stasis_fails_over_to_the_fallback(live: Live) -> None:
    # No engine: nobody holds the app's websocket.
    phone = await live.client.originate("Local/inbound@hotline-test", context="hotline-test", extension="wait",
                                        caller_id="Tester <13900139077>")
    live.phones.append(phone.id)
    caller_half = phone.name.replace(";1", ";2")

    async def in_fallback() -> bool:
        for c in await live.client.list_channels():
            if c.name == caller_half and c.dialplan.context == "hotline-fallback":
                return True
        return False

    async def wait() -> None:
        while not await in_fallback():
            await asyncio.sleep(0.05)

    await guard(wait(), "the caller in [hotline-fallback]")
    async with live.db.session() as s:  # our service never saw the call
        assert (await s.execute(select(func.count()).select_from(Call))).scalar_one() == 0
    # The fallback queue has nobody (2 s in tests), then the message: its sidecar names the call.
    found: list[Path] = []

    caller_half_id = next(c.id for c in await live.client.list_channels() if c.name == caller_half)
    sidecar_file = live.asterisk.recordings_dir_host / f"fallback-{caller_half_id}.txt"

    async def sidecar() -> None:
        while not sidecar_file.exists():
            await asyncio.sleep(0.05)

    # Generous: once `hotline prompts build` has run (other tests), the message prompt plays before it.
    async with asyncio.timeout(90):
        await sidecar()
    found.append(sidecar_file)
    uniqueid = found[0].name.removeprefix("fallback-").removesuffix(".txt")
    await live.hang_up_phone(phone.id)  # hanging up is how most callers end their message
    sweeper = FallbackSweeper(live.db, live.asterisk.recordings_dir_host, order_service(live.db),
                              message_seconds=live.settings.asterisk.fallback_message_seconds)
    report = await sweeper.sweep(dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1))
    assert len(report.orders) == 1 and not found[0].exists()
    async with live.db.session() as s:
        call = (await s.execute(select(Call))).scalar_one()
        order = (await s.execute(select(WorkOrder))).scalar_one()
    assert (call.channel_id, call.protocol, call.caller_number) == (uniqueid, "dialplan", "13900139077")
    assert order.call_id == call.id and order.type is WorkOrderType.CALLBACK_REQUEST
    assert order.contact_phone == "13900139077" and order.callback_due_at is not None
