"""Call rows and their ordered event timeline: the one place that writes calls and call_events.

Every component (ARI app, AGI server, flow engine, ACD, console) records what happened to a call here, so the
timeline a QA reviewer reads is complete and ordered by a per-call sequence number.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, Sequence

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ivr.db import Database
from ivr.db.models import Call, CallEvent, CallState, HangupSide, utcnow


class Timeline:
    def __init__(self, db: Database) -> None:
        self.db = db
        # Appends for one call are serialised in-process; across processes the call row lock (PostgreSQL)
        # or SQLite's single writer plus the unique (call_id, seq) retry keep the sequence gap-free.
        self._locks: dict[int, asyncio.Lock] = {}

    async def open_call(self, *, channel_id: str, protocol: str, caller_number: str = "", caller_name: str = "",
                        dialed: str = "", flow: str = "", at: dt.datetime | None = None) -> tuple[Call, bool]:
        """Create the call row, or return the existing one (resync after restart); second item: created."""
        async with self.db.begin() as s:
            existing = (await s.execute(select(Call).where(Call.channel_id == channel_id))).scalar_one_or_none()
            if existing is not None:
                return existing, False
        when = at or utcnow()
        try:
            async with self.db.begin() as s:
                call = Call(channel_id=channel_id, protocol=protocol, caller_number=caller_number,
                            caller_name=caller_name, dialed=dialed, flow=flow, started_at=when)
                s.add(call)
                await s.flush()
                s.add(CallEvent(call_id=call.id, seq=1, at=when, kind="arrived",
                                data={"protocol": protocol, "caller": caller_number, "dialed": dialed}))
            return call, True
        except IntegrityError:
            # Two adapters raced on the same channel: the other one won, use its row.
            async with self.db.session() as s:
                call = (await s.execute(select(Call).where(Call.channel_id == channel_id))).scalar_one()
            return call, False

    async def add_event(self, call_id: int, kind: str, data: dict[str, Any] | None = None,
                        at: dt.datetime | None = None) -> int:
        """Append one event; returns its sequence number. Retries when a concurrent writer took the seq."""
        lock = self._locks.setdefault(call_id, asyncio.Lock())
        async with lock:
            return await self._append(call_id, kind, data, at)

    async def _append(self, call_id: int, kind: str, data: dict[str, Any] | None, at: dt.datetime | None) -> int:
        for _ in range(10):
            try:
                async with self.db.begin() as s:
                    await s.execute(select(Call.id).where(Call.id == call_id).with_for_update())
                    last = (await s.execute(select(func.max(CallEvent.seq)).where(CallEvent.call_id == call_id))
                            ).scalar_one()
                    seq = (last or 0) + 1
                    s.add(CallEvent(call_id=call_id, seq=seq, at=at or utcnow(), kind=kind, data=data or {}))
                return seq
            except IntegrityError:
                continue
        raise RuntimeError(f"could not append event {kind!r} to call {call_id}")

    async def add_events(self, call_id: int,
                         events: Sequence[tuple[str, dict[str, Any] | None, dt.datetime | None]]) -> list[int]:
        """Append several events in one transaction (a burst from the ARI event stream); their seqs in order."""
        if not events:
            return []
        lock = self._locks.setdefault(call_id, asyncio.Lock())
        async with lock:
            for _ in range(10):
                try:
                    async with self.db.begin() as s:
                        await s.execute(select(Call.id).where(Call.id == call_id).with_for_update())
                        last = (await s.execute(select(func.max(CallEvent.seq))
                                                .where(CallEvent.call_id == call_id))).scalar_one() or 0
                        seqs = list(range(last + 1, last + 1 + len(events)))
                        for seq, (kind, data, at) in zip(seqs, events, strict=True):
                            s.add(CallEvent(call_id=call_id, seq=seq, at=at or utcnow(), kind=kind, data=data or {}))
                    return seqs
                except IntegrityError:
                    continue
        raise RuntimeError(f"could not append {len(events)} events to call {call_id}")

    async def update(self, call_id: int, **fields: Any) -> None:
        async with self.db.begin() as s:
            call = await s.get(Call, call_id)
            if call is None:
                raise LookupError(f"no call {call_id}")
            for k, v in fields.items():
                if not hasattr(Call, k):
                    raise AttributeError(f"Call has no field {k!r}")
                setattr(call, k, v)

    async def close_call(self, call_id: int, *, side: HangupSide, cause: str, outcome: str | None = None,
                         at: dt.datetime | None = None) -> bool:
        """Mark the call ended once; later hang-up reports for the same call are ignored (returns False)."""
        when = at or utcnow()
        async with self.db.begin() as s:
            call = await s.get(Call, call_id)
            if call is None or call.ended_at is not None:
                return False
            call.ended_at = when
            call.state = CallState.ENDED
            call.hangup_side = side
            call.hangup_cause = cause
            if outcome is not None:
                call.outcome = outcome
            elif not call.outcome:
                call.outcome = "answered" if call.answered_at else ("abandoned" if call.queued_at else "ivr")
        await self.add_event(call_id, "hangup", {"side": side.value, "cause": cause}, at=when)
        self._locks.pop(call_id, None)
        return True

    async def get(self, call_id: int) -> Call | None:
        async with self.db.session() as s:
            return await s.get(Call, call_id)

    async def by_channel(self, channel_id: str) -> Call | None:
        async with self.db.session() as s:
            return (await s.execute(select(Call).where(Call.channel_id == channel_id))).scalar_one_or_none()

    async def open_calls(self, protocol: str | None = None) -> list[Call]:
        """Calls not ended yet (resync after a restart looks for their channels)."""
        async with self.db.session() as s:
            q = select(Call).where(Call.ended_at.is_(None))
            if protocol is not None:
                q = q.where(Call.protocol == protocol)
            return list((await s.execute(q.order_by(Call.id))).scalars())

    async def events(self, call_id: int) -> list[CallEvent]:
        async with self.db.session() as s:
            rows = await s.execute(select(CallEvent).where(CallEvent.call_id == call_id).order_by(CallEvent.seq))
            return list(rows.scalars())
