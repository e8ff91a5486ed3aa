"""Work-order timeliness: on-time rates per stage (dispatch, contact, completion), returns and extensions, per
responsible unit, type or month, over the orders taken in a period.

A stage counts once it is decided: done (on time when done by its deadline), or not done and past its
deadline (late). Stages still running within their deadline are not counted yet. Completion is measured
against the deadline in force (moved by pauses for the caller and by granted extensions).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ivr.db import Database
from ivr.db.models import WorkOrder, WorkOrderStatus

GROUPS = ("unit", "type", "month")


@dataclass
class Rate:
    on_time: int = 0
    late: int = 0

    def add(self, due: dt.datetime | None, done: dt.datetime | None, now: dt.datetime) -> None:
        if due is None:
            return
        if done is not None:
            if done <= due:
                self.on_time += 1
            else:
                self.late += 1
        elif now > due:
            self.late += 1

    @property
    def decided(self) -> int:
        return self.on_time + self.late

    @property
    def pct(self) -> float | None:
        return round(100.0 * self.on_time / self.decided, 1) if self.decided else None


@dataclass
class ReportRow:
    key: str
    orders: int = 0
    dispatch: Rate = field(default_factory=Rate)
    contact: Rate = field(default_factory=Rate)
    finish: Rate = field(default_factory=Rate)
    returns: int = 0
    extensions: int = 0
    open_overdue: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "orders": self.orders, "dispatch_pct": self.dispatch.pct,
                "dispatch_decided": self.dispatch.decided, "contact_pct": self.contact.pct,
                "contact_decided": self.contact.decided, "finish_pct": self.finish.pct,
                "finish_decided": self.finish.decided, "returns": self.returns, "extensions": self.extensions,
                "open_overdue": self.open_overdue}


async def timeliness(db: Database, *, since: dt.datetime, until: dt.datetime, group: str, zone: dt.tzinfo,
                     now: dt.datetime) -> list[ReportRow]:
    """One row per group value (sorted), then a row "" with the totals."""
    if group not in GROUPS:
        raise ValueError(f"group by one of {', '.join(GROUPS)}")
    c = WorkOrder
    async with db.session() as s:
        rows = (await s.execute(select(
            c.unit_code, c.type, c.created_at, c.status, c.clock_state, c.dispatch_due_at, c.dispatched_at,
            c.contact_due_at, c.contacted_at, c.finish_due_at, c.replied_at, c.returns, c.extensions)
            .where(c.created_at >= since, c.created_at < until))).all()
    groups: dict[str, ReportRow] = {}
    total = ReportRow("")
    for r in rows:
        key = (r.unit_code or "" if group == "unit" else r.type.value if group == "type"
               else r.created_at.astimezone(zone).strftime("%Y-%m"))
        for target in (groups.setdefault(key, ReportRow(key)), total):
            target.orders += 1
            target.dispatch.add(r.dispatch_due_at, r.dispatched_at, now)
            target.contact.add(r.contact_due_at, r.contacted_at, now)
            target.finish.add(r.finish_due_at, r.replied_at, now)
            target.returns += r.returns or 0
            target.extensions += r.extensions or 0
            if r.status is not WorkOrderStatus.CLOSED and r.clock_state == "overdue":
                target.open_overdue += 1
    return [groups[k] for k in sorted(groups)] + [total]
