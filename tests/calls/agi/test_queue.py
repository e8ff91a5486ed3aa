"""A flow over AGI that ends wanting a person goes to app_queue through [hotline-agi-queue], never the ACD."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path
from typing import Any

import pytest

from call_flows.loader import parse_flow
from ivr.callers import Priority
from ivr.calls.agi.flow import EngineRunner, FlowContext, FlowTable
from ivr.calls.agi.queue import QUEUE_CONTEXT, queue_request_of, queue_variables
from ivr.calls.agi.server import AgiServer
from ivr.calls.timeline import Timeline
from ivr.channel import Channel
from ivr.db import Database
from ivr.db.models import CallState, Customer, HangupSide, Queue
from ivr.engine import FlowEngine, FlowResult, Outcome, QueueRequest
from ivr.engine.service import FlowService
from ivr.settings import AgiSettings, Settings
from tests.plugins.fake_agi import ServerFactory
from tests.agi.fake_asterisk import FakeAsterisk
from tests.plugins.database import free_port
from tests.builders import order_service

TINY_FLOW = textwrap.dedent("""
    flow: agiq
    title: 转人工测试
    language: zh
    timezone: Asia/Shanghai
    utility: gas
    start: urgent
    zero_out: to_queue
    prompts:
      hold: 请稍候。
    nodes:
      urgent:
        type: set
        priority: 20
        skill: repair
        flags: [emergency]
        next: to_queue
      to_queue:
        type: queue
        queue: repair
""")


async def session_done(server: AgiServer, fake: FakeAsterisk) -> None:
    """The server closes the socket at the hand-off and records it afterwards: wait for the session's end."""
    await fake.wait_closed_by_server()
    async with asyncio.timeout(30):  # an upper bound for a hang, not a speed assertion
        while server.active_sessions:
            await asyncio.sleep(0.01)


def request(**kw: Any) -> QueueRequest:
    base: dict[str, Any] = {"call_id": 7, "queue": "repair", "skill": "repair", "priority": 0, "flow": "gas",
                            "node": "repair_queue"}
    base.update(kw)
    return QueueRequest(**base)


def test_queue_request_of_reads_only_queue_outcomes() -> None:
    queued = FlowResult(Outcome.QUEUE, 7, ("a", "b"), queue=request())
    assert queue_request_of(queued) == request()
    assert queue_request_of(FlowResult(Outcome.HANGUP, 7, ("a",))) is None
    assert queue_request_of(FlowResult(Outcome.QUEUE, 7, ("a",))) is None  # no request: nothing to queue
    assert queue_request_of(None) is None
    assert queue_request_of("queue") is None


@pytest.mark.parametrize("kw, care, wait, expected", [
    ({}, False, None, {"HOTLINE_QUEUE": "repair", "QUEUE_PRIO": "0", "HOTLINE_SKILL": "repair",
                       "HOTLINE_CALL_ID": "7", "HOTLINE_QUEUE_WAIT": ""}),
    # A registered special-care caller is raised to special care, as the ACD does; emergency stays above.
    ({}, True, 300, {"QUEUE_PRIO": str(int(Priority.SPECIAL_CARE)), "HOTLINE_QUEUE_WAIT": "300"}),
    ({"priority": 20}, True, 0, {"QUEUE_PRIO": "20", "HOTLINE_QUEUE_WAIT": ""}),
    # What could break Queue(...) in the dialplan is refused: the fallback queue takes the call.
    ({"queue": "a,b"}, False, None, {"HOTLINE_QUEUE": ""}),
    ({"queue": "维修"}, False, None, {"HOTLINE_QUEUE": ""}),
    ({"skill": "x y"}, False, None, {"HOTLINE_SKILL": ""}),
])
def test_queue_variables(kw: dict[str, Any], care: bool, wait: int | None, expected: dict[str, str]) -> None:
    got = queue_variables(request(**kw), special_care=care, wait_seconds=wait)
    assert list(got) == ["HOTLINE_QUEUE", "QUEUE_PRIO", "HOTLINE_SKILL", "HOTLINE_CALL_ID", "HOTLINE_QUEUE_WAIT"]
    assert {k: got[k] for k in expected} == expected


async def seed_queue_and_customer(db: Database) -> int:
    async with db.begin() as s:
        s.add(Queue(name="repair", skill="repair", max_wait_seconds=120))
        care = Customer(name="张三", special_care=True)
        s.add(care)
        await s.flush()
        return care.id


async def test_flow_ending_in_a_queue_continues_at_the_queue_context(
        db: Database, make_server: ServerFactory, fakes: list[FakeAsterisk]) -> None:
    customer_id = await seed_queue_and_customer(db)

    async def flow(channel: Channel, context: FlowContext) -> FlowResult:
        assert context.call_id is not None
        return FlowResult(Outcome.QUEUE, context.call_id, ("menu", "repair_queue"),
                          queue=request(call_id=context.call_id, customer_id=customer_id))

    server = await make_server(db=db, flow_runner=FlowTable({"gas": flow}))
    fake = await FakeAsterisk.start(server.port, "flow/gas", {"agi_uniqueid": "950.1"})
    fakes.append(fake)
    commands = await fake.answer_all("200 result=1")
    await session_done(server, fake)
    call = await Timeline(db).by_channel("950.1")
    assert call is not None
    assert commands == [
        "SET VARIABLE HOTLINE_QUEUE repair", "SET VARIABLE QUEUE_PRIO 10", "SET VARIABLE HOTLINE_SKILL repair",
        f"SET VARIABLE HOTLINE_CALL_ID {call.id}", "SET VARIABLE HOTLINE_QUEUE_WAIT 120",
        f"SET CONTEXT {QUEUE_CONTEXT}", "SET EXTENSION s", "SET PRIORITY 1",
    ]  # and no HOTLINE_CONTINUE: the dialplan runs the queue context, not the line after AGI()
    assert call.state == CallState.QUEUED and call.queued_at is not None and call.ended_at is None
    events = await Timeline(db).events(call.id)
    assert events[-1].kind == "agi_queue"
    assert events[-1].data == {"queue": "repair", "priority": 10, "skill": "repair", "wait_seconds": 120,
                               "context": QUEUE_CONTEXT}


async def test_caller_gone_during_the_hand_off_closes_the_call(
        db: Database, make_server: ServerFactory, fakes: list[FakeAsterisk]) -> None:
    async def flow(channel: Channel, context: FlowContext) -> FlowResult:
        assert context.call_id is not None
        return FlowResult(Outcome.QUEUE, context.call_id, ("q",), queue=request(call_id=context.call_id))

    server = await make_server(db=db, flow_runner=FlowTable({"gas": flow}))
    fake = await FakeAsterisk.start(server.port, "flow/gas", {"agi_uniqueid": "950.2"})
    fakes.append(fake)
    assert await fake.answer("HANGUP", "200 result=1") == "SET VARIABLE HOTLINE_QUEUE repair"
    for _ in range(4):  # SET VARIABLE works on a dead channel
        await fake.answer("200 result=1")
    assert await fake.answer("511 Command Not Permitted on a dead channel or intercept routine") == \
        f"SET CONTEXT {QUEUE_CONTEXT}"
    assert await fake.wait_closed_by_server() == b""
    call = await Timeline(db).by_channel("950.2")
    assert call is not None and call.ended_at is not None and call.hangup_side == HangupSide.CALLER
    assert call.state == CallState.ENDED


class RefusingAcd:
    """The ACD must never see an AGI call: it bridges through ARI."""

    def __init__(self) -> None:
        self.calls: list[Any] = []

    async def enqueue(self, call_id: int, channel: Any, request: Any) -> None:
        self.calls.append(request)
        raise AssertionError("an AGI call reached the ACD")


def tiny_service(db: Database, acd: RefusingAcd) -> FlowService:
    flow, issues = parse_flow(TINY_FLOW, "agiq.yaml")
    assert flow is not None, issues
    return FlowService(FlowEngine(db, orders=order_service(db)), {"agiq": flow}, default_flow="agiq", acd=acd)


async def test_engine_flow_over_agi_is_queued_in_app_queue_not_the_acd(
        db: Database, make_server: ServerFactory, fakes: list[FakeAsterisk]) -> None:
    acd = RefusingAcd()
    service = tiny_service(db, acd)
    runner = EngineRunner(service.engine, service.flows)
    assert runner.knows("agiq") and not runner.knows("gas")
    server = await make_server(db=db, flow_runner=runner)
    fake = await FakeAsterisk.start(server.port, "flow/agiq", {"agi_uniqueid": "950.3"})
    fakes.append(fake)
    assert await fake.answer("200 result=0") == "ANSWER"
    commands = await fake.answer_all("200 result=1")
    await session_done(server, fake)
    assert commands[:3] == ["SET VARIABLE HOTLINE_QUEUE repair", "SET VARIABLE QUEUE_PRIO 20",
                            "SET VARIABLE HOTLINE_SKILL repair"]
    assert commands[-3:] == [f"SET CONTEXT {QUEUE_CONTEXT}", "SET EXTENSION s", "SET PRIORITY 1"]
    assert acd.calls == []
    call = await Timeline(db).by_channel("950.3")
    assert call is not None and (call.queue_name, call.priority, call.state) == ("repair", 20, CallState.QUEUED)
    kinds = [e.kind for e in await Timeline(db).events(call.id)]
    assert kinds.index("ivr.queue") < kinds.index("agi_queue")


async def test_the_agi_server_runs_the_engine_service_through_the_engine_runner(db: Database, tmp_path: Path
                                                                              ) -> None:
    """ivr.app builds the AGI server over the same flows as ARI, but through EngineRunner: its queue results
    go to app_queue, never to the ACD (which bridges through ARI)."""
    from ivr.app import agi_server
    from recordings.store import RecordingStore

    service = tiny_service(db, RefusingAcd())
    settings = Settings().model_copy(update={"agi": AgiSettings(host="127.0.0.1", port=free_port())})
    server = agi_server(settings, db, service, RecordingStore(db, tmp_path), None)
    wrapped = server.flow_runner
    assert isinstance(wrapped, EngineRunner) and wrapped.engine is service.engine
    assert wrapped.flows is service.flows  # the live mapping: a reload is seen over AGI too
    assert server.recordings is None  # no Asterisk set up here: AGI calls run unrecorded
    assert agi_server(settings, db, None, RecordingStore(db, tmp_path), None).flow_runner is None
