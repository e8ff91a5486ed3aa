"""FastAGI against the real Asterisk of the session fixture and its generated dialplan.

Calls are Local channels: the ;2 half runs the dialplan under test (hotline-agi / hotline-lookup-example, whose
AGI() points at settings.agi), the ;1 half runs a helper in hotline-test (SendDTMF, Wait, Playback). Agent
phones are sipp UASs on the agents' static contacts.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from sqlalchemy import select

from ivr.calls.agi.flow import FlowContext, FlowTable
from ivr.calls.agi.server import AgiServer
from ivr.asterisk.instance import AsteriskInstance
from ivr.asterisk.ports import PortAllocator
from recordings.store import RecordingStore
from ivr.calls.timeline import Timeline
from ivr.channel import Channel, ChannelHungUp, DigitsResult, Direction
from ivr.db import Database
from ivr.db.models import Agent, Call, CallState, HangupSide, JobStatus, Queue, Recording, TranscriptionJob
from ivr.engine import FlowResult, Outcome, QueueRequest
from tests.calls.agi.test_lookup import seed
from tests.plugins.asterisk import ari_headers, start_sipp
from tests.builders import ZONE, order_service

SIPP_DIR = Path(__file__).resolve().parent / "sipp"
T = TypeVar("T")

pytestmark = pytest.mark.asterisk
WAIT = 60  # generous upper bound for one call; never a speed assertion


class Ari:
    def __init__(self, instance: AsteriskInstance, session: aiohttp.ClientSession) -> None:
        self.base = instance.ari_url + "/ari"
        self.session = session

    async def call(self, method: str, path: str, **params: str) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, params=params) as r:
            body = await r.text()
            return r.status, (json.loads(body) if body else None)

    async def variable(self, channel_id: str, name: str) -> str | None:
        status, body = await self.call("GET", f"/channels/{channel_id}/variable", variable=name)
        return body["value"] if status == 200 else None

    async def originate(self, endpoint: str, context: str, extension: str, caller: str = "",
                        variables: dict[str, str] | None = None) -> tuple[str, str]:
        """Local channel: returns (;1 id, ;2 id); ;2 runs `endpoint`'s extension, ;1 goes to context,extension
        with `variables` set on it."""
        one, two = f"t-{uuid.uuid4().hex[:12]}", f"t-{uuid.uuid4().hex[:12]}"
        params = {"endpoint": endpoint, "context": context, "extension": extension, "priority": "1",
                  "channelId": one, "otherChannelId": two}
        if caller:
            params["callerId"] = caller
        if variables:
            async with self.session.post(self.base + "/channels", params=params,
                                         json={"variables": variables}) as r:
                status, body = r.status, await r.json()
        else:
            status, body = await self.call("POST", "/channels", **params)
        assert status == 200, f"originate {endpoint}: {status} {body}"
        return one, two

    async def hangup(self, channel_id: str) -> None:
        await self.call("DELETE", f"/channels/{channel_id}")

    async def name(self, channel_id: str) -> str:
        status, body = await self.call("GET", f"/channels/{channel_id}")
        assert status == 200, f"channel {channel_id}: {status} {body}"
        return str(body["name"])


@pytest.fixture
async def ari(asterisk: AsteriskInstance) -> AsyncIterator[Ari]:
    async with aiohttp.ClientSession(headers=ari_headers(asterisk)) as session:
        yield Ari(asterisk, session)


@pytest.fixture(autouse=True)
async def quiet_agents(asterisk: AsteriskInstance) -> AsyncIterator[Callable[[str], Awaitable[None]]]:
    """The fallback queue rings nobody unless a test lets one agent ring (`await ring("agent-1001")`).

    An INVITE to an agent port where no sipp listens is retransmitted for 32 s, and a later test's sipp on that
    port would answer the stale one instead of its own call: paused members are never rung.
    """
    async def member(verb: str, endpoint: str) -> None:
        out = await asterisk.arx(f"queue {verb} member PJSIP/{endpoint} queue hotline-fallback")
        assert f"paused interface 'PJSIP/{endpoint}'" in out, out

    for agent in asterisk.agents:
        await member("pause", agent.endpoint)
    yield lambda endpoint: member("unpause", endpoint)
    for agent in asterisk.agents:
        await member("unpause", agent.endpoint)


@pytest.fixture
async def sqlite_db(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "hotline.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    yield db
    await db.dispose()


def server_for(asterisk: AsteriskInstance, **kwargs: Any) -> AgiServer:
    kwargs.setdefault("host_path", asterisk.host_path)  # as ivr/app.py wires it
    return AgiServer(asterisk.settings.agi, zone=ZONE, recording_dir=str(asterisk.recordings_dir), **kwargs)


async def wait_sessions(server: AgiServer, count: int) -> None:
    async def done() -> None:
        while server.sessions_served < count:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(done(), WAIT)


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Poll until probe() gives something; WAIT bounds a hang, it is not a speed assertion."""
    try:
        async with asyncio.timeout(WAIT):
            while True:
                got = await probe()
                if got:
                    return got
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}") from None


async def ended_call(db: Database, channel_id: str) -> Call:
    """The call row of `channel_id` once closed: Timeline.close_call commits ended_at and then its "hangup"
    event, so wait for the event too (a test reading the events in between would see them incomplete)."""
    async def probe() -> Call | None:
        timeline = Timeline(db)
        call = await timeline.by_channel(channel_id)
        if call is None or call.ended_at is None:
            return None
        return call if any(e.kind == "hangup" for e in await timeline.events(call.id)) else None
    return await eventually(probe, f"call row of {channel_id} closed")


def queue_flow(queue: str, priority: int) -> Callable[[Channel, FlowContext], Awaitable[FlowResult]]:
    """A flow that answers and asks for a person, as the engine's queue node does."""
    async def flow(channel: Channel, context: FlowContext) -> FlowResult:
        await channel.answer()
        assert context.call_id is not None
        request = QueueRequest(call_id=context.call_id, queue=queue, skill=queue, priority=priority,
                               flow="agitest", node="to_queue")
        return FlowResult(Outcome.QUEUE, context.call_id, ("to_queue",), queue=request)
    return flow


async def test_flow_collects_dtmf_sent_by_the_other_half(asterisk: AsteriskInstance, ari: Ari) -> None:
    seen: dict[str, Any] = {}

    async def flow(channel: Channel, context: FlowContext) -> None:
        await channel.answer()
        seen["digits"] = await channel.collect_digits(max_digits=4, first_timeout=20, inter_timeout=5,
                                                      prompt=["sound:beep"])
        await channel.set_variable("HOTLINE_TEST_DIGITS", seen["digits"].digits)
        seen["echo"] = await channel.get_variable("HOTLINE_TEST_DIGITS")
        seen["context"] = context

    async with server_for(asterisk, flow_runner=FlowTable({"agitest": flow})) as server:
        one, _two = await ari.originate("Local/agitest@hotline-agi", "hotline-test", "dtmf-42#")
        try:
            await wait_sessions(server, 1)
        finally:
            await ari.hangup(one)
    assert seen["digits"] == DigitsResult("42", timed_out=False)
    assert seen["echo"] == "42"
    assert seen["context"].dialplan[:2] == ("hotline-agi", "agitest")


async def test_caller_hang_up_mid_command_is_seen_and_recorded(asterisk: AsteriskInstance, ari: Ari,
                                                               sqlite_db: Database) -> None:
    seen: dict[str, Any] = {}

    async def flow(channel: Channel, context: FlowContext) -> None:
        await channel.answer()
        seen["call_id"] = context.call_id
        try:
            await channel.collect_digits(max_digits=1, first_timeout=60)
        except ChannelHungUp as exc:
            seen["hung_up"] = exc
            raise

    async with server_for(asterisk, db=sqlite_db, flow_runner=FlowTable({"agitest": flow})) as server:
        _one, two = await ari.originate("Local/agitest@hotline-agi", "hotline-test", "wait-2")
        await wait_sessions(server, 2)  # the flow, then the hangup handler's agi://.../hangup
    assert isinstance(seen["hung_up"], ChannelHungUp)
    call = await Timeline(sqlite_db).get(seen["call_id"])
    assert call is not None and call.channel_id == two and call.protocol == "agi"
    assert call.ended_at is not None and call.hangup_side == HangupSide.CALLER
    # The flow session closed the row on AGI's HANGUP (no cause there); the hangup handler adds the real one.
    assert call.hangup_cause == "Normal Clearing"
    events = await Timeline(sqlite_db).events(call.id)
    assert [e.data["cause"] for e in events if e.kind == "agi_hangup"] == ["16"]


async def test_failing_flow_continues_in_the_dialplan_fallback(asterisk: AsteriskInstance, ari: Ari) -> None:
    async def broken(channel: Channel, context: FlowContext) -> None:
        raise RuntimeError("bug in a flow")

    async with server_for(asterisk, flow_runner=FlowTable({"agitest": broken})) as server:
        one, two = await ari.originate("Local/agitest@hotline-agi", "hotline-test", "wait")
        try:
            await wait_sessions(server, 1)
            # The generated dialplan read HOTLINE_CONTINUE=fallback and took its hand-back branch.
            reason = None
            for _ in range(100):
                reason = await ari.variable(two, "HOTLINE_FALLBACK_REASON")
                if reason:
                    break
                await asyncio.sleep(0.05)
            assert (reason or "").replace("-", "_") == "app_requested"  # not agi_failed: AGI() succeeded
            assert await ari.variable(two, "HOTLINE_CONTINUE") == "fallback"
        finally:
            await ari.hangup(one)


async def test_unknown_flow_name_takes_the_fallback(asterisk: AsteriskInstance, ari: Ari) -> None:
    async with server_for(asterisk, flow_runner=FlowTable({})) as server:
        one, two = await ari.originate("Local/nosuchflow@hotline-agi", "hotline-test", "wait")
        try:
            await wait_sessions(server, 1)
            assert await ari.variable(two, "HOTLINE_CONTINUE") == "fallback"
        finally:
            await ari.hangup(one)


async def test_media_commands_on_a_real_channel(asterisk: AsteriskInstance, ari: Ari) -> None:
    seen: dict[str, Any] = {}

    async def flow(channel: Channel, context: FlowContext) -> None:
        await channel.answer()
        handle = await channel.start_call_recording(f"agi-{channel.id}")
        await channel.play(["sound:beep", "digits:12", "number:7"])
        await channel.start_moh()
        await channel.stop_moh()
        await channel.ring()
        seen["message"] = await channel.record(f"agi-vm-{channel.id}", max_seconds=1, silence_seconds=0,
                                               beep=False)
        await channel.stop_call_recording(handle)
        seen["paths"] = handle.paths

    async with server_for(asterisk, flow_runner=FlowTable({"agitest": flow})) as server:
        one, _two = await ari.originate("Local/agitest@hotline-agi", "hotline-test", "play")
        try:
            await wait_sessions(server, 1)
        finally:
            await ari.hangup(one)
    assert "paths" in seen, "the flow did not finish"
    for direction in (Direction.CALLER, Direction.AGENT, Direction.MIXED):
        assert asterisk.host_path(seen["paths"][direction]).is_file(), direction
    # record() gives the file as this host sees it (where the recogniser reads it), not Asterisk's path.
    assert Path(seen["message"]).is_relative_to(asterisk.recordings_dir_host)
    assert Path(seen["message"]).stat().st_size > 44  # a WAV header and then audio


async def test_lookup_sets_variables_the_dialplan_sees(asterisk: AsteriskInstance, ari: Ari,
                                                       sqlite_db: Database) -> None:
    ids = await seed(sqlite_db)
    async with server_for(asterisk, db=sqlite_db) as server:
        one, two = await ari.originate("Local/95598@hotline-lookup-example", "hotline-test", "wait",
                                       caller="13800138000")
        try:
            await wait_sessions(server, 1)
            # The example goes on to app_queue: the queue it picked proves it read HOTLINE_QUEUE.
            app_queue = await eventually(lambda: ari.variable(two, "HOTLINE_APP_QUEUE"), "example reached Queue()")
            got = {name: await ari.variable(two, name) for name in (
                "HOTLINE_CONTINUE", "HOTLINE_CUSTOMER_ID", "HOTLINE_PRIORITY", "HOTLINE_QUEUE", "QUEUE_PRIO",
                "HOTLINE_SPECIAL_CARE", "HOTLINE_AREA", "HOTLINE_OUTAGE", "HOTLINE_OUTAGE_TEXT", "AGISTATUS")}
        finally:
            await ari.hangup(one)
        # The example pushed our hangup handler: the caller's hang-up closes the lookup-only call row.
        call = await ended_call(sqlite_db, two)
    assert got["AGISTATUS"] == "SUCCESS"
    assert got["HOTLINE_CONTINUE"] == "ok"
    assert got["HOTLINE_CUSTOMER_ID"] == str(ids["zhang"])
    assert (got["HOTLINE_PRIORITY"], got["HOTLINE_SPECIAL_CARE"], got["HOTLINE_AREA"]) == ("10", "1", "A01")
    assert (got["HOTLINE_QUEUE"], got["QUEUE_PRIO"]) == ("special-care", "10")
    assert app_queue == "hotline-fallback"  # no app_queue queue named special-care in the generated config
    assert got["HOTLINE_OUTAGE"] == "1" and "管道抢修" in (got["HOTLINE_OUTAGE_TEXT"] or "")
    assert call.customer_id == ids["zhang"] and call.priority == 10 and call.queue_name == "special-care"
    assert call.hangup_side == HangupSide.CALLER
    assert [e.kind for e in await Timeline(sqlite_db).events(call.id)][-2:] == ["agi_hangup", "hangup"]


async def test_flow_ending_in_a_queue_waits_in_app_queue_with_its_priority(
        asterisk: AsteriskInstance, ari: Ari, sqlite_db: Database) -> None:
    async with sqlite_db.begin() as s:
        s.add(Queue(name="emergency", skill="emergency", max_wait_seconds=120))  # long enough to look at it
    async with server_for(asterisk, db=sqlite_db, flow_runner=FlowTable({"agitest": queue_flow("emergency", 20)})
                          ) as server:
        one, two = await ari.originate("Local/agitest@hotline-agi", "hotline-test", "wait")
        try:
            await wait_sessions(server, 1)
            name = await ari.name(two)

            async def waiting() -> str | None:
                shown = await asterisk.arx("queue show hotline-fallback")
                line = next((x for x in shown.splitlines() if name in x), "")
                return line if "prio: 20" in line else None

            line = await eventually(waiting, f"{name} waiting in app_queue with prio 20")
            got = {v: await ari.variable(two, v) for v in (
                "HOTLINE_QUEUE", "QUEUE_PRIO", "HOTLINE_SKILL", "HOTLINE_CALL_ID", "HOTLINE_QUEUE_WAIT",
                "HOTLINE_APP_QUEUE", "HOTLINE_CONTINUE")}
            queued = await Timeline(sqlite_db).by_channel(two)
        finally:
            await ari.hangup(one)
        call = await ended_call(sqlite_db, two)  # through the hangup handler [hotline-agi] pushed
    assert "wait:" in line
    assert got == {"HOTLINE_QUEUE": "emergency", "QUEUE_PRIO": "20", "HOTLINE_SKILL": "emergency",
                   "HOTLINE_CALL_ID": str(call.id), "HOTLINE_QUEUE_WAIT": "120",
                   "HOTLINE_APP_QUEUE": "hotline-fallback", "HOTLINE_CONTINUE": None}
    assert queued is not None and queued.state == CallState.QUEUED and queued.ended_at is None
    assert call.hangup_side == HangupSide.CALLER and call.outcome == "abandoned"
    kinds = [e.kind for e in await Timeline(sqlite_db).events(call.id)]
    assert kinds[-3:] == ["agi_queue", "agi_hangup", "hangup"]


async def test_agent_who_hangs_up_first_is_recorded_as_the_agent(
        asterisk: AsteriskInstance, asterisk_ports: PortAllocator, ari: Ari, sqlite_db: Database,
        quiet_agents: Callable[[str], Awaitable[None]]) -> None:
    async with sqlite_db.begin() as s:
        s.add(Queue(name="repair", skill="repair", max_wait_seconds=60))
        agent = Agent(agent_id="1001", name="王坐席", password_hash="x", sip_endpoint="agent-1001")
        s.add(agent)
        await s.flush()
        agent_pk = agent.id
    # agent-1001 answers after 0.5 s and hangs up 2 s later; app_queue rings it (only) through hotline-fallback.
    await quiet_agents("agent-1001")
    phone = await start_sipp(SIPP_DIR / "uas_agent_answer_bye.xml", asterisk_ports,
                             local_port=asterisk.agent_port("agent-1001"), pause_ms=500, timeout=WAIT)
    async with phone:
        async with server_for(asterisk, db=sqlite_db, flow_runner=FlowTable({"agitest": queue_flow("repair", 0)})
                              ):
            one, two = await ari.originate("Local/agitest@hotline-agi", "hotline-test", "wait")
            try:
                result = await phone.wait()
                assert result.ok, result.describe()
                call = await ended_call(sqlite_db, two)
                member = await ari.variable(two, "MEMBERINTERFACE")  # None once the channel is gone
            finally:
                await ari.hangup(one)
    assert result.ok, result.describe()
    assert call.hangup_side == HangupSide.AGENT
    assert (call.outcome, call.agent_pk, call.hangup_cause) == ("answered", agent_pk, "Normal Clearing")
    events = await Timeline(sqlite_db).events(call.id)
    hangup = next(e for e in events if e.kind == "agi_hangup")
    assert hangup.data["member"] == "PJSIP/agent-1001" and hangup.data["source"].startswith("PJSIP/agent-1001-")
    assert member in (None, "PJSIP/agent-1001")


async def test_flow_calls_are_recorded_on_two_tracks(asterisk: AsteriskInstance, ari: Ari, sqlite_db: Database,
                                                     tmp_path: Path) -> None:
    """An AGI flow call gets both tracks from the flow's start (MixMonitor r()/t()); once the call is over the
    files are archived, mixed, hashed and queued for transcription, as for ARI calls."""
    seen: dict[str, Any] = {}

    async def flow(channel: Channel, context: FlowContext) -> None:
        await channel.answer()
        seen["call_id"] = context.call_id
        await channel.play(["sound:hello-world"])  # what the caller hears: the agent track
        await channel.collect_digits(max_digits=1, first_timeout=60)  # until the caller hangs up

    recordings = RecordingStore(sqlite_db, tmp_path / "archive")
    async with server_for(asterisk, db=sqlite_db, flow_runner=FlowTable({"agitest": flow}), recordings=recordings,
                          host_path=asterisk.host_path) as server:
        one, two = await ari.originate("Local/agitest@hotline-agi", "hotline-test", "play")  # demo-congrats
        await eventually(lambda: _rows(sqlite_db), "the recording rows registered at the flow's start")
        await asyncio.sleep(4)  # the phone talks meanwhile: that is the caller track
        await ari.hangup(one)
        await wait_sessions(server, 1)
    call = await ended_call(sqlite_db, two)
    assert call.id == seen["call_id"]

    async def gone() -> bool:
        return (await ari.call("GET", f"/channels/{two}"))[0] == 404
    await eventually(gone, "the AGI channel destroyed (MixMonitor closes its files then)")

    async def finished() -> list[Recording] | None:
        await recordings.finalize_pending()
        rows = await _rows(sqlite_db)
        return rows if rows and all(r.sha256 for r in rows) and len(rows) == 3 else None
    rows = {r.direction: r for r in await eventually(finished, "the recordings finalized")}
    assert set(rows) == {"caller", "agent", "mixed"}
    assert rows["caller"].started_at is not None and rows["caller"].started_at <= call.ended_at
    for direction, row in rows.items():
        path = Path(row.path)
        assert path.is_file() and path.is_relative_to(tmp_path / "archive"), direction
        assert row.duration_seconds > 2.0 and row.size_bytes == path.stat().st_size, direction
    async with sqlite_db.session() as s:
        job = (await s.execute(select(TranscriptionJob).where(TranscriptionJob.call_id == call.id))).scalar_one()
    assert job.status == JobStatus.PENDING


async def _rows(db: Database) -> list[Recording]:
    async with db.session() as s:
        return list((await s.execute(select(Recording))).scalars())


async def test_shipped_gas_flow_over_fastagi_hands_the_leak_to_app_queue_with_top_priority(
        asterisk: AsteriskInstance, ari: Ari, sqlite_db: Database) -> None:
    """The shipped gas flow run by our engine over FastAGI (a site that keeps its own dialplan and app_queue):
    key 1 at the main menu, and the caller waits in app_queue with the emergency queue and priority."""
    from call_flows.loader import load_flow
    from call_flows.prompts import build
    from ivr.calls.agi.flow import EngineRunner
    from ivr.engine import FlowEngine
    from tests.flows.conftest import GAS
    from tests.flows.test_asterisk_flows import MARGIN, seconds
    from tests.plugins.database import run_isolated

    flow = load_flow(GAS)
    report = run_isolated(lambda: build([flow], asterisk.sounds_dir_host))
    assert report.failed == []  # type: ignore[attr-defined]
    runner = EngineRunner(FlowEngine(sqlite_db, orders=order_service(sqlite_db)), {"gas": flow})
    press_at = seconds(asterisk.sounds_dir_host, flow, "welcome") + MARGIN
    async with server_for(asterisk, db=sqlite_db, flow_runner=runner) as server:
        one, two = await ari.originate("Local/gas@hotline-agi", "hotline-test", "dtmf-1",
                                       variables={"HOTLINE_TEST_WAIT": f"{press_at:.1f}"})
        try:
            await eventually(lambda: ari.variable(two, "HOTLINE_QUEUE"), "the flow handing the call to app_queue")
            got = {v: await ari.variable(two, v) for v in ("HOTLINE_QUEUE", "QUEUE_PRIO", "HOTLINE_SKILL")}
            await wait_sessions(server, 1)
        finally:
            await ari.hangup(one)
        call = await ended_call(sqlite_db, two)
    assert got == {"HOTLINE_QUEUE": "emergency", "QUEUE_PRIO": "20", "HOTLINE_SKILL": "emergency"}
    assert (call.protocol, call.queue_name, call.priority, call.skill) == ("agi", "emergency", 20, "emergency")
    events = await Timeline(sqlite_db).events(call.id)
    path = [e.data["node"] for e in events if e.kind == "ivr.node"]
    assert path == ["welcome", "identify", "main_menu", "gas_leak", "gas_leak_advice", "emergency_queue"]
    assert [e.data for e in events if e.kind == "ivr.input"][0]["value"] == "1"


# --- issue 14 over FastAGI: type-ahead, emergency first, hang-ups are not errors ---------------------------


async def _gas_over_agi(asterisk: AsteriskInstance, ari: Ari, db: Database, extension: str,
                        variables: dict[str, str], *, until_queued: bool) -> Call:
    from call_flows.loader import load_flow
    from call_flows.prompts import build
    from ivr.calls.agi.flow import EngineRunner
    from ivr.engine import FlowEngine
    from tests.flows.conftest import GAS
    from tests.flows.test_asterisk_flows import EARLY, seconds
    from tests.plugins.database import run_isolated

    flow = load_flow(GAS)
    report = run_isolated(lambda: build([flow], asterisk.sounds_dir_host))
    assert report.failed == []  # type: ignore[attr-defined]
    assert seconds(asterisk.sounds_dir_host, flow, "welcome") > EARLY + 1.5  # the keys land in the welcome
    runner = EngineRunner(FlowEngine(db, orders=order_service(db)), {"gas": flow})
    async with server_for(asterisk, db=db, flow_runner=runner) as server:
        one, two = await ari.originate("Local/gas@hotline-agi", "hotline-test", extension, variables=variables)
        try:
            if until_queued:
                await eventually(lambda: ari.variable(two, "HOTLINE_QUEUE"), "the flow handing the call to app_queue")
            await wait_sessions(server, 1)
        finally:
            await ari.hangup(one)
        return await ended_call(db, two)


async def test_emergency_key_during_the_welcome_over_fastagi(asterisk: AsteriskInstance, ari: Ari,
                                                             sqlite_db: Database) -> None:
    from tests.flows.test_asterisk_flows import EARLY

    call = await _gas_over_agi(asterisk, ari, sqlite_db, "dtmf-1", {"HOTLINE_TEST_WAIT": f"{EARLY}"},
                               until_queued=True)
    assert (call.queue_name, call.priority, call.skill) == ("emergency", 20, "emergency")
    events = await Timeline(sqlite_db).events(call.id)
    kinds = [e.kind for e in events]
    assert [e.data["node"] for e in events if e.kind == "ivr.node"] == ["welcome", "gas_leak", "gas_leak_advice",
                                                                        "emergency_queue"]
    assert [e.data for e in events if e.kind == "ivr.emergency"] == [{"node": "welcome", "key": "1"}]
    assert kinds.index("ivr.emergency") < kinds.index("agi_queue")
    assert "ivr.input" not in kinds


async def test_two_then_one_during_the_welcome_over_fastagi(asterisk: AsteriskInstance, ari: Ari,
                                                            sqlite_db: Database) -> None:
    from tests.flows.test_asterisk_flows import EARLY

    call = await _gas_over_agi(asterisk, ari, sqlite_db, "dtmf-21", {"HOTLINE_TEST_WAIT": f"{EARLY}"},
                               until_queued=True)
    assert (call.queue_name, call.skill) == ("repair", "repair")
    events = await Timeline(sqlite_db).events(call.id)
    assert [e.data["node"] for e in events if e.kind == "ivr.node"] == [
        "welcome", "identify", "main_menu", "repair_menu", "repair_meter", "repair_queue"]
    assert [(e.data["node"], e.data["value"]) for e in events if e.kind == "ivr.input"] == [
        ("main_menu", "2"), ("repair_menu", "1")]


async def test_a_caller_hanging_up_during_a_prompt_over_fastagi_leaves_no_error(
        asterisk: AsteriskInstance, ari: Ari, sqlite_db: Database) -> None:
    call = await _gas_over_agi(asterisk, ari, sqlite_db, "wait-2", {}, until_queued=False)
    events = await Timeline(sqlite_db).events(call.id)
    kinds = [e.kind for e in events]
    assert [e.data for e in events if e.kind == "ivr.hangup"] == [{"node": "welcome"}]
    assert "ivr.error" not in kinds and "fallback" not in kinds
