"""Reads of work orders for the pages (the console renders them): lists with filters, a unit's queue, an
agent's own orders, the alerts of the wallboard, one order with its history. Rows are plain dicts ready
for JSON and templates; times are aware UTC datetimes (the pages show them in the hotline's zone)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, func, or_, select

from ivr.db import Database
from ivr.db.models import Agent, Unit, WorkOrder, WorkOrderStatus, WorkOrderTransition, WorkOrderType
from ivr.workorders.calendar import WorkingCalendar
from ivr.workorders.clocks import ClockState

ALERT_STATES = (ClockState.NEAR.value, ClockState.OVERDUE.value)
MAX_LIMIT = 500


@dataclass(frozen=True)
class OrderFilter:
    statuses: tuple[WorkOrderStatus, ...] = ()
    unit: str = ""
    type: WorkOrderType | None = None
    clock: str = ""  # ok / near / overdue / paused / done
    owner_pk: int | None = None
    text: str = ""  # part of the number, the phone or the address
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    open_only: bool = False
    estimated_only: bool = False
    extension_requested: bool = False
    escalated: bool = False
    limit: int = 100
    offset: int = 0
    order_by: tuple[str, ...] = field(default=("due",))


async def unit_names(db: Database) -> dict[str, str]:
    async with db.session() as s:
        return {code: name for code, name in (await s.execute(select(Unit.code, Unit.name))).all()}


def row(o: WorkOrder, units: dict[str, str]) -> dict[str, Any]:
    return {
        "id": o.id, "number": o.number, "type": o.type.value, "status": o.status.value,
        "complaint_level": o.complaint_level, "unit_code": o.unit_code or "",
        "unit_name": units.get(o.unit_code or "", o.unit_code or ""), "source": o.source,
        "created_at": o.created_at, "contact_phone": o.contact_phone, "address": o.address,
        "description": o.description, "result": o.result, "owner_pk": o.owner_pk,
        "clock_state": o.clock_state, "clock_stage": o.clock_stage, "due_at": o.clock_due_at,
        "warn_at": o.clock_warn_at, "finish_due_at": o.finish_due_at, "urged": o.urged_at is not None,
        "escalated": o.escalated_at is not None, "extension_state": o.extension_state,
        "extension_until": o.extension_until, "extension_reason": o.extension_reason, "duplicates": o.duplicates,
        "estimated": o.deadlines_estimated, "returns": o.returns, "external_ref": o.external_ref or "",
        "topic": o.topic,
    }


def _filtered(f: OrderFilter) -> Select[Any]:
    q = select(WorkOrder)
    if f.statuses:
        q = q.where(WorkOrder.status.in_(f.statuses))
    if f.open_only:
        q = q.where(WorkOrder.status != WorkOrderStatus.CLOSED)
    if f.unit:
        q = q.where(WorkOrder.unit_code == f.unit)
    if f.type is not None:
        q = q.where(WorkOrder.type == f.type)
    if f.clock:
        q = q.where(WorkOrder.clock_state == f.clock)
    if f.owner_pk is not None:
        q = q.where(WorkOrder.owner_pk == f.owner_pk)
    if f.text:
        like = f"%{f.text.replace('%', '').replace('_', '')}%"
        q = q.where(or_(WorkOrder.number.like(like), WorkOrder.contact_phone.like(like),
                        WorkOrder.address.like(like)))
    if f.since is not None:
        q = q.where(WorkOrder.created_at >= f.since)
    if f.until is not None:
        q = q.where(WorkOrder.created_at < f.until)
    if f.estimated_only:
        q = q.where(WorkOrder.deadlines_estimated.is_(True))
    if f.extension_requested:
        q = q.where(WorkOrder.extension_state == "requested")
    if f.escalated:
        q = q.where(WorkOrder.escalated_at.is_not(None), WorkOrder.status != WorkOrderStatus.CLOSED)
    return q


async def list_orders(db: Database, f: OrderFilter) -> tuple[list[dict[str, Any]], int]:
    units = await unit_names(db)
    q = _filtered(f)
    if "due" in f.order_by:
        q = q.order_by(WorkOrder.clock_due_at.is_(None), WorkOrder.clock_due_at, WorkOrder.id)
    else:
        q = q.order_by(WorkOrder.created_at.desc(), WorkOrder.id.desc())
    async with db.session() as s:
        total = (await s.execute(select(func.count()).select_from(q.order_by(None).subquery()))).scalar_one()
        rows = (await s.execute(q.limit(min(f.limit, MAX_LIMIT)).offset(f.offset))).scalars().all()
    return [row(o, units) for o in rows], int(total)


async def unit_queue(db: Database, unit_code: str) -> list[dict[str, Any]]:
    """The unit's open orders, most urgent deadline first (paused ones after the running ones)."""
    rows, _ = await list_orders(db, OrderFilter(unit=unit_code, open_only=True, limit=MAX_LIMIT,
                                                statuses=(WorkOrderStatus.DISPATCHED, WorkOrderStatus.ACCEPTED,
                                                          WorkOrderStatus.IN_PROGRESS,
                                                          WorkOrderStatus.WAITING_CALLER)))
    return rows


async def my_orders(db: Database, owner_pk: int) -> list[dict[str, Any]]:
    rows, _ = await list_orders(db, OrderFilter(owner_pk=owner_pk, open_only=True, limit=MAX_LIMIT))
    return rows


async def alerts(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """Nearly due and overdue open orders, the nearest deadline first (the wallboard and the lists)."""
    units = await unit_names(db)
    async with db.session() as s:
        rows = (await s.execute(select(WorkOrder).where(WorkOrder.clock_state.in_(ALERT_STATES))
                                .order_by(WorkOrder.clock_due_at).limit(limit))).scalars().all()
    return [row(o, units) for o in rows]


async def detail(db: Database, order_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    units = await unit_names(db)
    async with db.session() as s:
        o = await s.get(WorkOrder, order_id)
        if o is None:
            return None
        steps = (await s.execute(select(WorkOrderTransition).where(WorkOrderTransition.order_id == order_id)
                                 .order_by(WorkOrderTransition.at, WorkOrderTransition.id))).scalars().all()
        owner = await s.get(Agent, o.owner_pk) if o.owner_pk is not None else None
    data = row(o, units)
    data["owner"] = f"{owner.agent_id} {owner.name}" if owner is not None else ""
    data.update({"dispatch_due_at": o.dispatch_due_at, "contact_due_at": o.contact_due_at,
                 "reply_due_at": o.reply_due_at, "callback_due_at": o.callback_due_at,
                 "callback_required": o.callback_required, "dispatched_at": o.dispatched_at,
                 "contacted_at": o.contacted_at, "replied_at": o.replied_at, "closed_at": o.closed_at,
                 "paused_seconds": o.finish_paused_seconds, "call_id": o.call_id})
    history = [{"at": t.at, "event": t.event, "from": t.from_status, "to": t.to_status, "actor": t.actor,
                "unit_code": t.unit_code or "", "reason": t.reason, "data": t.data} for t in steps]
    return data, history


async def estimated_years(db: Database, calendar: WorkingCalendar, today: dt.date) -> list[int]:
    """Years the supervisor is warned about: this year or (from November, when the State Council publishes)
    next year when the calendar does not know them, and the years of open orders' estimated deadlines."""
    years = {today.year} | ({today.year + 1} if today.month >= 11 else set())
    unknown = {y for y in years if not calendar.knows(y)}
    async with db.session() as s:
        n = (await s.execute(select(func.count(WorkOrder.id)).where(
            WorkOrder.deadlines_estimated.is_(True), WorkOrder.status != WorkOrderStatus.CLOSED))).scalar_one()
    if n:
        unknown |= {y for y in (today.year, today.year + 1) if not calendar.knows(y)}
    return sorted(unknown)
