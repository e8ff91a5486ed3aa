"""The screen pop: everything an agent needs about a caller before saying the first word.

Built once per call when it enters the queue (so an offer only has to send it) and masked per viewer on the
way out. Reads only; the numbers in it are raw until `mask_pop` runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import lazyload

from agent_console.i18n import TYPE_LABELS
from ivr.db import Database
from ivr.db.models import (
    Account,
    Agent,
    Area,
    Call,
    CallEvent,
    Customer,
    CustomerPhone,
    Outage,
    Role,
    WorkOrder,
    WorkOrderStatus,
    utcnow,
)
from recordings.privacy import mask_phone, mask_text, sees_pii

RECENT_CALLS = 5
OPEN_ORDERS = 10
OUTAGE_AHEAD = dt.timedelta(hours=48)  # planned outages are announced 48 h ahead
STATUS_LABELS = {"new": "受理", "dispatched": "已派单", "accepted": "已签收", "in_progress": "处理中",
                 "waiting_caller": "待客户", "returned": "已退单", "replied": "已办结", "callback": "回访中",
                 "closed": "已归档"}
OUTCOME_LABELS = {"answered": "已接通", "abandoned": "放弃", "fallback": "转备用", "ivr": "自助服务",
                  "voicemail": "留言", "callback": "预约回电", "": "进行中"}


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t is not None else None


def ivr_path(events: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The IVR steps (nodes visited and what the caller entered or said) before the call was queued."""
    steps: list[dict[str, Any]] = []
    for kind, data in events:
        if kind.startswith("queue."):
            break
        d = data or {}
        if kind == "ivr.node":
            # label: the flow's Chinese name for the step (主菜单); older calls and unlabelled nodes show the id
            steps.append({"node": d.get("node", ""), "label": d.get("label") or d.get("node", ""),
                          "type": d.get("type", ""), "inputs": []})
        elif kind in ("ivr.input", "ivr.speech", "ivr.verify", "ivr.lookup", "ivr.emergency") and steps:
            value = d.get("value", d.get("text", d.get("digits", "")))
            if kind == "ivr.input" and d.get("kind") in ("key", "speech") and d.get("to"):
                # what the caller chose, as they did it: 按0 人工服务 / 说“报修” 故障报修
                how = f"按{value}" if d["kind"] == "key" else f"说“{value}”"
                value = f"{how} {d['to_label']}" if d.get("to_label") else how
            elif kind == "ivr.emergency":
                value = f"紧急：按{d['key']}" if d.get("key") else f"紧急：说“{d.get('keyword', '')}”"
            elif kind == "ivr.verify":
                value = "通过" if d.get("ok") else "未通过"
            elif kind == "ivr.lookup":
                value = "已找到" if d.get("found") else "未找到"
            steps[-1]["inputs"].append({"kind": kind.removeprefix("ivr."), "value": str(value)})
    return steps


async def build_pop(db: Database, call_id: int, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Seven small reads on one connection: the call with its customer and area, then the rest. One
    connection per pop on purpose: under a burst of calls, pops fanned out over many connections churn the
    pool (see ConsoleService, which also caps how many pops are built at once)."""
    now = now or utcnow()
    async with db.session() as s:
        first = (await s.execute(
            select(Call, Customer, Area.name).outerjoin(Customer, Customer.id == Call.customer_id)
            .outerjoin(Area, Area.code == Customer.area_code).where(Call.id == call_id)
            .options(lazyload(Customer.phones), lazyload(Customer.accounts)))).first()
        if first is None:
            raise LookupError(f"no call {call_id}")
        call, customer, area_name = first
        owner = Call.customer_id == customer.id if customer is not None else Call.caller_number == call.caller_number
        order_filter = [WorkOrder.contact_phone == call.caller_number] if call.caller_number else []
        if customer is not None:
            order_filter.append(WorkOrder.customer_id == customer.id)
        queries: list[Any] = [
            select(CallEvent.kind, CallEvent.data).where(CallEvent.call_id == call_id).order_by(CallEvent.seq),
            select(Call, Agent.agent_id).outerjoin(Agent, Agent.id == Call.agent_pk)
            .where(owner, Call.id != call.id).order_by(Call.started_at.desc()).limit(RECENT_CALLS),
            select(WorkOrder).where(or_(*order_filter), WorkOrder.status != WorkOrderStatus.CLOSED)
            .order_by(WorkOrder.created_at.desc()).limit(OPEN_ORDERS) if order_filter else None,
            select(Outage).where(Outage.area_code == customer.area_code, Outage.cancelled.is_(False),
                                 Outage.starts_at <= now + OUTAGE_AHEAD,
                                 or_(Outage.ends_at.is_(None), Outage.ends_at > now)).order_by(Outage.starts_at)
            if customer is not None and customer.area_code else None,
            select(CustomerPhone.number).where(CustomerPhone.customer_id == customer.id).order_by(CustomerPhone.id)
            if customer is not None else None,
            select(Account).where(Account.customer_id == customer.id).order_by(Account.id)
            if customer is not None else None,
        ]
        events, recent_rows, order_rows, outage_rows, phone_rows, account_rows = \
            [list((await s.execute(q)).all()) if q is not None else [] for q in queries]
    orders = [r[0] for r in order_rows]
    outages = [r[0] for r in outage_rows]
    phones = [r[0] for r in phone_rows]
    accounts = [r[0] for r in account_rows]

    cust: dict[str, Any] | None = None
    if customer is not None:
        cust = {"id": customer.id, "name": customer.name, "id_number": customer.id_number,
                "address": customer.address, "area": area_name or (customer.area_code or ""),
                "special_care": customer.special_care, "special_care_note": customer.special_care_note,
                "phones": phones,
                "accounts": [{"account_no": a.account_no, "utility": a.utility.value, "status": a.status,
                              "balance": str(a.balance), "arrears": str(a.arrears)} for a in accounts]}
    return {
        "call_id": call.id, "call_uid": call.uid, "caller_number": call.caller_number, "verified": call.verified,
        "queue": call.queue_name, "priority": call.priority, "customer": cust,
        "ivr": ivr_path([(kind, data) for kind, data in events]),
        "orders": [{"number": o.number, "type": TYPE_LABELS.get(o.type.value, o.type.value),
                    "status": STATUS_LABELS.get(o.status.value, o.status.value),
                    "created_at": _iso(o.created_at), "description": o.description[:200],
                    # the order's clock (ivr/workorders/clocks.py): which stage is next, by when, how it stands
                    "clock_state": o.clock_state, "clock_stage": o.clock_stage, "due_at": _iso(o.clock_due_at)}
                   for o in orders],
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
