"""The ACD service: calls wait in line, the longest-idle ready agent is rung, the ring clock runs.

Ring-within-3: every offer has a deadline of ring count x cadence (settings.ring.limit_seconds). If the agent
has not answered by then, the leg is cancelled, the offer is closed as no_answer, a violation is stored, the
agent goes not-ready ("未及时接听") and the call goes straight back to the head of the line for the next agent.

Routing decisions are synchronous on in-memory state; rows are written afterwards, per call in event order.
If anything of ours fails, enqueue() raises AcdError and the caller continues in the dialplan.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Coroutine, TypeVar

from aiohttp import web

from ivr.acd.caller import AcdPrompts, caller_media
from ivr.acd.clock import Clock, SystemClock
from ivr.acd.entry import (
    AcdError,
    Command,
    Entry,
    EntryState,
    QueueOutcome,
    QueueResult,
)
from ivr.acd.exceptions import BusyOnCall, HoldFailed, NoPhone, NotSignedIn, NotYourCall, UnknownQueue, UnknownReason
from ivr.acd.model import (
    AgentSlot,
    QueueConfig,
    Waiting,
    WaitList,
    match,
)
from ivr.acd.offers import OfferFlow
from ivr.acd.ports import (
    AcdEvent,
    AcdListener,
    AgentDialer,
    CallAnswered,
    CallHold,
    CallLeftQueue,
    CallOffered,
    CallQueued,
)
from ivr.acd.records import AcdRecords
from ivr.acd.roster import BUSY, LOGIN_REASON, AgentRoster
from ivr.callers import effective_priority
from ivr.calls.ports import QueueRequestLike
from ivr.calls.timeline import Timeline
from ivr.channel import ChannelError
from ivr.db import Database
from ivr.db.models import AgentState, WorkOrderType
from ivr.settings import Settings
from ivr.workorders import NewWorkOrder, OrderSource, WorkOrderService

log = logging.getLogger(__name__)
T = TypeVar("T")

NOT_READY_REASONS = ("休息", "用餐", "培训", "会议", "处理工单", "其他")


@dataclass(frozen=True)
class AgentCall:
    """What an agent's screen must show right now (used for the console snapshot on reconnect)."""

    call_id: int
    state: EntryState
    offer: CallOffered | None
    answered: CallAnswered | None
    held: bool


class Acd(OfferFlow):
    def __init__(self, db: Database, settings: Settings, dialer: AgentDialer, orders: WorkOrderService, *,
                 clock: Clock | None = None, prompts: AcdPrompts | None = None,
                 timeline: Timeline | None = None) -> None:
        self.db = db
        self.settings = settings
        self.dialer = dialer
        self.orders = orders
        self.clock: Clock = clock or SystemClock()
        self.prompts = prompts or AcdPrompts()
        self.records = AcdRecords(db, timeline or Timeline(db))
        self.roster = AgentRoster(db, self.clock, self._emit)
        self._listeners: list[AcdListener] = []
        self._waiting = WaitList()
        self._entries: dict[int, Entry] = {}
        self._queues: dict[str, QueueConfig] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._wrapups: dict[int, asyncio.Task[None]] = {}
        self._offers: dict[int, CallOffered] = {}  # agent pk -> ringing offer
        self._answers: dict[int, CallAnswered] = {}  # agent pk -> call in conversation
        self._aht = 120.0  # running average handle time, for the wait estimate
        self._running = False

    # --- lifecycle -------------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.roster.load()
        await self.reload_queues()
        self._running = True

    async def stop(self) -> None:
        self._running = False
        for entry in list(self._entries.values()):
            # Waiting callers go to the dialplan fallback; a caller talking to an agent stays bridged in
            # Asterisk (their enqueue() is cancelled by the call service, not failed into the fallback).
            if entry.state in (EntryState.WAITING, EntryState.OFFERING):
                self._fail(entry, AcdError("ACD stopped"))
        tasks = [*self._tasks, *self._wrapups.values()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def reload_queues(self) -> None:
        self._queues = {q.name: QueueConfig(name=q.name, skill=q.skill, display_name=q.display_name,
                                            weight=q.weight, max_wait_seconds=float(q.max_wait_seconds),
                                            announce_every_seconds=float(q.announce_every_seconds))
                        for q in await self.records.queue_rows()}

    def subscribe(self, listener: AcdListener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def _emit(self, event: AcdEvent) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                log.exception("ACD listener failed on %s", event.kind)

    def _spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("ACD task failed", exc_info=task.exception())

    async def settle(self, call_id: int | None = None) -> None:
        """Wait until no offer is ringing and no record is being written, for one call or all (tests)."""
        prefixes = ("offer-", "record-") if call_id is None else (f"offer-{call_id}-", f"record-{call_id}-")
        while busy := [t for t in self._tasks if t.get_name().startswith(prefixes)]:
            await asyncio.wait(busy)

    async def _safe(self, aw: Awaitable[T]) -> T | None:
        """Records and cleanup must never take a call down with them."""
        try:
            return await aw
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ACD side step failed")
            return None

    # --- views -----------------------------------------------------------------------------------------

    @property
    def queues(self) -> dict[str, QueueConfig]:
        return dict(self._queues)

    def ahead_of(self, entry: Entry) -> int:
        return self._waiting.ahead_of(entry.waiting) if entry.waiting in self._waiting else 0

    def agents_for(self, skill: str) -> int:
        return sum(1 for a in self.roster.slots() if a.logged_in and a.endpoint and a.has_skill(skill))

    def average_handle_seconds(self) -> float:
        return self._aht

    def agent_call(self, agent_pk: int) -> AgentCall | None:
        slot = self.roster.get(agent_pk)
        if slot is None or slot.call_id is None:
            return None
        entry = self._entries.get(slot.call_id)
        return AgentCall(call_id=slot.call_id, state=entry.state if entry else EntryState.DONE,
                         offer=self._offers.get(agent_pk), answered=self._answers.get(agent_pk),
                         held=bool(entry and entry.held))

    def waiting_calls(self) -> list[dict[str, Any]]:
        """Calls in line or ringing, for the wallboard (plain data)."""
        now = self.clock.monotonic()
        return [{"call_id": e.call_id, "queue": e.queue.name, "state": e.state.value, "priority": e.priority,
                 "waited": round(e.waited(now), 1), "attempts": e.attempts,
                 "queued_at": e.queued_at.isoformat()}
                for e in self._entries.values() if e.state in (EntryState.WAITING, EntryState.OFFERING)]

    # --- agents (console) ------------------------------------------------------------------------------

    async def login(self, agent_pk: int) -> AgentSlot:
        slot = await self.roster.ensure(agent_pk)
        if slot.state is AgentState.OFFLINE:
            await self.roster.set_state(agent_pk, AgentState.NOT_READY, LOGIN_REASON)
        return slot

    async def logout(self, agent_pk: int) -> None:
        slot = await self.roster.ensure(agent_pk)
        if slot.state in BUSY:
            raise BusyOnCall("cannot sign out during a call", action="sign_out")
        self._cancel_wrap_up(agent_pk)
        await self.roster.set_state(agent_pk, AgentState.OFFLINE)

    async def set_ready(self, agent_pk: int) -> None:
        slot = await self.roster.ensure(agent_pk)
        if slot.state is AgentState.READY:
            return
        if slot.state is AgentState.OFFLINE:
            raise NotSignedIn("sign in first")
        if slot.state in BUSY:
            raise BusyOnCall("cannot change state during a call", action="change_state")
        if not slot.endpoint:
            raise NoPhone("the agent has no phone endpoint configured, so cannot take calls")
        self._cancel_wrap_up(agent_pk)
        await self.roster.set_state(agent_pk, AgentState.READY)
        self._dispatch()

    async def set_not_ready(self, agent_pk: int, reason: str) -> None:
        slot = await self.roster.ensure(agent_pk)
        if slot.state is AgentState.OFFLINE:
            raise NotSignedIn("sign in first")
        if slot.state in BUSY:
            raise BusyOnCall("cannot change state during a call", action="change_state")
        if reason not in NOT_READY_REASONS:
            raise UnknownReason(f"unknown not-ready reason {reason!r}", reason=reason[:40])
        self._cancel_wrap_up(agent_pk)
        await self.roster.set_state(agent_pk, AgentState.NOT_READY, reason, call_id=None)

    async def finish_wrap_up(self, agent_pk: int) -> None:
        """The agent submitted the wrap-up form: ready for the next call (unless they chose otherwise)."""
        slot = await self.roster.ensure(agent_pk)
        if slot.state is AgentState.WRAP_UP:
            await self.set_ready(agent_pk)

    def _cancel_wrap_up(self, agent_pk: int) -> None:
        task = self._wrapups.pop(agent_pk, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _start_wrap_up(self, slot: AgentSlot, call_id: int) -> None:
        self._cancel_wrap_up(slot.pk)
        persist = self.roster.change(slot.pk, AgentState.WRAP_UP, call_id=call_id)
        self._wrapups[slot.pk] = self._spawn(self._wrap_up_timer(slot.pk, slot.wrap_up_seconds),
                                              f"wrapup-{slot.pk}")
        await self._safe(persist)

    async def _wrap_up_timer(self, agent_pk: int, seconds: float) -> None:
        await self.clock.sleep(seconds)
        slot = self.roster.get(agent_pk)
        if self._wrapups.get(agent_pk) is asyncio.current_task():
            del self._wrapups[agent_pk]
        if slot is not None and slot.state is AgentState.WRAP_UP:
            persist = self.roster.change(agent_pk, AgentState.READY)
            self._dispatch()
            await self._safe(persist)

    # --- calls (call service / flow engine) ------------------------------------------------------------

    def _queue_config(self, name: str, skill: str | None) -> QueueConfig:
        found = self._queues.get(name)
        if found is not None:
            return found
        return QueueConfig(name=name, skill=skill or name)

    async def enqueue(self, call_id: int, channel: Any, request: QueueRequestLike) -> QueueResult:
        """Put the call in line and stay with it until it leaves the ACD (see QueueResult)."""
        if not self._running:
            raise AcdError("ACD is not running")
        if call_id in self._entries:
            raise AcdError(f"call {call_id} is already in the ACD")
        try:
            facts = await self.records.call_facts(call_id)
        except Exception as exc:
            raise AcdError(f"call {call_id}: cannot read the call: {exc}") from exc
        if call_id in self._entries:  # queued by someone else while we were reading
            raise AcdError(f"call {call_id} is already in the ACD")
        queue = self._queue_config(request.queue, request.skill)
        skill = request.skill or queue.skill
        priority = effective_priority(int(request.priority), facts.special_care)
        now_mono, at = self.clock.monotonic(), self.clock.now()
        entry = Entry(call_id=call_id, uid=facts.uid, caller_number=facts.caller_number,
                      customer_id=facts.customer_id, channel=channel, queue=queue,
                      waiting=Waiting(call_id=call_id, queue=queue, skill=skill, priority=priority,
                                      queued_at=now_mono),
                      priority=priority, queued_at=at, queued_mono=now_mono, first_queued_at=at,
                      result=asyncio.get_running_loop().create_future())
        self._entries[call_id] = entry
        try:
            self._waiting.add(entry.waiting)
            self._emit(CallQueued(call_id=call_id, queue=queue.name, priority=priority, at=at))
            self._start_media(entry)
            self._dispatch()
            async with entry.db_lock:
                await self._safe(self.records.queue_enter(call_id, at=at, queue=queue.name, skill=skill,
                                                          priority=priority, requeued=False, first=True))
            return await entry.result
        except asyncio.CancelledError:
            self.caller_left(entry)
            raise
        finally:
            self._waiting.remove(entry.waiting)
            if entry.media_task is not None and not entry.media_task.done():
                entry.media_task.cancel()
            if self._entries.get(call_id) is entry:
                del self._entries[call_id]

    def caller_hung_up(self, call_id: int) -> None:
        """The call service reports the caller's hang-up (StasisEnd / AGI hangup) for a call in the ACD."""
        entry = self._entries.get(call_id)
        if entry is not None:
            self.caller_left(entry)

    def caller_left(self, entry: Entry) -> None:
        if entry.left.is_set():
            return
        entry.left_outcome = QueueOutcome.ABANDONED
        entry.left.set()
        self._waiting.remove(entry.waiting)
        if entry.state in (EntryState.WAITING, EntryState.OFFERING):
            waited = entry.waited(self.clock.monotonic())
            self._finish(entry, QueueResult(QueueOutcome.ABANDONED, waited_seconds=waited), agent_pk=None)
            self._spawn(self._record(entry, "queue.abandon", {"waited_seconds": round(waited, 3)}),
                        f"record-{entry.call_id}-")

    async def take_callback(self, entry: Entry) -> bool:
        if entry.left.is_set():
            return False
        try:
            order = await self.orders.create(NewWorkOrder(
                type=WorkOrderType.CALLBACK_REQUEST, source=OrderSource.QUEUE, description="排队等待时来电人选择预约回电",
                call_id=entry.call_id, customer_id=entry.customer_id, contact_phone=entry.caller_number),
                at=self.clock.now())
        except Exception:
            log.exception("call %s: callback work order failed; the caller keeps waiting", entry.call_id)
            return False
        if entry.left.is_set():
            return False
        entry.work_order = order.number
        entry.left_outcome = QueueOutcome.CALLBACK
        entry.left.set()
        self._waiting.remove(entry.waiting)
        self._spawn(self._callback_records(entry, order.number), f"record-{entry.call_id}-")
        return True

    async def _callback_records(self, entry: Entry, number: str) -> None:
        async with entry.db_lock:
            # "callback", not "abandoned", when the call service closes the call: the caller was served.
            await self._safe(self.records.update_call(entry.call_id, outcome="callback"))
            await self._safe(self.records.event(entry.call_id, "queue.callback", {"work_order": number},
                                                self.clock.now()))

    def callback_done(self, entry: Entry) -> None:
        self._finish(entry, QueueResult(QueueOutcome.CALLBACK, work_order=entry.work_order,
                                        waited_seconds=entry.waited(self.clock.monotonic())), agent_pk=None)

    def _finish(self, entry: Entry, result: QueueResult, *, agent_pk: int | None) -> None:
        entry.state = EntryState.DONE
        if not entry.result.done():
            entry.result.set_result(result)
            self._emit(CallLeftQueue(call_id=entry.call_id, outcome=result.outcome.value, agent_pk=agent_pk,
                                     first_hangup=result.first_hangup))

    def _fail(self, entry: Entry, exc: Exception) -> None:
        entry.state = EntryState.DONE
        self._waiting.remove(entry.waiting)
        if not entry.result.done():
            entry.result.set_exception(exc if isinstance(exc, AcdError) else AcdError(str(exc)))
            self._emit(CallLeftQueue(call_id=entry.call_id, outcome="failed", agent_pk=entry.agent_pk))

    def _start_media(self, entry: Entry) -> None:
        entry.media_task = self._spawn(caller_media(self, entry), f"media-{entry.call_id}")

    async def _record(self, entry: Entry, kind: str, data: dict[str, Any]) -> None:
        async with entry.db_lock:
            await self._safe(self.records.event(entry.call_id, kind, data, self.clock.now()))

    # --- distribution ----------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        if not self._running:
            return
        for waiting, slot in match(self._waiting, self.roster.slots()):
            entry = self._entries.get(waiting.call_id)
            self._waiting.remove(waiting)
            if entry is None or entry.left.is_set():
                continue
            self.roster.reserve(slot.pk, entry.call_id)
            entry.state = EntryState.OFFERING
            entry.agent_pk = slot.pk
            entry.attempts += 1
            self._spawn(self._offer(entry, slot), f"offer-{entry.call_id}-{slot.agent_id}")

    # --- call control (console) ------------------------------------------------------------------------

    def _talking_entry(self, call_id: int, agent_pk: int) -> Entry:
        entry = self._entries.get(call_id)
        if entry is None or entry.agent_pk != agent_pk or entry.state is not EntryState.TALKING:
            raise NotYourCall(f"call {call_id} is not on this agent's line", call_id=call_id)
        return entry

    async def hangup(self, call_id: int, agent_pk: int) -> None:
        self._talking_entry(call_id, agent_pk).control.put_nowait(Command("hangup", by_agent=agent_pk))

    async def transfer(self, call_id: int, agent_pk: int, queue: str) -> None:
        entry = self._talking_entry(call_id, agent_pk)
        if queue not in self._queues:
            raise UnknownQueue(f"no queue named {queue!r}", queue=queue[:64])
        entry.control.put_nowait(Command("transfer", queue=queue, by_agent=agent_pk))

    async def hold(self, call_id: int, agent_pk: int, on: bool) -> None:
        entry = self._talking_entry(call_id, agent_pk)
        if entry.held == on:
            return
        try:
            await (entry.channel.hold() if on else entry.channel.unhold())
        except ChannelError as exc:
            raise HoldFailed(f"{'hold' if on else 'unhold'} failed: {exc}", hold=on) from None
        entry.held = on
        self._emit(CallHold(call_id=call_id, agent_pk=agent_pk, held=on))
        await self._record(entry, "hold" if on else "unhold", {"agent_pk": agent_pk})


ACD: web.AppKey[Acd] = web.AppKey("acd", Acd)
