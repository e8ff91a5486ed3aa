"""The periodic clock sweep: open orders become nearly due, overdue, urged (催办) and escalated.

Every order carries its running clock (stage, due_at, warn_at, urge_at, escalate_at; see clocks.py), written
by the service at each change. The sweep therefore needs no Python over the open orders: each step is one
UPDATE ... WHERE clock_state = ? AND <time column> <= now over an index (clock_state, time column), taking
at most `batch` rows at a time and RETURNING what it changed, which the service then announces (the
wallboard, the unit's queue, the owner's list). The version column is bumped, so a person's change that
read the order before the sweep wrote it is refused as 'changed meanwhile' instead of undoing the sweep.

Also, a few cheap chores per pass: orders from before migration 0006 get their clock computed (in
batches), and when the calendar directory changed the calendar is reloaded and the estimated deadlines of
open orders are counted again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import Table, and_, insert, select, update

from ivr.db.models import WorkOrder, WorkOrderStatus, WorkOrderTransition, utcnow
from ivr.workorders.calendar import WorkingCalendar, directory_stamp
from ivr.workorders.clocks import ClockState
from ivr.workorders.model import OrderEvent
from ivr.workorders.rules import RULES, ClockKind, advance, deadlines
from ivr.workorders.service import WorkOrderService, event_of
from ivr.workorders.states import Event

log = logging.getLogger(__name__)
T: Table = WorkOrder.__table__  # type: ignore[assignment]  # Core statements: no ORM versioning
RETURNED = (T.c.id, T.c.number, T.c.status, T.c.clock_state, T.c.clock_stage, T.c.clock_due_at, T.c.unit_code,
            T.c.owner_pk)


@dataclass
class SweepReport:
    near: list[str] = field(default_factory=list)  # order numbers
    overdue: list[str] = field(default_factory=list)
    urged: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    clocks_set: int = 0  # orders from before the clocks were stored
    recomputed: int = 0  # estimated deadlines counted again on a new calendar
    calendar_reloaded: bool = False

    @property
    def changed(self) -> int:
        return len(self.near) + len(self.overdue) + len(self.urged) + len(self.escalated)


class ClockSweep:
    def __init__(self, orders: WorkOrderService, *, calendar_dir: Path | None = None, batch: int = 1000) -> None:
        self.orders = orders
        self.db = orders.db
        self.calendar_dir = calendar_dir
        self.batch = batch
        self._stamp: tuple[tuple[str, float], ...] | None = None

    async def sweep(self, now: dt.datetime | None = None) -> SweepReport:
        now = now or utcnow()
        report = SweepReport()
        if self.calendar_dir is not None:
            report.calendar_reloaded = await self._reload_calendar()
            if report.calendar_reloaded:
                report.recomputed = await self._recompute_estimated(now)
        report.clocks_set = await self._set_missing_clocks(now)
        events: list[OrderEvent] = []
        # ok/near -> overdue by due_at first (an order past both goes straight to overdue), then ok -> near by
        # warn_at: each an index range, never an OR over the table
        for state, column, target, into in (
                (ClockState.OK, T.c.clock_due_at, ClockState.OVERDUE, report.overdue),
                (ClockState.NEAR, T.c.clock_due_at, ClockState.OVERDUE, report.overdue),
                (ClockState.OK, T.c.clock_warn_at, ClockState.NEAR, report.near)):
            for row in await self._flip(state, column, now, {"clock_state": target.value}):
                into.append(row.number)
                events.append(self._event(row, "clock", target.value))
        for row in await self._flip(ClockState.OVERDUE, T.c.urge_at, now, {"urged_at": now}, T.c.urged_at.is_(None)):
            report.urged.append(row.number)
            events.append(self._event(row, "transition", Event.URGE.value))
        await self._log(report.urged, Event.URGE, now, "超时未办结，次日催办")
        for row in await self._flip(ClockState.OVERDUE, T.c.escalate_at, now, {"escalated_at": now},
                                    T.c.urged_at.is_not(None), T.c.escalated_at.is_(None)):
            report.escalated.append(row.number)
            events.append(self._event(row, "transition", Event.ESCALATE.value))
        await self._log(report.escalated, Event.ESCALATE, now, "催办后仍未答复，升级至班长")
        self.orders.announce(events)
        if report.changed:
            log.info("work-order sweep: %d nearly due, %d overdue, %d urged, %d escalated", len(report.near),
                     len(report.overdue), len(report.urged), len(report.escalated))
        return report

    async def _flip(self, state: ClockState, column: Any, now: dt.datetime, values: dict[str, Any],
                    *extra: Any) -> list[Any]:
        """UPDATE the rows in `state` whose `column` is due, a batch at a time, RETURNING them."""
        changed: list[Any] = []
        while True:
            due = select(T.c.id).where(T.c.clock_state == state.value, column <= now, *extra).limit(self.batch)
            async with self.db.begin() as s:
                rows = (await s.execute(update(T).where(T.c.id.in_(due.scalar_subquery())).values(
                    version=T.c.version + 1, **values).returning(*RETURNED))).all()
            changed += rows
            if len(rows) < self.batch:
                return changed

    @staticmethod
    def _event(row: Any, kind: str, what: str) -> OrderEvent:
        return OrderEvent(kind=kind, order_id=row.id, number=row.number, status=str(row.status),
                          clock_state=row.clock_state, clock_stage=row.clock_stage, due_at=row.clock_due_at,
                          unit_code=row.unit_code, owner_pk=row.owner_pk, event=what)

    async def _log(self, numbers: list[str], event: Event, now: dt.datetime, reason: str) -> None:
        if not numbers:
            return
        async with self.db.begin() as s:
            rows = (await s.execute(select(T.c.id, T.c.status, T.c.unit_code, T.c.clock_stage, T.c.clock_due_at)
                                    .where(T.c.number.in_(numbers)))).all()
            await s.execute(insert(WorkOrderTransition), [
                {"order_id": r.id, "at": now, "event": event.value, "from_status": str(r.status),
                 "to_status": str(r.status), "actor_pk": None, "actor": "system", "unit_code": r.unit_code,
                 "reason": reason, "data": {"stage": r.clock_stage,
                                            "due_at": r.clock_due_at.isoformat() if r.clock_due_at else None}}
                for r in rows])

    async def _set_missing_clocks(self, now: dt.datetime) -> int:
        async with self.db.begin() as s:
            rows = (await s.execute(select(WorkOrder).where(WorkOrder.clock_state == "unset").limit(self.batch)
                                    )).scalars().all()
            for o in rows:
                self.orders.refresh_clock(o, now)
        return len(rows)

    async def _reload_calendar(self) -> bool:
        stamp = await asyncio.to_thread(directory_stamp, self.calendar_dir)
        if stamp == self._stamp:
            return False
        first = self._stamp is None
        self._stamp = stamp
        calendar = await asyncio.to_thread(WorkingCalendar.from_directory, self.calendar_dir)
        for problem in calendar.problems:
            log.error("work-order calendar: %s (left out)", problem)
        self.orders.calendar = calendar
        if not first:
            log.info("work-order calendar reloaded: knows %s", ", ".join(str(y) for y in calendar.known_years()[-3:]))
        return True

    async def _recompute_estimated(self, now: dt.datetime) -> int:
        """Open orders whose deadlines were estimated, counted again on the calendar just loaded."""
        svc, n = self.orders, 0
        async with self.db.begin() as s:
            rows = (await s.execute(select(WorkOrder).where(and_(
                WorkOrder.deadlines_estimated.is_(True), WorkOrder.status != WorkOrderStatus.CLOSED)))).scalars().all()
            for o in rows:
                d = deadlines(o.type, o.created_at, svc.zone, complaint_level=o.complaint_level, calendar=svc.calendar)
                if d.estimated:
                    continue  # that year is still unknown
                before = {"contact": o.contact_due_at, "finish": o.finish_due_at}
                if o.contacted_at is None:
                    o.contact_due_at = d.contact_due_at
                if o.replied_at is None and not o.extensions and d.finish_due_at is not None:
                    o.finish_due_at = advance(ClockKind.WORKING, d.finish_due_at, o.finish_paused_seconds or 0.0,
                                              svc.zone, svc.calendar) if o.finish_paused_seconds else d.finish_due_at
                if o.replied_at is None and RULES[o.type].reply:
                    o.reply_due_at, o.callback_due_at = d.reply_due_at, d.callback_due_at
                o.deadlines_estimated = False
                svc.refresh_clock(o, now)
                s.add(WorkOrderTransition(
                    order_id=o.id, at=now, event=Event.RECOMPUTE.value, from_status=o.status.value,
                    to_status=o.status.value, actor="system", unit_code=o.unit_code,
                    reason="节假日安排已加载，重新计算期限",
                    data={k: v.isoformat() if v else None for k, v in before.items()}))
                n += 1
        if n:
            svc.announce([event_of(o, "clock", Event.RECOMPUTE.value) for o in rows if not o.deadlines_estimated])
        return n


# Built by ivr/app.py (workorders_ctx); tests and the benchmark run passes with their own clock.
SWEEP: web.AppKey[ClockSweep] = web.AppKey("workorder_sweep", ClockSweep)
