"""How WorkOrderService writes new orders, inside its transaction (only the service calls these).

One caller's matter can become: a new order; nothing new but a count on the parent order of an active
outage the call is about (主工单, `duplicates`); or, for a 12345 reference seen before, the order it already
is. A gas alarm is dispatched at once (the agent phoned the crew; the order is back-filled). The first
agent who answered the call owns the order (首问负责), whoever wraps it up after a transfer. A complaint's
level follows matters.py, and raising it raises every open complaint of the same matter.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.db.models import (
    Customer,
    Offer,
    OfferResult,
    Outage,
    WorkOrder,
    WorkOrderStatus,
    WorkOrderTransition,
    WorkOrderType,
)
from ivr.workorders.exceptions import EmptyDescription, UnknownOutage
from ivr.workorders.matters import MATTER_WINDOW, caller_key, level_for, matter_key, place_key
from ivr.workorders.model import NewWorkOrder, OrderEvent
from ivr.workorders.rules import COMPLAINT_FINISH, ClockKind, advance, complaint_level_of, deadlines, order_number
from ivr.workorders.states import Event

if TYPE_CHECKING:
    from ivr.workorders.service import WorkOrderService

BACKFILL_REASON = "报警电话已即时通知责任单位，补派工单"  # 004 §14(三): call the unit, then back-fill


@dataclass
class Outcome:
    orders: list[WorkOrder]
    events: list[OrderEvent]


def outage_active(o: Outage, at: dt.datetime) -> bool:
    return not o.cancelled and (o.ends_at is None or o.ends_at > at)


async def first_answerer(s: AsyncSession, call_id: int | None) -> int | None:
    """首问负责: the agent who first answered the call, across transfers."""
    if call_id is None:
        return None
    return (await s.execute(select(Offer.agent_pk).where(
        Offer.call_id == call_id, Offer.result == OfferResult.ANSWERED, Offer.answered_at.is_not(None))
        .order_by(Offer.answered_at, Offer.id).limit(1))).scalar_one_or_none()


def transition_row(o: WorkOrder, at: dt.datetime, event: Event, *, before: str, actor_pk: int | None, actor: str,
                   reason: str = "", **data: Any) -> WorkOrderTransition:
    return WorkOrderTransition(order_id=o.id, at=at, event=event.value, from_status=before,
                               to_status=o.status.value, actor_pk=actor_pk, actor=actor[:64],
                               unit_code=o.unit_code, reason=reason, data=data)


async def insert(svc: "WorkOrderService", s: AsyncSession, news: list[NewWorkOrder], at: dt.datetime,
                 attempt: int) -> Outcome:
    from ivr.workorders.service import event_of

    out = Outcome([], [])
    local_midnight = at.astimezone(svc.zone).replace(hour=0, minute=0, second=0, microsecond=0)
    today = (await s.execute(select(func.count(WorkOrder.id)).where(
        WorkOrder.created_at >= local_midnight.astimezone(dt.timezone.utc)))).scalar_one()
    numbered = 0
    for new in news:
        if not new.description.strip():
            raise EmptyDescription("a work order needs a description", field="description")
        if new.external_ref:
            seen = (await s.execute(select(WorkOrder).where(WorkOrder.external_ref == new.external_ref))
                    ).scalar_one_or_none()
            if seen is not None:
                out.orders.append(seen)  # the platform sent it again: it is this order
                continue
        owner = await first_answerer(s, new.call_id) or new.owner_pk
        if new.outage_id is not None:
            parent = await _outage_parent(s, new.outage_id, at)
            if parent is not None:
                parent.duplicates = (parent.duplicates or 0) + 1
                s.add(transition_row(parent, at, Event.ATTACH, before=parent.status.value, actor_pk=owner,
                                     actor=new.source.value, call_id=new.call_id, contact_phone=new.contact_phone,
                                     description=new.description.strip()[:200], count=parent.duplicates))
                out.orders.append(parent)
                out.events.append(event_of(parent, "transition", Event.ATTACH.value, count=parent.duplicates))
                continue
        numbered += 1
        order = await _new_order(svc, s, new, at, owner, order_number(at, today + numbered + attempt, svc.zone))
        out.orders.append(order)
        out.events.append(event_of(order, "created", Event.CREATE.value))
        if order.type is WorkOrderType.COMPLAINT and order.matter_key and order.complaint_level is not None:
            out.events += await _raise_matter(svc, s, order, at)
    return out


async def _outage_parent(s: AsyncSession, outage_id: int, at: dt.datetime) -> WorkOrder | None:
    outage = await s.get(Outage, outage_id)
    if outage is None:
        raise UnknownOutage(f"no outage {outage_id}", outage_id=outage_id)
    if not outage_active(outage, at):
        return None  # over or cancelled: a call about it is a matter of its own
    return (await s.execute(select(WorkOrder).where(
        WorkOrder.outage_id == outage_id, WorkOrder.parent_id.is_(None), WorkOrder.status != WorkOrderStatus.CLOSED)
        .order_by(WorkOrder.id).limit(1))).scalar_one_or_none()


async def _new_order(svc: "WorkOrderService", s: AsyncSession, new: NewWorkOrder, at: dt.datetime,
                     owner: int | None, number: str) -> WorkOrder:
    level = complaint_level_of(new.type, new.complaint_level)
    unit = (await svc._unit(s, new.unit)).code if new.unit else await svc._default_unit(s, new.type)
    keys: dict[str, Any] = {}
    reasons: tuple[str, ...] = ()
    if new.type is WorkOrderType.COMPLAINT and level is not None:
        customer = await s.get(Customer, new.customer_id) if new.customer_id is not None else None
        caller = caller_key(new.customer_id, new.contact_phone)
        matter = matter_key(new.topic, place_key(area_code=customer.area_code if customer else None,
                                                 address=new.address or (customer.address if customer else ""),
                                                 customer_id=new.customer_id, phone=new.contact_phone))
        earlier = list((await s.execute(select(WorkOrder.caller_key).where(
            WorkOrder.matter_key == matter, WorkOrder.created_at >= at - MATTER_WINDOW,
            WorkOrder.type == WorkOrderType.COMPLAINT))).scalars().all()) if matter else []
        decided = level_for(level, flags=new.complaint_flags, group_size=new.group_size, earlier_callers=earlier,
                            caller=caller)
        level, reasons = decided.level, decided.reasons
        keys = {"topic": new.topic.strip()[:64], "matter_key": matter, "caller_key": caller,
                "complaint_flags": [*new.complaint_flags, *(["group"] if new.group_size >= 5 else [])]}
    due = deadlines(new.type, at, svc.zone, complaint_level=level, calendar=svc.calendar)
    finish = due.finish_due_at
    if new.due_at is not None:
        finish = min(finish, new.due_at) if finish is not None else new.due_at
    created: dict[str, object] = {"at": at.isoformat(), "action": "created", "by": owner, "source": new.source.value}
    if new.recording:
        created["recording"] = new.recording
    order = WorkOrder(
        number=number, type=new.type, status=WorkOrderStatus.NEW, complaint_level=level, source=new.source.value,
        external_ref=new.external_ref, call_id=new.call_id, customer_id=new.customer_id, owner_pk=owner,
        unit_code=unit, contact_phone=new.contact_phone, address=new.address, description=new.description.strip(),
        created_at=at, dispatch_due_at=due.dispatch_due_at, contact_due_at=due.contact_due_at, finish_due_at=finish,
        reply_due_at=due.reply_due_at, callback_required=due.callback_required, callback_due_at=due.callback_due_at,
        deadlines_estimated=due.estimated, outage_id=new.outage_id, history=[created], **keys)
    backfill = new.type is WorkOrderType.EMERGENCY and unit is not None
    if backfill:
        order.status, order.dispatched_at = WorkOrderStatus.DISPATCHED, at
    svc.refresh_clock(order, at)
    s.add(order)
    await s.flush()
    facts: dict[str, Any] = {"source": new.source.value}
    if reasons:
        facts["level_reasons"] = list(reasons)
    s.add(transition_row(order, at, Event.CREATE, before="", actor_pk=owner, actor=new.source.value, **facts))
    if backfill:
        s.add(transition_row(order, at, Event.DISPATCH, before=WorkOrderStatus.NEW.value, actor_pk=owner,
                             actor=new.source.value, reason=BACKFILL_REASON, unit=unit, backfilled=True))
    return order


async def _raise_matter(svc: "WorkOrderService", s: AsyncSession, order: WorkOrder, at: dt.datetime
                        ) -> list[OrderEvent]:
    """Open complaints of the same matter at a lower level (a higher number) rise to the new one."""
    from ivr.workorders.service import event_of

    level = order.complaint_level
    assert level is not None
    rows = (await s.execute(select(WorkOrder).where(
        WorkOrder.matter_key == order.matter_key, WorkOrder.id != order.id,
        WorkOrder.type == WorkOrderType.COMPLAINT, WorkOrder.status != WorkOrderStatus.CLOSED,
        or_(WorkOrder.complaint_level.is_(None), WorkOrder.complaint_level > level)))).scalars().all()
    events = []
    for other in rows:
        before = other.complaint_level
        other.complaint_level = level
        recomputed = advance(ClockKind.ELAPSED, other.created_at + COMPLAINT_FINISH[level],
                             other.finish_paused_seconds or 0.0, svc.zone, svc.calendar)
        # a granted extension stays if it is later than what the new level gives
        other.finish_due_at = max(recomputed, other.finish_due_at) if other.extensions and other.finish_due_at \
            else recomputed
        svc.refresh_clock(other, at)
        s.add(transition_row(other, at, Event.RAISE_LEVEL, before=other.status.value, actor_pk=None,
                             actor="system", reason=f"同一事项第{order.number}号投诉使等级升为{level}级",
                             from_level=before, level=level, by_order=order.number))
        events.append(event_of(other, "transition", Event.RAISE_LEVEL.value, level=level))
    return events
