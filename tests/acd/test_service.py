"""The ACD service with an in-memory dialer and a fake clock, on a real database (SQLite and PostgreSQL).

Time only moves when a test advances the clock, so "the deadline passed" is an exact statement, not a sleep.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, TypeVar

import pytest
from sqlalchemy import select

from ivr.acd.entry import AcdError, QueueOutcome, QueueResult
from ivr.callers import Priority
from ivr.acd.exceptions import BusyOnCall, NoPhone, NotSignedIn, NotYourCall, UnknownQueue, UnknownReason
from ivr.acd.service import Acd
from tests.fakes.acd import FakeChannel, FakeClock, MemoryDialer, MemoryLeg
from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import (Agent, AgentState, AgentStateChange, Call, CallState, Offer, OfferResult, Violation,
                           WorkOrder, WorkOrderType)
from ivr.settings import Settings, render_greeting
from tests.acd.helpers import EventLog, Request, Seeded, new_call, seed
from tests.builders import order_service

T = TypeVar("T")
LIMIT = 15.0


async def within(aw: Awaitable[T]) -> T:
    # A guard against a hung test, not a speed assertion.
    async with asyncio.timeout(10):
        return await aw


@dataclass
class Env:
    db: Database
    settings: Settings
    acd: Acd
    clock: FakeClock
    dialer: MemoryDialer
    log: EventLog
    seeded: Seeded

    def pk(self, agent_id: str) -> int:
        return self.seeded.agents[agent_id]

    async def ready(self, *agent_ids: str, gap: float = 1.0) -> None:
        """Log in and make ready in this order, `gap` seconds apart (the first one has been idle longest)."""
        for agent_id in agent_ids:
            await self.acd.login(self.pk(agent_id))
            await self.acd.set_ready(self.pk(agent_id))
            await self.clock.advance(gap)

    async def call(self, *, customer: str | None = None, request: Request = Request(),
                   channel: FakeChannel | None = None) -> tuple[int, FakeChannel, asyncio.Task[QueueResult]]:
        cid = self.seeded.customers[customer] if customer else None
        call_id = await new_call(self.db, customer_id=cid)
        ch = channel or FakeChannel(f"caller-{call_id}", clock=self.clock)
        task = asyncio.create_task(self.acd.enqueue(call_id, ch, request))
        await within(self.log.seen("call.queued", call_id=call_id))
        return call_id, ch, task

    async def ring(self) -> MemoryLeg:
        return await within(self.dialer.next_ring())

    async def rona(self) -> None:
        """Let the ringing offer run into its deadline."""
        await within(self.clock.sleeper_at(self.clock.monotonic() + LIMIT))
        await self.clock.advance(LIMIT)

    async def call_row(self, call_id: int) -> Call:
        """The row as it is now, without waiting for offers still ringing."""
        async with self.db.session() as s:
            call = await s.get(Call, call_id)
            assert call is not None
            return call

    async def uid(self, call_id: int) -> str:
        return (await self.call_row(call_id)).uid

    async def rows(self, model: Any, settle: int | None = None, **where: Any) -> list[Any]:
        await within(self.acd.settle(settle))
        async with self.db.session() as s:
            q = select(model).filter_by(**where).order_by(model.id)
            return list((await s.execute(q)).scalars())


@pytest.fixture
async def env(db: Database, settings: Settings) -> AsyncIterator[Env]:
    seeded = await seed(db)
    clock, dialer, log = FakeClock(), MemoryDialer(), EventLog()
    acd = Acd(db, settings, dialer, order_service(db), clock=clock)
    acd.subscribe(log)
    await acd.start()
    try:
        yield Env(db, settings, acd, clock, dialer, log, seeded)
    finally:
        await acd.stop()


async def test_answered_within_three_rings_no_violation_no_apology(env: Env) -> None:
    await env.ready("1001")
    call_id, ch, task = await env.call(customer="李娜")
    leg = await env.ring()
    offered = await within(env.log.next("call.offered"))
    assert leg.endpoint == "agent-1001" and offered.agent_id == "1001" and offered.attempt == 1
    assert offered.deadline_at - offered.ring_started_at == dt.timedelta(seconds=LIMIT)
    assert env.acd.roster.get(env.pk("1001")).state is AgentState.RINGING

    await env.clock.advance(4.0)  # answered during the first ring cycle
    leg.answer()
    answered = await within(env.log.next("call.answered"))
    assert not answered.apology and answered.waited_seconds == pytest.approx(4.0)
    assert answered.greeting == render_greeting(env.settings, "1001", waited_too_long=False)
    assert "1001" in answered.greeting and "对不起" not in answered.greeting

    leg.hang_up()  # the agent hangs up first
    result = await within(task)
    assert ("moh_stop", None) in ch.ops and env.dialer.unbridged == ["bridge-1"]
    assert result == QueueResult(QueueOutcome.ANSWERED, agent_id="1001", first_hangup="agent", waited_seconds=4.0)
    assert not ch.hung_up  # the flow decides what the caller hears next (survey) and hangs up

    [offer] = await env.rows(Offer, call_id=call_id)
    assert offer.result is OfferResult.ANSWERED and offer.ended_at is not None
    assert await env.rows(Violation) == []
    [call] = await env.rows(Call, id=call_id)
    assert call.agent_pk == env.pk("1001") and call.answered_at is not None and call.queued_at is not None
    assert call.ring_seconds_total == pytest.approx(4.0) and call.state is CallState.TALKING
    kinds = [e.kind for e in await Timeline(env.db).events(call_id)]
    assert kinds == ["arrived", "queue.enter", "offer.ring", "offer.answer", "script.greeting", "talk.end"]

    # Wrap-up, then ready again after wrap_up_seconds.
    assert env.acd.roster.get(env.pk("1001")).state is AgentState.WRAP_UP
    await within(env.clock.sleeper_at(env.clock.monotonic() + 10))
    await env.clock.advance(10)
    await within(env.log.next("agent.state", agent_pk=env.pk("1001"), state=AgentState.READY))


async def test_no_answer_by_the_deadline_goes_to_the_next_agent(env: Env) -> None:
    await env.ready("1001", "1002")  # 1001 has been idle longer
    call_id, ch, task = await env.call()
    first = await env.ring()
    assert first.endpoint == "agent-1001"
    await env.rona()
    second = await env.ring()
    assert second.endpoint == "agent-1002" and first.cancelled
    slot = env.acd.roster.get(env.pk("1001"))
    assert slot.state is AgentState.NOT_READY and slot.reason == "未及时接听"
    ended = await within(env.log.next("offer.ended", agent_pk=env.pk("1001")))
    assert ended.result is OfferResult.NO_ANSWER and ended.ring_seconds == LIMIT

    await env.clock.advance(2.0)
    second.answer()
    answered = await within(env.log.next("call.answered"))
    assert answered.agent_id == "1002" and answered.apology
    assert answered.greeting.startswith("对不起，让您久等了")
    ch.remote_hangup()
    env.acd.caller_hung_up(call_id)
    result = await within(task)
    assert result.outcome is QueueOutcome.ANSWERED and result.first_hangup == "caller" and second.cancelled

    offers = await env.rows(Offer, call_id=call_id)
    assert [(o.agent_pk, o.result) for o in offers] == [(env.pk("1001"), OfferResult.NO_ANSWER),
                                                        (env.pk("1002"), OfferResult.ANSWERED)]
    [v] = await env.rows(Violation)
    assert (v.agent_pk, v.call_id, v.offer_id, v.kind) == (env.pk("1001"), call_id, offers[0].id, "ring_no_answer")
    assert "未接听" in v.detail
    [agent] = await env.rows(Agent, id=env.pk("1001"))
    assert agent.state is AgentState.NOT_READY and agent.state_reason == "未及时接听"
    history = await env.rows(AgentStateChange, agent_pk=env.pk("1001"))
    assert [h.state for h in history][-3:] == [AgentState.READY, AgentState.RINGING, AgentState.NOT_READY]
    [call] = await env.rows(Call, id=call_id)
    assert call.ring_seconds_total == pytest.approx(LIMIT + 2.0) and call.agent_pk == env.pk("1002")
    kinds = [e.kind for e in await Timeline(env.db).events(call_id)]
    assert kinds[:6] == ["arrived", "queue.enter", "offer.ring", "offer.no_answer", "offer.ring", "offer.answer"]


async def test_nobody_answers_the_call_keeps_waiting_at_the_head(env: Env) -> None:
    await env.ready("1001")
    call_id, ch, task = await env.call()
    await env.ring()
    await env.rona()
    await within(env.log.next("call.queued", call_id=call_id, requeued=True))
    assert env.acd.waiting_calls()[0]["call_id"] == call_id
    later_id, _, later = await env.call()
    await env.acd.set_ready(env.pk("1001"))  # back from not-ready: the older call rings first
    leg = await env.ring()
    assert leg.call_uid == await env.uid(call_id)
    ch.remote_hangup()
    env.acd.caller_hung_up(call_id)
    assert (await within(task)).outcome is QueueOutcome.ABANDONED
    leg2 = await env.ring()  # the agent is given back and takes the next caller
    assert leg.cancelled and leg2.call_uid == await env.uid(later_id)
    offers = await env.rows(Offer, settle=call_id, call_id=call_id)
    [gone] = [o for o in offers if o.result is OfferResult.CALLER_GONE]
    assert gone.agent_pk == env.pk("1001")
    assert len(await env.rows(Violation, settle=call_id)) == 1  # the no-answer, not the caller hanging up
    later.cancel()
    await asyncio.gather(later, return_exceptions=True)


async def test_priority_emergency_then_special_care_then_others(env: Env) -> None:
    for agent_id in ("1001", "1002", "1003"):
        await env.acd.login(env.pk(agent_id))  # logged in, not ready: calls wait without overflow
    normal_id, _, t1 = await env.call(customer="李娜")
    await env.clock.advance(1)
    special_id, _, t2 = await env.call(customer="张伟")
    await env.clock.advance(1)
    emergency_id, _, t3 = await env.call(request=Request(queue="emergency", priority=Priority.EMERGENCY))
    uids = {c.id: c.uid for c in await env.rows(Call)}  # nothing rings yet
    order = []
    for agent_id in ("1001", "1002", "1003"):
        await env.acd.set_ready(env.pk(agent_id))
        leg = await env.ring()
        order.append(next(k for k, v in uids.items() if v == leg.call_uid))
    assert order == [emergency_id, special_id, normal_id]
    assert (await env.call_row(special_id)).priority == Priority.SPECIAL_CARE
    for t in (t1, t2, t3):
        t.cancel()
    await asyncio.gather(t1, t2, t3, return_exceptions=True)


async def test_longest_idle_agent_and_skills(env: Env) -> None:
    await env.ready("1002", "1003", "1001")
    _, _, t1 = await env.call(request=Request(queue="complaint"))
    assert (await env.ring()).endpoint == "agent-1003"  # only 1003 has the complaint skill
    _, _, t2 = await env.call()
    assert (await env.ring()).endpoint == "agent-1002"  # idle longest of the remaining
    for t in (t1, t2):
        t.cancel()
    await asyncio.gather(t1, t2, return_exceptions=True)


async def test_rejected_and_unreachable_phones(env: Env) -> None:
    env.dialer.unreachable.add("agent-1001")
    await env.ready("1001", "1002", "1003")
    call_id, _, task = await env.call()
    leg = await env.ring()  # 1001 could not be rung at all: 1002 at once
    assert leg.endpoint == "agent-1002"
    assert env.acd.roster.get(env.pk("1001")).reason == "话机不可用"
    leg.reject()
    leg3 = await env.ring()
    assert leg3.endpoint == "agent-1003"
    assert env.acd.roster.get(env.pk("1002")).reason == "拒接"
    leg3.answer()
    await within(env.log.next("call.answered"))
    await env.acd.hangup(call_id, env.pk("1003"))
    result = await within(task)
    assert result.first_hangup == "agent" and leg3.cancelled
    results = [o.result for o in await env.rows(Offer, call_id=call_id)]
    assert results == [OfferResult.FAILED, OfferResult.REJECTED, OfferResult.ANSWERED]
    assert [v.kind for v in await env.rows(Violation)] == ["ring_rejected"]


async def test_caller_hangs_up_while_ringing_agent_keeps_place(env: Env) -> None:
    await env.ready("1001", "1002")
    idle_before = env.acd.roster.get(env.pk("1001")).idle_since
    call_id, ch, task = await env.call()
    leg = await env.ring()
    ch.remote_hangup()
    env.acd.caller_hung_up(call_id)
    assert (await within(task)).outcome is QueueOutcome.ABANDONED
    await within(env.log.next("offer.ended", agent_pk=env.pk("1001"), result=OfferResult.CALLER_GONE))
    await within(env.log.next("agent.state", agent_pk=env.pk("1001"), state=AgentState.READY))
    assert leg.cancelled and env.acd.roster.get(env.pk("1001")).idle_since == idle_before
    [offer] = await env.rows(Offer, call_id=call_id)
    assert offer.result is OfferResult.CALLER_GONE and await env.rows(Violation) == []
    kinds = [e.kind for e in await Timeline(env.db).events(call_id)]
    assert "queue.abandon" in kinds and "offer.caller_gone" in kinds


async def test_overflow_offers_a_callback_when_nobody_is_logged_in(env: Env) -> None:
    ch = FakeChannel("caller-x", clock=env.clock, digits=["1"])
    call_id, _, task = await env.call(channel=ch)
    result = await within(task)
    assert result.outcome is QueueOutcome.CALLBACK and result.work_order
    assert "sound:hotline/acd-no-agents" in ch.played() and "sound:hotline/acd-callback-ok" in ch.played()
    [order] = await env.rows(WorkOrder)
    assert (order.number, order.type, order.call_id) == (result.work_order, WorkOrderType.CALLBACK_REQUEST, call_id)
    assert order.contact_phone == "13800138000" and order.callback_due_at is not None
    assert "queue.callback" in [e.kind for e in await Timeline(env.db).events(call_id)]
    assert (await env.call_row(call_id)).outcome == "callback"


async def test_announcements_and_callback_offer_after_max_wait(env: Env) -> None:
    await env.acd.login(env.pk("1001"))  # logged in but not ready
    ch = FakeChannel("caller-y", clock=env.clock, digits=["2"])
    call_id, _, task = await env.call(channel=ch)
    await within(env.clock.sleeper_at(30.0))
    await env.clock.advance(30)
    assert ["sound:hotline/acd-position-before", "sound:hotline/zh/say/n0"] == ch.played()[:2]
    assert ch.ops[-1] == ("moh", "default")
    for _ in range(9):  # announcements every 30 s up to the 300 s maximum wait
        await within(env.clock.sleeper_at(env.clock.monotonic() + 30))
        await env.clock.advance(30)
    assert "sound:hotline/acd-overflow" in ch.played() and ("digits", "2") in ch.ops
    assert not task.done()  # pressed 2: keeps waiting
    await env.acd.set_ready(env.pk("1001"))
    leg = await env.ring()
    leg.answer()
    answered = await within(env.log.next("call.answered"))
    assert answered.apology and answered.waited_seconds == pytest.approx(300)
    env.acd.caller_hung_up(call_id)
    assert (await within(task)).outcome is QueueOutcome.ANSWERED


async def test_transfer_hold_and_who_may_control_a_call(env: Env) -> None:
    await env.ready("1001", "1003")
    call_id, ch, task = await env.call()
    leg = await env.ring()
    leg.answer()
    await within(env.log.next("call.answered"))
    with pytest.raises(NotYourCall):
        await env.acd.hold(call_id, env.pk("1003"), True)  # not 1003's call
    await env.acd.hold(call_id, env.pk("1001"), True)
    await env.acd.hold(call_id, env.pk("1001"), False)
    assert ("hold", None) in ch.ops and ("unhold", None) in ch.ops
    with pytest.raises(UnknownQueue, match="no queue named"):
        await env.acd.transfer(call_id, env.pk("1001"), "nowhere")
    await env.acd.transfer(call_id, env.pk("1001"), "complaint")
    leg2 = await env.ring()
    assert leg2.endpoint == "agent-1003" and leg.cancelled and env.dialer.unbridged
    assert env.acd.roster.get(env.pk("1001")).state is AgentState.WRAP_UP
    leg2.answer()
    answered = await within(env.log.next("call.answered", agent_id="1003"))
    assert not answered.apology  # a transfer starts a new wait
    leg2.hang_up()
    assert (await within(task)).agent_id == "1003"
    [call] = await env.rows(Call, id=call_id)
    assert call.agent_pk == env.pk("1001") and call.queue_name == "complaint"  # first contact keeps ownership
    kinds = [e.kind for e in await Timeline(env.db).events(call_id)]
    assert {"hold", "unhold", "transfer", "queue.requeue"} <= set(kinds)


async def test_agent_state_rules(env: Env) -> None:
    pk = env.pk("1001")
    with pytest.raises(NotSignedIn):
        await env.acd.set_ready(pk)
    await env.acd.login(pk)
    with pytest.raises(UnknownReason) as unknown:
        await env.acd.set_not_ready(pk, "打游戏")
    assert unknown.value.error_id == "acd.unknown_reason" and unknown.value.details == {"reason": "打游戏"}
    await env.acd.set_not_ready(pk, "用餐")
    assert env.acd.roster.get(pk).reason == "用餐"
    with pytest.raises(NoPhone):
        await env.acd.login(env.pk("3001"))
        await env.acd.set_ready(env.pk("3001"))
    await env.acd.set_ready(pk)
    call_id, _, task = await env.call()
    leg = await env.ring()
    with pytest.raises(BusyOnCall):
        await env.acd.logout(pk)
    leg.answer()
    await within(env.log.next("call.answered"))
    leg.hang_up()
    await within(task)
    await env.acd.finish_wrap_up(pk)  # the wrap-up form was submitted before the timer
    assert env.acd.roster.get(pk).state is AgentState.READY
    await env.acd.logout(pk)
    assert env.acd.roster.get(pk).state is AgentState.OFFLINE


async def test_restart_clears_call_states_and_stop_hands_calls_back(db: Database, settings: Settings) -> None:
    seeded = await seed(db)
    async with db.begin() as s:
        a = await s.get(Agent, seeded.agents["1001"])
        a.state = AgentState.TALKING
    clock, dialer = FakeClock(), MemoryDialer()
    acd = Acd(db, settings, dialer, order_service(db), clock=clock)
    await acd.start()
    slot = acd.roster.get(seeded.agents["1001"])
    assert slot.state is AgentState.NOT_READY and slot.reason == "系统重启"
    call_id = await new_call(db)
    task = asyncio.create_task(acd.enqueue(call_id, FakeChannel("c", clock=clock), Request()))
    with pytest.raises(AcdError, match="already"):
        await within(_second_enqueue(acd, call_id, clock))
    await acd.stop()
    with pytest.raises(AcdError, match="stopped"):
        await within(task)


async def _second_enqueue(acd: Acd, call_id: int, clock: FakeClock) -> None:
    while call_id not in acd._entries:  # the first enqueue is still reading the call row
        await asyncio.sleep(0)
    await acd.enqueue(call_id, FakeChannel("c2", clock=clock), Request())
