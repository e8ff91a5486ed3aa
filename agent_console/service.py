"""Turns ACD events into what each screen shows, and builds the snapshots a (re)connecting screen starts from.

Audiences: each agent's own screens get their state, their offers (with the screen pop), the greeting on
answer and the end of the call; supervisor screens get every agent's state, the waiting calls and the daily
figures. Pops are built when a call enters the queue, so the offer only has to send one.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Any, Callable

from sqlalchemy import select, text

from agent_console.hub import WALL, Hub, agent_audience
from agent_console.pop import build_pop, mask_number, mask_pop
from agent_console.orders.live import alert_view
from agent_console.orders.live import publish as publish_order
from agent_console.wallboard import daily_stats
from ivr.acd.ports import (AcdEvent, AgentStateChanged, CallAnswered, CallHold, CallLeftQueue, CallOffered,
                           CallQueued, OfferEnded)
from ivr.acd.service import NOT_READY_REASONS, Acd
from ivr.db import Database
from ivr.db.models import Agent, AgentState, Role, utcnow
from ivr.settings import Settings
from ivr.workorders import OrderEvent, WorkOrderService
from ivr.workorders.queries import alerts as order_alerts
from ivr.workorders.queries import unit_names

log = logging.getLogger(__name__)
QUEUE_PUBLISH_EVERY = 0.5  # wallboard queue list: coalesced, it is not what the ring clock waits for
STATS_EVERY = 5.0
POP_BUILDERS = 8


def offer_message(ev: CallOffered) -> dict[str, Any]:
    return {"call_id": ev.call_id, "offer_key": ev.offer_key, "ring_started_at": ev.ring_started_at.isoformat(),
            "deadline_at": ev.deadline_at.isoformat(), "limit_seconds": ev.limit_seconds,
            "ring_on": ev.ring_on_seconds, "ring_off": ev.ring_off_seconds, "ring_count": ev.ring_count,
            "attempt": ev.attempt, "queue": ev.queue}


def answered_message(ev: CallAnswered) -> dict[str, Any]:
    return {"call_id": ev.call_id, "greeting": ev.greeting, "closing": ev.closing, "apology": ev.apology,
            "waited_seconds": round(ev.waited_seconds, 1)}


class ConsoleService:
    def __init__(self, db: Database, settings: Settings, hub: Hub, acd: Acd,
                 forbidden_phrases: list[str], *, reads: Database | None = None,
                 orders: WorkOrderService | None = None) -> None:
        self.db = db
        # Pops and figures are reads on their own connections: they never queue for a connection behind the
        # call engine's writers (on SQLite: waiting for the write lock). A pop must beat the first ring.
        self.reads = reads or db
        self.settings = settings
        self.hub = hub
        self.acd = acd
        self.forbidden_phrases = forbidden_phrases
        self._pops: dict[int, asyncio.Task[dict[str, Any]]] = {}
        self._agents: dict[int, tuple[str, str, Role]] = {}  # pk -> (agent id, name, role)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._queue_dirty = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self._stats: dict[str, Any] = {}
        self.offers_sent = 0
        self.pop_build_ms: collections.deque[float] = collections.deque(maxlen=1000)  # for the benchmark
        # At most this many pops read at once: each holds one connection, and a burst of calls must not
        # push the pool into opening (and closing) overflow connections for every pop.
        self._building = asyncio.Semaphore(POP_BUILDERS)
        # Work-order changes reach the wallboard, the unit and the owner (agent_console/orders/live.py).
        self.orders = orders
        self._unit_names: dict[str, str] = {}
        self._orders_unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        await self.reload_agents()
        # Open the pop builders' connections now: the first calls must not pay for connecting.
        await asyncio.gather(*(self._warm() for _ in range(POP_BUILDERS)))
        self._unsubscribe = self.acd.subscribe(self.on_acd)
        if self.orders is not None:
            self._unit_names = await unit_names(self.reads)
            self._orders_unsubscribe = self.orders.subscribe(self.on_order)
        self._spawn(self._queue_publisher(), "console-queue-publisher")
        self._spawn(self._stats_publisher(), "console-stats")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._orders_unsubscribe is not None:
            self._orders_unsubscribe()
        tasks = [*self._tasks, *self._pops.values()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _warm(self) -> None:
        async with self.reads.session() as s:
            await s.execute(text("SELECT 1"))  # run together, each of these holds its own connection

    async def reload_agents(self) -> None:
        async with self.db.session() as s:
            rows = (await s.execute(select(Agent.id, Agent.agent_id, Agent.name, Agent.role))).all()
        self._agents = {pk: (agent_id, name, role) for pk, agent_id, name, role in rows}

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("console task %s failed", task.get_name(), exc_info=task.exception())

    def role_of(self, agent_pk: int) -> Role:
        # Unknown agents get the most restricted view until reload_agents learns them.
        return self._agents.get(agent_pk, ("", "", Role.QA))[2]

    # --- pops ------------------------------------------------------------------------------------------

    def pop(self, call_id: int, *, cache: bool = True) -> asyncio.Task[dict[str, Any]]:
        """The pop being built or built for a call; cached while the call is in the ACD."""
        task = self._pops.get(call_id)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            task = asyncio.get_running_loop().create_task(self._build(call_id), name=f"pop-{call_id}")
            if cache:
                self._pops[call_id] = task
        return task

    async def _build(self, call_id: int) -> dict[str, Any]:
        start = time.perf_counter()
        async with self._building:
            pop = await build_pop(self.reads, call_id)
        self.pop_build_ms.append((time.perf_counter() - start) * 1000)
        return pop

    async def pop_for(self, call_id: int, role: Role, *, cache: bool = True) -> dict[str, Any] | None:
        try:
            return mask_pop(await asyncio.shield(self.pop(call_id, cache=cache)), role)
        except LookupError:
            return None

    # --- ACD events ------------------------------------------------------------------------------------

    def on_acd(self, ev: AcdEvent) -> None:
        if isinstance(ev, AgentStateChanged):
            msg = {"type": "agent", "agent": self.agent_view(ev.agent_pk, ev.state.value, ev.reason,
                                                             ev.since.isoformat(), ev.call_id)}
            self.hub.publish(agent_audience(ev.agent_pk), msg)
            self.hub.publish(WALL, msg)
            if ev.agent_pk not in self._agents:
                self._spawn(self.reload_agents(), "console-reload-agents")
        elif isinstance(ev, CallOffered):
            self._spawn(self._send_offer(ev), f"console-offer-{ev.call_id}")
            self._queue_dirty.set()
        elif isinstance(ev, CallQueued):
            if not ev.requeued:
                self.pop(ev.call_id)  # build it now, while the call waits
            self._queue_dirty.set()
        elif isinstance(ev, OfferEnded):
            self.hub.publish(agent_audience(ev.agent_pk), {"type": "offer_end", "call_id": ev.call_id,
                                                           "offer_key": ev.offer_key, "result": ev.result.value})
            self._queue_dirty.set()
        elif isinstance(ev, CallAnswered):
            self.hub.publish(agent_audience(ev.agent_pk), {"type": "answered", **answered_message(ev)})
            self._queue_dirty.set()
        elif isinstance(ev, CallHold):
            self.hub.publish(agent_audience(ev.agent_pk), {"type": "hold", "call_id": ev.call_id,
                                                           "held": ev.held})
        elif isinstance(ev, CallLeftQueue):
            if ev.agent_pk is not None:
                self.hub.publish(agent_audience(ev.agent_pk), {
                    "type": "call_end", "call_id": ev.call_id, "outcome": ev.outcome,
                    "first_hangup": ev.first_hangup})
            task = self._pops.pop(ev.call_id, None)
            if task is not None and not task.done():
                task.cancel()
            self._queue_dirty.set()

    def on_order(self, ev: OrderEvent) -> None:
        if ev.unit_code and ev.unit_code not in self._unit_names:
            self._spawn(self._reload_units(), "console-reload-units")
        publish_order(self.hub, ev, self._unit_names)

    async def _reload_units(self) -> None:
        self._unit_names = await unit_names(self.reads)

    async def _send_offer(self, ev: CallOffered) -> None:
        """The ringing card at once; the record with it when it is built already (the usual case: it is
        built while the caller is in line), else in a `pop` message as soon as the database answers."""
        role, audience = self.role_of(ev.agent_pk), agent_audience(ev.agent_pk)
        task = self.pop(ev.call_id)
        msg = {"type": "offer", **offer_message(ev), "caller_number": mask_number(ev.caller_number, role)}
        ready = task.done() and not task.cancelled() and task.exception() is None
        self.hub.publish(audience, {**msg, "pop": mask_pop(task.result(), role) if ready else None,
                                    "server_time": utcnow().isoformat()})
        self.offers_sent += 1
        if not ready:
            pop = await self.pop_for(ev.call_id, role)
            self.hub.publish(audience, {"type": "pop", "call_id": ev.call_id, "offer_key": ev.offer_key,
                                        "pop": pop, "server_time": utcnow().isoformat()})

    async def _queue_publisher(self) -> None:
        while True:
            await self._queue_dirty.wait()
            self._queue_dirty.clear()
            self.hub.publish(WALL, {"type": "queues", "queues": self.queue_view()})
            await asyncio.sleep(QUEUE_PUBLISH_EVERY)

    async def _stats_publisher(self) -> None:
        while True:
            if self.hub.clients:
                try:
                    self._stats = await self.stats()
                    self.hub.publish(WALL, {"type": "stats", "stats": self._stats})
                except Exception:
                    log.exception("wallboard figures failed")
            await asyncio.sleep(STATS_EVERY)

    async def stats(self) -> dict[str, Any]:
        return await daily_stats(self.reads, now=utcnow(), zone=self.settings.hotline.zone,
                                 limit_seconds=self.settings.ring.limit_seconds)

    # --- views and snapshots ---------------------------------------------------------------------------

    def agent_view(self, pk: int, state: str, reason: str, since: str, call_id: int | None) -> dict[str, Any]:
        agent_id, name, _ = self._agents.get(pk, ("", "", Role.AGENT))
        return {"pk": pk, "agent_id": agent_id, "name": name, "state": state, "reason": reason, "since": since,
                "call_id": call_id}

    def queue_view(self) -> list[dict[str, Any]]:
        waiting = self.acd.waiting_calls()
        out = []
        for name, q in sorted(self.acd.queues.items(), key=lambda kv: -kv[1].weight):
            calls = [w for w in waiting if w["queue"] == name]
            out.append({"name": name, "label": q.label, "waiting": len(calls),
                        "ringing": sum(1 for w in calls if w["state"] == "offering"),
                        "longest": max((w["waited"] for w in calls), default=0.0),
                        "calls": [{k: w[k] for k in ("call_id", "priority", "waited", "state", "attempts")}
                                  for w in calls]})
        return out

    async def agent_snapshot(self, agent_pk: int, role: Role) -> dict[str, Any]:
        slot = self.acd.roster.get(agent_pk)
        if slot is None:
            async with self.db.session() as s:
                row = await s.get(Agent, agent_pk)
            state, reason, since = (row.state.value, row.state_reason, row.state_since.isoformat()) if row else \
                (AgentState.OFFLINE.value, "", "")
            call_id = None
        else:
            state, reason, since, call_id = slot.state.value, slot.reason, slot.state_since.isoformat(), slot.call_id
        snap: dict[str, Any] = {
            "agent": self.agent_view(agent_pk, state, reason, since, call_id),
            "reasons": list(NOT_READY_REASONS), "server_time": utcnow().isoformat(),
            "queues": [{"name": n, "label": q.label} for n, q in self.acd.queues.items()],
            "forbidden": self.forbidden_phrases, "closing": self.settings.hotline.closing,
            "call": None,
        }
        current = self.acd.agent_call(agent_pk)
        if current is not None:
            snap["call"] = {
                "call_id": current.call_id, "state": current.state.value, "held": current.held,
                "offer": offer_message(current.offer) if current.offer else None,
                "answered": answered_message(current.answered) if current.answered else None,
                "pop": await self.pop_for(current.call_id, role, cache=current.state.value != "done")}
        return snap

    async def wall_snapshot(self) -> dict[str, Any]:
        agents = [self.agent_view(a.pk, a.state.value, a.reason, a.state_since.isoformat(), a.call_id)
                  for a in sorted(self.acd.roster.slots(), key=lambda a: a.agent_id)
                  if self.role_of(a.pk) in (Role.AGENT, Role.SUPERVISOR)]
        stats = self._stats or await self.stats()
        orders = [alert_view(o) for o in await order_alerts(self.reads)] if self.orders is not None else []
        return {"agents": agents, "queues": self.queue_view(), "stats": stats, "server_time": utcnow().isoformat(),
                "orders": orders}
