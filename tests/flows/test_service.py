"""FlowService: the flows as the ARI call handler and the AGI FlowRunner, handing queued calls to the real ACD
(in-memory dialer, fake clock) and running the survey when the agent hangs up first."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from ivr.callers import Priority
from ivr.acd.service import Acd
from tests.fakes.acd import FakeClock, MemoryDialer
from ivr.calls.agi.flow import FlowContext, FlowRunner
from ivr.calls.handler import CallContext as AriCallContext
from ivr.calls.notifier import CallNotifier
from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import Agent
from ivr.engine import FlowEngine, FlowFailed, ScriptedChannel
from ivr.engine.service import FLOWS_DIR, FlowService, load_flows
from ivr.settings import Settings
from tests.acd.helpers import seed
from tests.builders import order_service


def test_the_shipped_flows_load_for_the_service() -> None:
    flows, problems = load_flows()
    assert sorted(flows) == ["gas", "water"] and problems == []


def test_broken_or_duplicate_flows_are_left_out_with_their_problems(tmp_path: Path) -> None:
    shutil.copy(FLOWS_DIR / "gas.yaml", tmp_path / "gas.yaml")
    shutil.copy(FLOWS_DIR / "gas.yaml", tmp_path / "gas2.yaml")
    (tmp_path / "water.yaml").write_text((FLOWS_DIR / "water.yaml").read_text(encoding="utf-8")
                                         .replace("type: play", "type: plya", 1), encoding="utf-8")
    flows, problems = load_flows(tmp_path)
    assert list(flows) == ["gas"]
    text = "\n".join(map(str, problems))
    assert "gas2.yaml:6: flow name 'gas' is also used by" in text
    assert "water.yaml" in text and "unknown node type 'plya'" in text


async def test_the_service_is_an_agi_flow_runner(db: Database, tmp_path: Path) -> None:
    flows, _ = load_flows()
    service = FlowService(FlowEngine(db, orders=order_service(db)), flows, default_flow="gas")
    assert isinstance(service, FlowRunner) and service.knows("water") and not service.knows("heat")
    with pytest.raises(ValueError, match="default flow 'heat' is not loaded"):
        FlowService(FlowEngine(db, orders=order_service(db)), flows, default_flow="heat")
    result = await service.run("water", ScriptedChannel("1", workdir=tmp_path), FlowContext(call_id=None))
    # AGI cannot bridge: the queue result goes back to the AGI server (app_queue), not to an ACD.
    assert result.outcome == "queue" and result.queue is not None and result.queue.queue == "emergency"
    ari_channel = ScriptedChannel("0", workdir=tmp_path / "b")
    call, _ = await Timeline(db).open_call(channel_id=ari_channel.id, protocol="ari")
    with pytest.raises(FlowFailed, match="no ACD is running"):  # ARI without an ACD: the dialplan fallback
        await service.handle_call(ari_channel, ari_context(call, Timeline(db)))


@pytest.fixture
async def acd(db: Database, settings: Settings) -> Any:
    await seed(db)
    clock, dialer = FakeClock(), MemoryDialer()
    acd = Acd(db, settings, dialer, order_service(db), clock=clock)
    await acd.start()
    acd.test_dialer = dialer  # type: ignore[attr-defined]
    try:
        yield acd
    finally:
        await acd.stop()


async def ready_agent(db: Database, acd: Any, agent_id: str = "1001") -> None:
    async with db.session() as s:
        pk = (await s.execute(select(Agent.id).where(Agent.agent_id == agent_id))).scalar_one()
    await acd.login(pk)
    await acd.set_ready(pk)


async def answered_then_agent_hangs_up(acd: Any, task: "asyncio.Task[None]") -> None:
    async with asyncio.timeout(10):  # a guard against a hung test, not a speed assertion
        leg = await acd.test_dialer.next_ring()
    leg.answer()
    leg.hang_up()  # the agent hangs up first: the caller is asked for a score
    async with asyncio.timeout(10):
        await task


def ari_context(call: Any, timeline: Timeline, *, resumed: bool = False) -> AriCallContext:
    return AriCallContext(call_id=call.id, uid=call.uid, dialed="95598", args=("95598",), timeline=timeline,
                          notifier=CallNotifier(16), resumed=resumed)


async def test_gas_leak_reaches_an_agent_then_the_survey(db: Database, tmp_path: Path, acd: Any) -> None:
    flows, _ = load_flows()
    service = FlowService(FlowEngine(db, orders=order_service(db)), flows, default_flow="gas", acd=acd)
    await ready_agent(db, acd)
    timeline = Timeline(db)
    channel = ScriptedChannel("1,5", workdir=tmp_path, caller_number="13800138000")
    call, _ = await timeline.open_call(channel_id=channel.id, protocol="ari", caller_number="13800138000")
    await answered_then_agent_hangs_up(acd, asyncio.create_task(service.handle_call(channel,
                                                                                    ari_context(call, timeline))))
    row = await timeline.get(call.id)
    assert row is not None
    assert (row.queue_name, row.priority, row.satisfaction) == ("emergency", Priority.EMERGENCY, 5)
    kinds = [e.kind for e in await timeline.events(call.id)]
    assert kinds.index("ivr.queue") < kinds.index("queue.enter") < kinds.index("ivr.survey")
    assert channel.ended_by == "hangup"
    assert ("answer", {}) in channel.log


async def test_a_resumed_call_goes_straight_to_a_person(db: Database, tmp_path: Path, acd: Any) -> None:
    flows, _ = load_flows()
    service = FlowService(FlowEngine(db, orders=order_service(db)), flows, default_flow="water", acd=acd)
    await ready_agent(db, acd)
    timeline = Timeline(db)
    channel = ScriptedChannel("", workdir=tmp_path)
    call, _ = await timeline.open_call(channel_id=channel.id, protocol="ari")
    task = asyncio.create_task(service.resume_call(channel, ari_context(call, timeline, resumed=True)))
    await answered_then_agent_hangs_up(acd, task)
    nodes = [e.data["node"] for e in await timeline.events(call.id) if e.kind == "ivr.node"]
    assert nodes == ["to_agent", "agent_queue", "survey"]  # the caller then hung up instead of scoring
    assert ("answer", {}) not in channel.log  # the call was answered before our restart


class MemoryQueue:
    async def enqueue(self, call_id: int, channel: object, request: object) -> None:
        raise AssertionError("not queued in this test")


async def test_the_service_loads_the_configured_flow_with_the_acd_it_is_given(
        db: Database, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    from ivr.app import load_flow_service, load_recognizer

    water = settings.model_copy(update={"hotline": settings.hotline.model_copy(update={"flow": "water"})})
    recognizer = await load_recognizer(water)
    assert recognizer is None and "menus take keys only" in caplog.text  # no model configured: keys only
    acd = MemoryQueue()
    service = await load_flow_service(water, db, order_service(db), acd, recognizer=None, sounds_dir=None)
    assert isinstance(service, FlowService) and service.default_flow == "water" and service.acd is acd
    assert isinstance(service, FlowRunner) and {"gas", "water"} <= set(service.flows)


async def test_without_a_usable_flow_calls_are_left_to_the_fallback(db: Database, settings: Settings,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    from ivr.app import load_flow_service

    heat = settings.model_copy(update={"hotline": settings.hotline.model_copy(update={"flow": "heat"})})
    assert await load_flow_service(heat, db, order_service(db), None, recognizer=None, sounds_dir=None) is None
    assert "flow 'heat' (hotline.flow) is not usable" in caplog.text


async def test_reload_takes_fixed_flows_and_keeps_running_ones_when_broken(db: Database, tmp_path: Path) -> None:
    for name in ("gas.yaml", "water.yaml"):
        shutil.copy(FLOWS_DIR / name, tmp_path / name)
    flows, _ = load_flows(tmp_path)
    service = FlowService(FlowEngine(db, orders=order_service(db)), flows, default_flow="gas")
    shared = service.flows  # what the AGI runner holds
    before = service.flows["water"]
    gas = (tmp_path / "gas.yaml").read_text(encoding="utf-8")
    (tmp_path / "gas.yaml").write_text(gas.replace("通话可能会被录音。", "通话将被录音。"), encoding="utf-8")
    (tmp_path / "water.yaml").write_text("flow: water\nnodes: [oops\n", encoding="utf-8")
    problems = await service.reload(tmp_path)
    assert service.flows is shared
    assert service.flows["gas"].prompts["welcome"].text.endswith("通话将被录音。")
    assert service.flows["water"] is before  # broken on disk: the running version stays
    assert len(problems) == 1 and "water.yaml:2: YAML syntax error" in str(problems[0])
