"""The screen pop: everything an agent needs about a caller before saying the first word.

Built once per call when it enters the queue (so an offer only has to send it) and masked per viewer on the
way out. Reads only; the numbers in it are raw until `mask_pop` runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select

from ivr.db import Database
from ivr.db.models import (Agent, Area, Call, CallEvent, Customer, Outage, Role, WorkOrder, WorkOrderStatus,
                           utcnow)
from ivr.acd.workorders import TYPE_LABELS
from recordings.privacy import mask_phone, mask_text, sees_pii

RECENT_CALLS = 5
OPEN_ORDERS = 10
OUTAGE_AHEAD = dt.timedelta(hours=48)  # planned outages are announced 48 h ahead
STATUS_LABELS = {"new": "新建", "dispatched": "已派单", "returned": "已回退", "extended": "已延期",
                 "replied": "已回复", "closed": "已办结"}
OUTCOME_LABELS = {"answered": "已接通", "abandoned": "放弃", "fallback": "转备用", "ivr": "自助服务",
                  "voicemail": "留言", "callback": "预约回电", "": "进行中"}


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def ivr_path(events: list[CallEvent]) -> list[dict[str, Any]]:
    """The IVR steps (nodes visited and what the caller entered or said) before the call was queued."""
    steps: list[dict[str, Any]] = []
    for ev in events:
        if ev.kind.startswith("queue."):
            break
        d = ev.data or {}
        if ev.kind == "ivr.node":
            steps.append({"node": d.get("node", ""), "type": d.get("type", ""), "inputs": []})
        elif ev.kind in ("ivr.input", "ivr.speech", "ivr.verify", "ivr.lookup") and steps:
            value = d.get("value", d.get("text", d.get("digits", "")))
            if ev.kind == "ivr.verify":
                value = "通过" if d.get("ok") else "未通过"
            elif ev.kind == "ivr.lookup":
                value = "已找到" if d.get("found") else "未找到"
            steps[-1]["inputs"].append({"kind": ev.kind.removeprefix("ivr."), "value": str(value)})
    return steps


async def build_pop(db: Database, call_id: int, *, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    async with db.session() as s:
        call = await s.get(Call, call_id)
        if call is None:
            raise LookupError(f"no call {call_id}")
        events = list((await s.execute(select(CallEvent).where(CallEvent.call_id == call_id)
                                       .order_by(CallEvent.seq))).scalars())
        customer = await s.get(Customer, call.customer_id) if call.customer_id is not None else None
        area = await s.get(Area, customer.area_code) if customer is not None and customer.area_code else None

        owner = Call.customer_id == customer.id if customer is not None else Call.caller_number == call.caller_number
        recent_rows = (await s.execute(
            select(Call, Agent.agent_id).outerjoin(Agent, Agent.id == Call.agent_pk)
            .where(owner, Call.id != call.id).order_by(Call.started_at.desc()).limit(RECENT_CALLS))).all()
        order_filter = [WorkOrder.contact_phone == call.caller_number] if call.caller_number else []
        if customer is not None:
            order_filter.append(WorkOrder.customer_id == customer.id)
        orders = list((await s.execute(
            select(WorkOrder).where(or_(*order_filter), WorkOrder.status != WorkOrderStatus.CLOSED)
            .order_by(WorkOrder.created_at.desc()).limit(OPEN_ORDERS))).scalars()) if order_filter else []
        outages: list[Outage] = []
        if customer is not None and customer.area_code:
            outages = list((await s.execute(
                select(Outage).where(Outage.area_code == customer.area_code, Outage.cancelled.is_(False),
                                     Outage.starts_at <= now + OUTAGE_AHEAD,
                                     or_(Outage.ends_at.is_(None), Outage.ends_at > now))
                .order_by(Outage.starts_at))).scalars())

    cust: dict[str, Any] | None = None
    if customer is not None:
        cust = {"id": customer.id, "name": customer.name, "id_number": customer.id_number,
                "address": customer.address, "area": area.name if area else (customer.area_code or ""),
                "special_care": customer.special_care, "special_care_note": customer.special_care_note,
                "phones": [p.number for p in customer.phones],
                "accounts": [{"account_no": a.account_no, "utility": a.utility.value, "status": a.status,
                              "balance": str(a.balance), "arrears": str(a.arrears)} for a in customer.accounts]}
    return {
        "call_id": call.id, "call_uid": call.uid, "caller_number": call.caller_number, "verified": call.verified,
        "queue": call.queue_name, "priority": call.priority, "customer": cust,
        "ivr": ivr_path(events),
        "orders": [{"number": o.number, "type": TYPE_LABELS.get(o.type, o.type.value),
                    "status": STATUS_LABELS.get(o.status.value, o.status.value),
                    "created_at": _iso(o.created_at), "description": o.description[:200]} for o in orders],
        "recent_calls": [{"call_id": c.id, "started_at": _iso(c.started_at),
                          "outcome": OUTCOME_LABELS.get(c.outcome, c.outcome), "category": c.category,
                          "agent_id": agent_id or ""} for c, agent_id in recent_rows],
        "outages": [{"id": o.id, "utility": o.utility.value, "planned": o.planned, "starts_at": _iso(o.starts_at),
                     "ends_at": _iso(o.ends_at), "reason": o.reason, "notice": o.notice} for o in outages],
    }


def mask_number(number: str, role: Role) -> str:
    """A caller's number as this role may see it (same rule as in mask_pop)."""
    return number if sees_pii(role) or role is Role.AGENT else mask_phone(number)


def mask_pop(pop: dict[str, Any], role: Role) -> dict[str, Any]:
    """The pop as this role may see it.

    Supervisors and admins see everything. The agent on the call sees the phone numbers (caller ID, needed to
    call back) but ID card numbers and numbers typed in the IVR masked. QA and anyone else: all masked.
    """
    if sees_pii(role):
        return pop
    phones_visible = role is Role.AGENT
    phone = (lambda n: n) if phones_visible else mask_phone
    out = dict(pop)
    out["caller_number"] = phone(pop["caller_number"])
    cust = pop.get("customer")
    if cust is not None:
        out["customer"] = {**cust, "id_number": mask_text(cust["id_number"]),
                           "phones": [phone(p) for p in cust["phones"]]}
    out["ivr"] = [{**step, "inputs": [{**i, "value": mask_text(i["value"])} for i in step["inputs"]]}
                  for step in pop["ivr"]]
    if not phones_visible:
        out["orders"] = [{**o, "description": mask_text(o["description"])} for o in pop["orders"]]
    return out
