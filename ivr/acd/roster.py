"""The live agent roster: in-memory state the dispatcher decides on, written through to agents and
agent_state_changes after every change.

Decisions are made on memory synchronously (so two calls can never reserve the same agent); the rows follow
in the same order because each agent's writes are serialised by its own lock.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Callable, Coroutine

from sqlalchemy import select

from ivr.acd.clock import Clock
from ivr.acd.exceptions import AgentInactive, AgentStateError
from ivr.acd.model import AgentSlot
from ivr.acd.ports import AcdEvent, AgentStateChanged
from ivr.db import Database
from ivr.db.models import Agent, AgentState, AgentStateChange

log = logging.getLogger(__name__)

RESTART_REASON = "系统重启"
LOGIN_REASON = "登录"

# States an agent can choose from the console; the others are driven by calls.
SELF_SERVICE = frozenset({AgentState.READY, AgentState.NOT_READY, AgentState.OFFLINE})
BUSY = frozenset({AgentState.RINGING, AgentState.TALKING})



def _slot(row: Agent) -> AgentSlot:
    return AgentSlot(pk=row.id, agent_id=row.agent_id, name=row.name, endpoint=row.sip_endpoint,
                     skills=frozenset(str(s) for s in (row.skills or [])), state=row.state,
                     reason=row.state_reason, state_since=row.state_since, idle_since=row.idle_since,
                     wrap_up_seconds=float(row.wrap_up_seconds))


class AgentRoster:
    def __init__(self, db: Database, clock: Clock, emit: Callable[[AcdEvent], None]) -> None:
        self.db = db
        self.clock = clock
        self._emit = emit
        self._slots: dict[int, AgentSlot] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._version: dict[int, int] = {}
        self._written: dict[int, int] = {}

    async def load(self) -> None:
        """Read every active agent. A call that was ringing or talking when we stopped is gone now."""
        async with self.db.begin() as s:
            rows = (await s.execute(select(Agent).where(Agent.active.is_(True)))).scalars().all()
            now = self.clock.now()
            for row in rows:
                if row.state in BUSY or row.state is AgentState.WRAP_UP:
                    row.state, row.state_reason, row.state_since = AgentState.NOT_READY, RESTART_REASON, now
                    s.add(AgentStateChange(agent_pk=row.id, state=row.state, reason=row.state_reason, at=now))
                self._slots[row.id] = _slot(row)

    async def ensure(self, pk: int) -> AgentSlot:
        """The slot for an agent created or edited after start (demo data, admin changes)."""
        async with self.db.session() as s:
            row = await s.get(Agent, pk)
        if row is None or not row.active:
            raise AgentInactive(f"agent {pk} does not exist or is disabled", agent_pk=pk)
        fresh = _slot(row)
        current = self._slots.get(pk)
        if current is None:
            self._slots[pk] = fresh
            return fresh
        # Keep live state; take the administrative fields from the row.
        current.agent_id, current.name, current.endpoint = fresh.agent_id, fresh.name, fresh.endpoint
        current.skills, current.wrap_up_seconds = fresh.skills, fresh.wrap_up_seconds
        return current

    def get(self, pk: int) -> AgentSlot | None:
        return self._slots.get(pk)

    def slots(self) -> list[AgentSlot]:
        return list(self._slots.values())

    def reserve(self, pk: int, call_id: int) -> AgentSlot:
        """Synchronously take a READY agent for an offer; the row is written by the offer's set_state."""
        slot = self._slots[pk]
        if slot.state is not AgentState.READY:
            raise AgentStateError(f"agent {slot.agent_id} is {slot.state}, not ready")
        slot.state, slot.call_id = AgentState.RINGING, call_id
        return slot

    async def set_state(self, pk: int, state: AgentState, reason: str = "", *, idle: str = "auto",
                        call_id: int | None = None) -> AgentSlot:
        if pk not in self._slots:
            await self.ensure(pk)
        await self.change(pk, state, reason, idle=idle, call_id=call_id)
        return self._slots[pk]

    def change(self, pk: int, state: AgentState, reason: str = "", *, idle: str = "auto",
               call_id: int | None = None) -> Coroutine[Any, Any, None]:
        """Change state in memory and publish it now; returns the write of the row, to be awaited.

        Synchronous on purpose: the dispatcher that runs right after must see the new state.
        idle: "auto" starts a new idle period when the agent becomes READY from another state; "keep" leaves
        idle_since alone (an offer that failed through no fault of the agent keeps their place in line).
        """
        slot = self._slots[pk]
        now = self.clock.now()
        previous = slot.state
        slot.state, slot.reason, slot.state_since = state, reason, now
        slot.call_id = call_id if state in BUSY or state is AgentState.WRAP_UP else None
        if state is AgentState.READY and idle == "auto" and previous is not AgentState.READY:
            slot.idle_since = now
        elif state is AgentState.OFFLINE:
            slot.idle_since = None
        self._emit(AgentStateChanged(agent_pk=pk, agent_id=slot.agent_id, state=state, reason=reason, since=now,
                                     call_id=slot.call_id))
        self._version[pk] = version = self._version.get(pk, 0) + 1
        return self._persist(slot.pk, version, slot.agent_id, state, reason, slot.idle_since, now)

    async def _persist(self, pk: int, version: int, agent_id: str, state: AgentState, reason: str,
                       idle_since: dt.datetime | None, at: dt.datetime) -> None:
        lock = self._locks.setdefault(pk, asyncio.Lock())
        async with lock:
            try:
                async with self.db.begin() as s:
                    # Writes may be awaited out of order by different tasks: the row keeps the newest change,
                    # the history gets every change with its own time.
                    if version > self._written.get(pk, 0):
                        row = await s.get(Agent, pk)
                        if row is None:
                            return
                        row.state, row.state_reason, row.state_since = state, reason, at
                        row.idle_since = idle_since
                        self._written[pk] = version
                    s.add(AgentStateChange(agent_pk=pk, state=state, reason=reason, at=at))
            except Exception:
                # Memory stays authoritative for routing; a lost history row must not stop a call.
                log.exception("could not record state %s for agent %s", state, agent_id)
