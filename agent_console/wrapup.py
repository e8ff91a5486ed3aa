"""The wrap-up form: category and notes on the call, optionally a work order (with the deadlines of the rules),
then the agent is ready for the next call."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from agent_console.auth import Principal
from agent_console.exceptions import (
    AlreadyWrappedUp,
    CategoryRequired,
    NotYourCall,
    SystemOrderType,
    TextTooLong,
    UnknownOrderType,
)
from agent_console.i18n import CATEGORIES
from ivr.acd.exceptions import AgentStateError
from ivr.acd.service import Acd
from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import (
    AgentState,
    Call,
    CallEvent,
    Customer,
    Offer,
    OfferResult,
    WorkOrderType,
    utcnow,
)
from ivr.workorders import Demand, NewWorkOrder, OrderSource, WorkOrderService
from ivr.workorders.exceptions import EmptyDescription, InvalidComplaintLevel, UnknownOutage

MAX_TEXT = 2000


_LABELS = {"notes": ("通话小结", "Call notes"), "description": ("工单内容", "The order text")}


def _bounded(field: str, text: str) -> str:
    if len(text) > MAX_TEXT:
        zh, en = _LABELS[field]
        raise TextTooLong(f"{field} is longer than {MAX_TEXT} characters", field=field, field_label=zh,
                          field_label_en=en, max=MAX_TEXT)
    return text


def _order_type(value: Any) -> WorkOrderType:
    try:
        kind = WorkOrderType(str(value))
    except ValueError:
        raise UnknownOrderType(f"unknown work-order type {str(value)[:40]!r}", value=str(value)[:40]) from None
    if kind is WorkOrderType.CALLBACK_REQUEST:
        raise SystemOrderType("callback orders are created by the system")
    return kind


def _level(value: Any) -> int:
    try:
        level = int(str(value)) if str(value).isascii() else -1
    except ValueError:
        level = -1
    if level not in (1, 2, 3):
        raise InvalidComplaintLevel("complaint level must be 1, 2 or 3", level=str(value)[:10])
    return level


def _outage_id(value: Any) -> int | None:
    if value in (None, "", False):
        return None
    text = str(value)
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise UnknownOutage(f"no outage {text[:20]!r}", outage_id=text[:20])
    return int(text)


def _demands(value: Any) -> list[Demand]:
    """Several demands of one call: [{type, description, unit?, complaint_level?, topic?}, ...]."""
    if not value:
        return []
    if not isinstance(value, list) or len(value) > 10 or not all(isinstance(d, dict) for d in value):
        raise UnknownOrderType("demands must be a list of at most 10 objects", value="demands")
    out = []
    for d in value:
        kind = _order_type(d.get("type"))
        text = _bounded("description", str(d.get("description", "")).strip())
        if not text:
            raise EmptyDescription("each demand needs a description", field="description")
        out.append(Demand(type=kind, description=text, unit=str(d.get("unit", "") or "")[:32],
                          topic=str(d.get("topic", ""))[:64],
                          complaint_level=_level(d.get("complaint_level", 3)) if kind is WorkOrderType.COMPLAINT
                          else None))
    return out


async def submit_wrap_up(db: Database, acd: Acd, orders: WorkOrderService, principal: Principal, call_id: int,
                         data: dict[str, Any]) -> dict[str, Any]:
    category = str(data.get("category", "")).strip()
    if category not in CATEGORIES:
        raise CategoryRequired("choose a call category")
    notes = _bounded("notes", str(data.get("notes", "")).strip())
    order: NewWorkOrder | None = None
    async with db.session() as s:
        call = await s.get(Call, call_id)
        answered = (await s.execute(select(Offer.id).where(
            Offer.call_id == call_id, Offer.agent_pk == principal.agent_pk,
            Offer.result == OfferResult.ANSWERED).limit(1))).first() if call is not None else None
        if call is None or answered is None:
            raise NotYourCall(f"call {call_id} does not exist or was not answered by this agent", call_id=call_id)
        done = (await s.execute(select(CallEvent.data).where(CallEvent.call_id == call_id,
                                                               CallEvent.kind == "wrapup"))).scalars().all()
        if any(d.get("agent_pk") == principal.agent_pk for d in done):
            raise AlreadyWrappedUp(f"call {call_id} is already wrapped up", call_id=call_id)
        address = ""
        if call.customer_id is not None:
            customer = await s.get(Customer, call.customer_id)
            address = customer.address if customer is not None else ""
        if data.get("create_order"):
            kind = _order_type(data.get("order_type"))
            description = _bounded("description", str(data.get("description", "")).strip() or notes)
            if not description and not data.get("demands"):
                raise EmptyDescription("a work order needs a description", field="description")
            # First-contact responsibility: the service gives the order to the agent who first answered.
            flags = data.get("complaint_flags") if isinstance(data.get("complaint_flags"), list) else []
            order = NewWorkOrder(type=kind, source=OrderSource.CONSOLE, description=description, call_id=call_id,
                                 customer_id=call.customer_id, owner_pk=principal.agent_pk,
                                 contact_phone=call.caller_number, address=address,
                                 unit=str(data.get("unit", "") or "")[:32], topic=str(data.get("topic", ""))[:64],
                                 complaint_flags=tuple(str(f)[:16] for f in flags[:4]),
                                 outage_id=_outage_id(data.get("outage_id")),
                                 complaint_level=_level(data.get("complaint_level", 3))
                                 if kind is WorkOrderType.COMPLAINT else None)
    number = None
    numbers: list[str] = []
    if order is not None:
        demands = _demands(data.get("demands"))
        if demands:
            made, _kind = await orders.create_for_call(demands, base=order, at=utcnow())
            numbers = [o.number for o in made]
        else:
            numbers = [(await orders.create(order, at=utcnow())).number]
        number = numbers[0]
    timeline = Timeline(db)
    await timeline.update(call_id, category=category, notes=notes)
    record: dict[str, Any] = {"agent_pk": principal.agent_pk, "agent_id": principal.agent_id, "category": category,
                              "work_order": number}
    if len(numbers) > 1:
        record["work_orders"] = numbers  # one order per responsible unit
    await timeline.add_event(call_id, "wrapup", record)
    slot = acd.roster.get(principal.agent_pk)
    if slot is not None and slot.state is AgentState.WRAP_UP and slot.call_id == call_id:
        try:
            await acd.finish_wrap_up(principal.agent_pk)
        except AgentStateError:
            pass  # e.g. no phone configured: the form is saved, the agent stays where they are
    return {"work_order": number, "work_orders": numbers}
