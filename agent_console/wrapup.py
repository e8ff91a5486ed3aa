"""The wrap-up form: category and notes on the call, optionally a work order (with the deadlines of the rules),
then the agent is ready for the next call."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from agent_console.auth import Principal
from agent_console.i18n import CATEGORIES
from ivr.acd.roster import AgentStateError
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
from ivr.workorders import NewWorkOrder, OrderSource, WorkOrderService

MAX_TEXT = 2000


class WrapUpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _order_type(value: Any) -> WorkOrderType:
    try:
        kind = WorkOrderType(str(value))
    except ValueError:
        raise WrapUpError(400, f"未知的工单类型：{value}") from None
    if kind is WorkOrderType.CALLBACK_REQUEST:
        raise WrapUpError(400, "预约回电工单由系统创建")
    return kind


def _level(value: Any) -> int:
    try:
        level = int(value)
    except (TypeError, ValueError):
        raise WrapUpError(400, "投诉等级应为1、2或3") from None
    if level not in (1, 2, 3):
        raise WrapUpError(400, "投诉等级应为1、2或3")
    return level


async def submit_wrap_up(db: Database, acd: Acd, orders: WorkOrderService, principal: Principal, call_id: int,
                         data: dict[str, Any]) -> dict[str, Any]:
    category = str(data.get("category", "")).strip()
    if category not in CATEGORIES:
        raise WrapUpError(400, "请选择来电分类")
    notes = str(data.get("notes", "")).strip()
    if len(notes) > MAX_TEXT:
        raise WrapUpError(400, f"通话小结不能超过{MAX_TEXT}字")
    order: NewWorkOrder | None = None
    async with db.session() as s:
        call = await s.get(Call, call_id)
        answered = (await s.execute(select(Offer.id).where(
            Offer.call_id == call_id, Offer.agent_pk == principal.agent_pk,
            Offer.result == OfferResult.ANSWERED).limit(1))).first() if call is not None else None
        if call is None or answered is None:
            raise WrapUpError(404, "没有这个通话，或该通话不是您接听的")
        done = (await s.execute(select(CallEvent.data).where(CallEvent.call_id == call_id,
                                                               CallEvent.kind == "wrapup"))).scalars().all()
        if any(d.get("agent_pk") == principal.agent_pk for d in done):
            raise WrapUpError(409, "该通话的话后处理已提交")
        address = ""
        if call.customer_id is not None:
            customer = await s.get(Customer, call.customer_id)
            address = customer.address if customer is not None else ""
        if data.get("create_order"):
            kind = _order_type(data.get("order_type"))
            description = str(data.get("description", "")).strip() or notes
            if not description:
                raise WrapUpError(400, "请填写工单内容")
            if len(description) > MAX_TEXT:
                raise WrapUpError(400, f"工单内容不能超过{MAX_TEXT}字")
            # First-contact responsibility: the agent who first answered the call owns the order.
            order = NewWorkOrder(type=kind, source=OrderSource.CONSOLE, description=description, call_id=call_id,
                                 customer_id=call.customer_id, owner_pk=call.agent_pk or principal.agent_pk,
                                 contact_phone=call.caller_number, address=address,
                                 complaint_level=_level(data.get("complaint_level", 3))
                                 if kind is WorkOrderType.COMPLAINT else None)
    number = None
    if order is not None:
        number = (await orders.create(order, at=utcnow())).number
    timeline = Timeline(db)
    await timeline.update(call_id, category=category, notes=notes)
    await timeline.add_event(call_id, "wrapup", {"agent_pk": principal.agent_pk, "agent_id": principal.agent_id,
                                                 "category": category, "work_order": number})
    slot = acd.roster.get(principal.agent_pk)
    if slot is not None and slot.state is AgentState.WRAP_UP and slot.call_id == call_id:
        try:
            await acd.finish_wrap_up(principal.agent_pk)
        except AgentStateError:
            pass  # e.g. no phone configured: the form is saved, the agent stays where they are
    return {"work_order": number}
