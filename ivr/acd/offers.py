"""The offer: ring one agent's phone against the ring clock, then connect, talk and wrap up.

A mixin of the Acd service (ivr.acd.service), kept apart because it is the part with the timing rules:
the pop goes out and the phone rings first, the rows follow; at the deadline (ring count x cadence) the leg
is cancelled, the violation stored, the agent made not-ready and the call put back at the head of the line.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from typing import Any, Awaitable, Coroutine, TypeVar

from ivr.acd.clock import Clock
from ivr.acd.entry import AcdError, Entry, EntryState, QueueOutcome, QueueResult
from ivr.acd.model import AgentSlot, QueueConfig, Waiting, WaitList, needs_apology
from ivr.acd.ports import (
    AcdEvent,
    AgentDialer,
    AgentLeg,
    CallAnswered,
    CallOffered,
    CallQueued,
    LegOutcome,
    OfferEnded,
)
from ivr.acd.records import AcdRecords
from ivr.acd.roster import BUSY, AgentRoster
from ivr.channel import ChannelError
from ivr.db.models import AgentState, OfferResult
from ivr.settings import Settings, render_greeting

log = logging.getLogger("ivr.acd.service")
T = TypeVar("T")

RING_GRACE_SECONDS = 5.0  # Asterisk's own originate timeout sits behind our deadline, never before it
REASON_NO_ANSWER = "未及时接听"
REASON_REJECTED = "拒接"
REASON_PHONE = "话机不可用"
REASON_ERROR = "系统错误"
_NOT_ANSWERED_REASON = {OfferResult.NO_ANSWER: REASON_NO_ANSWER, OfferResult.REJECTED: REASON_REJECTED,
                        OfferResult.FAILED: REASON_PHONE}
_LEG_RESULT = {LegOutcome.BUSY: OfferResult.REJECTED, LegOutcome.FAILED: OfferResult.FAILED,
               LegOutcome.NO_ANSWER: OfferResult.NO_ANSWER}


class OfferFlow:
    # State and helpers of the Acd service this mixin works with.
    settings: Settings
    clock: Clock
    dialer: AgentDialer
    roster: AgentRoster
    records: AcdRecords
    _waiting: WaitList
    _offers: dict[int, CallOffered]
    _answers: dict[int, CallAnswered]
    _aht: float

    def _emit(self, event: AcdEvent) -> None:
        raise NotImplementedError

    def _spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        raise NotImplementedError

    async def _safe(self, aw: Awaitable[T]) -> T | None:
        raise NotImplementedError

    def _dispatch(self) -> None:
        raise NotImplementedError

    def _finish(self, entry: Entry, result: QueueResult, *, agent_pk: int | None) -> None:
        raise NotImplementedError

    def _fail(self, entry: Entry, exc: Exception) -> None:
        raise NotImplementedError

    def _queue_config(self, name: str, skill: str | None) -> QueueConfig:
        raise NotImplementedError

    async def _start_wrap_up(self, slot: AgentSlot, call_id: int) -> None:
        raise NotImplementedError

    async def _record(self, entry: Entry, kind: str, data: dict[str, Any]) -> None:
        raise NotImplementedError

    def _start_media(self, entry: Entry) -> None:
        raise NotImplementedError

    async def _offer(self, entry: Entry, slot: AgentSlot) -> None:
        try:
            await self._offer_steps(entry, slot)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("call %s: offer to agent %s failed", entry.call_id, slot.agent_id)
            if slot.call_id == entry.call_id and slot.state in BUSY:
                await self._safe(self.roster.change(slot.pk, AgentState.NOT_READY, REASON_ERROR))
            self._fail(entry, AcdError(f"offer failed: {exc}"))

    async def _offer_steps(self, entry: Entry, slot: AgentSlot) -> None:
        ring = self.settings.ring
        limit = ring.limit_seconds
        start_mono, started = self.clock.monotonic(), self.clock.now()
        offer = CallOffered(call_id=entry.call_id, offer_key=uuid.uuid4().hex, agent_pk=slot.pk,
                            agent_id=slot.agent_id, ring_started_at=started,
                            deadline_at=started + dt.timedelta(seconds=limit), limit_seconds=limit,
                            ring_on_seconds=ring.on_seconds, ring_off_seconds=ring.off_seconds,
                            ring_count=ring.count, attempt=entry.attempts, caller_number=entry.caller_number,
                            queue=entry.queue.name)
        self._offers[slot.pk] = offer
        # The pop goes out first and the phone is rung at once; the rows follow while it rings.
        self._emit(offer)
        ringing = asyncio.ensure_future(self.dialer.ring(str(slot.endpoint), call_uid=entry.uid,
                                                         caller_id=entry.caller_number,
                                                         timeout=limit + RING_GRACE_SECONDS))
        async with entry.db_lock:
            await self._safe(self.roster.change(slot.pk, AgentState.RINGING, call_id=entry.call_id))
            offer_id = await self._safe(self.records.offer_start(
                entry.call_id, agent_pk=slot.pk, agent_id=slot.agent_id, endpoint=str(slot.endpoint),
                started=started, deadline=offer.deadline_at, attempt=entry.attempts))
        leg: AgentLeg | None = None
        try:
            leg = await ringing
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("call %s: cannot ring %s: %s", entry.call_id, slot.endpoint, exc)
            result = OfferResult.FAILED
        else:
            result = await self._ring_clock(entry, leg, start_mono + limit)
        ring_seconds = self.clock.monotonic() - start_mono
        entry.ring_seconds_total += ring_seconds
        self._offers.pop(slot.pk, None)
        if result is OfferResult.ANSWERED and leg is not None:
            await self._connect(entry, slot, leg, offer, offer_id, ring_seconds)
        else:
            await self._not_answered(entry, slot, leg, offer, offer_id, result, ring_seconds)

    async def _ring_clock(self, entry: Entry, leg: AgentLeg, deadline: float) -> OfferResult:
        answered = asyncio.ensure_future(leg.wait_answered())
        timer = asyncio.ensure_future(self.clock.sleep(deadline - self.clock.monotonic()))
        left = asyncio.ensure_future(entry.left.wait())
        waiters = (answered, timer, left)
        try:
            done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in waiters:
                t.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        if left in done or entry.left.is_set():
            return OfferResult.CALLER_GONE
        if answered in done and answered.exception() is None:
            outcome = answered.result()
            if outcome is LegOutcome.ANSWERED:
                return OfferResult.ANSWERED  # an answer in the same instant as the deadline still counts
            return _LEG_RESULT.get(outcome, OfferResult.FAILED)
        if answered in done:
            log.warning("call %s: agent leg failed: %s", entry.call_id, answered.exception())
            return OfferResult.FAILED
        return OfferResult.NO_ANSWER

    async def _not_answered(self, entry: Entry, slot: AgentSlot, leg: AgentLeg | None, offer: CallOffered,
                            offer_id: int | None, result: OfferResult, ring_seconds: float) -> None:
        cancel = asyncio.ensure_future(self._safe(self.dialer.cancel(leg))) if leg is not None else None
        if cancel is not None and result is OfferResult.CALLER_GONE:
            await cancel  # the agent becomes ready again: their phone must have stopped ringing first
        at = self.clock.now()
        # Taken before the next offer can start (a free lock is taken without yielding), so this offer's
        # rows precede the next one's in the timeline.
        async with entry.db_lock:
            self._emit(OfferEnded(call_id=entry.call_id, offer_key=offer.offer_key, agent_pk=slot.pk,
                                  result=result, ring_seconds=ring_seconds))
            back_in_line = False
            if result is OfferResult.CALLER_GONE:
                persist = self.roster.change(slot.pk, AgentState.READY, idle="keep")  # not the agent's fault
            else:
                persist = self.roster.change(slot.pk, AgentState.NOT_READY, _NOT_ANSWERED_REASON[result])
                if not entry.left.is_set():
                    # Straight back to its old place at the head of the line, and the next agent rings now.
                    entry.state, entry.agent_pk, back_in_line = EntryState.WAITING, None, True
                    self._waiting.add(entry.waiting)
                    self._emit(CallQueued(call_id=entry.call_id, queue=entry.queue.name,
                                          priority=entry.priority, at=at, requeued=True))
            self._dispatch()
            await self._safe(persist)
            await self._safe(self.records.offer_not_answered(
                offer_id, call_id=entry.call_id, agent_pk=slot.pk, agent_id=slot.agent_id, result=result, at=at,
                ring_seconds=ring_seconds, ring_total=entry.ring_seconds_total,
                limit_seconds=self.settings.ring.limit_seconds, back_in_queue=back_in_line))
        if cancel is not None:
            await cancel

    async def _stop_media(self, entry: Entry) -> None:
        task, entry.media_task = entry.media_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        try:
            await entry.channel.stop_moh()
        except ChannelError:
            pass  # no music was playing, or the caller is gone (the bridge step will tell)

    async def _connect(self, entry: Entry, slot: AgentSlot, leg: AgentLeg, offer: CallOffered,
                       offer_id: int | None, ring_seconds: float) -> None:
        at, waited = self.clock.now(), entry.waited(self.clock.monotonic())
        limit = self.settings.ring.limit_seconds
        apology = needs_apology(waited, limit)
        answered = CallAnswered(call_id=entry.call_id, agent_pk=slot.pk, agent_id=slot.agent_id,
                                waited_seconds=waited, apology=apology,
                                greeting=render_greeting(self.settings, slot.agent_id, apology),
                                closing=self.settings.hotline.closing)
        entry.state = EntryState.TALKING
        await self._stop_media(entry)
        try:
            bridge_id = await self.dialer.bridge(entry.channel, leg)
        except Exception as exc:
            log.warning("call %s: bridge to agent %s failed: %s", entry.call_id, slot.agent_id, exc)
            await self._safe(self.dialer.cancel(leg))
            persist = self.roster.change(slot.pk, AgentState.READY, idle="keep")
            if entry.channel.hung_up or entry.left.is_set():
                self._finish(entry, QueueResult(QueueOutcome.ABANDONED, waited_seconds=waited), agent_pk=None)
            else:
                self._fail(entry, AcdError(f"bridge failed: {exc}"))
            self._dispatch()
            await self._safe(persist)
            async with entry.db_lock:
                await self._safe(self.records.offer_not_answered(
                    offer_id, call_id=entry.call_id, agent_pk=slot.pk, agent_id=slot.agent_id,
                    result=OfferResult.CALLER_GONE if entry.left.is_set() else OfferResult.FAILED, at=at,
                    ring_seconds=ring_seconds, ring_total=entry.ring_seconds_total, limit_seconds=limit,
                    back_in_queue=False))
            return
        persist = self.roster.change(slot.pk, AgentState.TALKING, call_id=entry.call_id)
        self._answers[slot.pk] = answered
        self._emit(answered)
        await self._safe(persist)
        async with entry.db_lock:
            await self._safe(self.records.offer_answered(
                offer_id, call_id=entry.call_id, agent_pk=slot.pk, agent_id=slot.agent_id, at=at,
                ring_seconds=ring_seconds, ring_total=entry.ring_seconds_total, waited=waited, apology=apology,
                greeting=answered.greeting))
        await self._talk(entry, slot, leg, bridge_id, offer_id, waited)

    async def _talk(self, entry: Entry, slot: AgentSlot, leg: AgentLeg, bridge_id: str, offer_id: int | None,
                    waited: float) -> None:
        start = self.clock.monotonic()
        first, transfer_to = "", ""
        ended = asyncio.ensure_future(leg.wait_ended())
        left = asyncio.ensure_future(entry.left.wait())
        try:
            while True:
                ctrl = asyncio.ensure_future(entry.control.get())
                done, _ = await asyncio.wait((ended, left, ctrl), return_when=asyncio.FIRST_COMPLETED)
                if ctrl not in done:
                    ctrl.cancel()
                    await asyncio.gather(ctrl, return_exceptions=True)
                else:
                    cmd = ctrl.result()
                    if cmd.kind == "transfer":
                        first, transfer_to = "agent", cmd.queue
                        break
                    if cmd.kind == "hangup":
                        first = first or "agent"
                        await self._safe(self.dialer.cancel(leg))
                    continue
                if left in done:
                    first = first or "caller"
                    break
                if ended in done:
                    first = first or ("caller" if entry.channel.hung_up else "agent")
                    break
        finally:
            for t in (ended, left):
                t.cancel()
            await asyncio.gather(ended, left, return_exceptions=True)
        if first == "caller" or transfer_to:
            await self._safe(self.dialer.cancel(leg))
        await self._safe(self.dialer.unbridge(bridge_id))
        at, talked = self.clock.now(), self.clock.monotonic() - start
        self._aht = 0.8 * self._aht + 0.2 * talked
        self._answers.pop(slot.pk, None)
        entry.held = False
        await self._start_wrap_up(slot, entry.call_id)
        await self._safe(self.records.offer_closed(offer_id, at))
        await self._record(entry, "talk.end", {"agent_id": slot.agent_id, "first_hangup": first,
                                               "talk_seconds": round(talked, 3)})
        if transfer_to:
            await self._requeue_transfer(entry, slot, transfer_to)
            return
        self._finish(entry, QueueResult(QueueOutcome.ANSWERED, agent_id=slot.agent_id, first_hangup=first,
                                        waited_seconds=waited), agent_pk=slot.pk)

    async def _requeue_transfer(self, entry: Entry, slot: AgentSlot, queue_name: str) -> None:
        queue = self._queue_config(queue_name, None)
        now_mono, at = self.clock.monotonic(), self.clock.now()
        entry.queue = queue
        entry.waiting = Waiting(call_id=entry.call_id, queue=queue, skill=queue.skill, priority=entry.priority,
                                queued_at=now_mono)
        entry.queued_mono, entry.queued_at = now_mono, at
        entry.state, entry.agent_pk = EntryState.WAITING, None
        if entry.left.is_set():
            self._finish(entry, QueueResult(QueueOutcome.ANSWERED, agent_id=slot.agent_id, first_hangup="caller"),
                         agent_pk=slot.pk)
            return
        self._waiting.add(entry.waiting)
        self._emit(CallQueued(call_id=entry.call_id, queue=queue.name, priority=entry.priority, at=at,
                              requeued=True))
        self._start_media(entry)
        self._dispatch()
        async with entry.db_lock:
            await self._safe(self.records.event(entry.call_id, "transfer", {
                "from_agent": slot.agent_id, "to_queue": queue.name}, at))
            await self._safe(self.records.queue_enter(entry.call_id, at=at, queue=queue.name, skill=queue.skill,
                                                      priority=entry.priority, requeued=True, first=False))
