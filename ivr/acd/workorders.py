"""Work-order deadlines (hotline-rules.md, 004 §14) as pure rules, plus creating the row.

Times: created_at is aware UTC; working days and the no-callback night (21:00-08:00) are counted in China
time (UTC+8, no daylight saving). Public holidays are passed in by the caller when known.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ivr.db import Database
from ivr.db.models import WorkOrder, WorkOrderStatus, WorkOrderType

CHINA = dt.timezone(dt.timedelta(hours=8), "CST")
CALLBACK_WINDOW = (dt.time(8, 0), dt.time(21, 0))  # no callbacks between 21:00 and 08:00


@dataclass(frozen=True)
class WorkingDays:
    days: int


Span = dt.timedelta | WorkingDays


@dataclass(frozen=True)
class Rule:
    dispatch: dt.timedelta  # zero: call the unit right away (gas alarm), back-fill the order
    contact: Span | None  # the unit contacts the caller / is on site
    finish: Span | None
    callback: bool  # 回访 required (not for consultation, suggestion, praise)


_MIN = dt.timedelta(minutes=1)
RULES: dict[WorkOrderType, Rule] = {
    WorkOrderType.CONSULTATION: Rule(20 * _MIN, None, WorkingDays(1), callback=False),
    WorkOrderType.EMERGENCY: Rule(dt.timedelta(0), 30 * _MIN, None, callback=True),
    WorkOrderType.REPAIR: Rule(5 * _MIN, dt.timedelta(hours=2), WorkingDays(3), callback=True),
    WorkOrderType.SERVICE_APPLICATION: Rule(20 * _MIN, WorkingDays(1), WorkingDays(7), callback=True),
    WorkOrderType.COMPLAINT: Rule(5 * _MIN, None, None, callback=True),  # finish depends on the level
    WorkOrderType.REPORT: Rule(20 * _MIN, None, WorkingDays(5), callback=True),
    WorkOrderType.OPINION: Rule(20 * _MIN, None, WorkingDays(5), callback=True),
    WorkOrderType.SUGGESTION: Rule(20 * _MIN, None, WorkingDays(5), callback=False),
    WorkOrderType.PRAISE: Rule(20 * _MIN, None, None, callback=False),
    WorkOrderType.CALLBACK_REQUEST: Rule(dt.timedelta(0), dt.timedelta(hours=1), None, callback=True),
}
COMPLAINT_FINISH = {3: dt.timedelta(hours=3), 2: dt.timedelta(hours=24), 1: dt.timedelta(hours=48)}
DEFAULT_COMPLAINT_LEVEL = 3

TYPE_LABELS = {
    WorkOrderType.CONSULTATION: "咨询", WorkOrderType.EMERGENCY: "报警（紧急）", WorkOrderType.REPAIR: "故障报修",
    WorkOrderType.SERVICE_APPLICATION: "业务申请", WorkOrderType.COMPLAINT: "投诉", WorkOrderType.REPORT: "举报",
    WorkOrderType.OPINION: "意见", WorkOrderType.SUGGESTION: "建议", WorkOrderType.PRAISE: "表扬",
    WorkOrderType.CALLBACK_REQUEST: "预约回电",
}


@dataclass(frozen=True)
class Deadlines:
    dispatch_due_at: dt.datetime
    contact_due_at: dt.datetime | None
    finish_due_at: dt.datetime | None
    callback_required: bool
    callback_due_at: dt.datetime | None


def is_working_day(day: dt.date, holidays: frozenset[dt.date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_working_days(at: dt.datetime, days: int, holidays: frozenset[dt.date] = frozenset()) -> dt.datetime:
    """Same local time of day, `days` working days later (a Saturday request plus one day is Monday)."""
    local = at.astimezone(CHINA)
    counted = 0
    while counted < days:
        local += dt.timedelta(days=1)
        if is_working_day(local.date(), holidays):
            counted += 1
    return local.astimezone(dt.timezone.utc)


def add_span(at: dt.datetime, span: Span, holidays: frozenset[dt.date] = frozenset()) -> dt.datetime:
    if isinstance(span, WorkingDays):
        return add_working_days(at, span.days, holidays)
    return at + span


def into_callback_window(at: dt.datetime) -> dt.datetime:
    """The first moment at or after `at` when calling a customer back is allowed (08:00-21:00 local)."""
    local = at.astimezone(CHINA)
    start, end = CALLBACK_WINDOW
    if local.time() < start:
        local = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    elif local.time() >= end:
        local = (local + dt.timedelta(days=1)).replace(hour=start.hour, minute=start.minute, second=0,
                                                       microsecond=0)
    return local.astimezone(dt.timezone.utc)


def deadlines(kind: WorkOrderType, created_at: dt.datetime, *, complaint_level: int | None = None,
              holidays: Iterable[dt.date] = ()) -> Deadlines:
    if created_at.tzinfo is None:
        raise ValueError("created_at must be an aware datetime")
    if complaint_level is not None and complaint_level not in COMPLAINT_FINISH:
        raise ValueError(f"complaint level must be 1 (major), 2 (general) or 3 (minor), not {complaint_level}")
    hol = frozenset(holidays)
    rule = RULES[kind]
    contact = add_span(created_at, rule.contact, hol) if rule.contact is not None else None
    if kind is WorkOrderType.COMPLAINT:
        finish: dt.datetime | None = created_at + COMPLAINT_FINISH[complaint_level or DEFAULT_COMPLAINT_LEVEL]
    else:
        finish = add_span(created_at, rule.finish, hol) if rule.finish is not None else None
    callback_due = None
    if rule.callback:
        if kind is WorkOrderType.CALLBACK_REQUEST:
            callback_due = into_callback_window(contact or created_at)
            contact = callback_due
        else:
            callback_due = into_callback_window(add_working_days(finish or contact or created_at, 1, hol))
    return Deadlines(dispatch_due_at=created_at + rule.dispatch, contact_due_at=contact, finish_due_at=finish,
                     callback_required=rule.callback, callback_due_at=callback_due)


@dataclass(frozen=True)
class NewWorkOrder:
    type: WorkOrderType
    description: str
    call_id: int | None = None
    customer_id: int | None = None
    owner_pk: int | None = None  # 首问负责: the agent who took the call owns it
    contact_phone: str = ""
    address: str = ""
    unit: str = ""
    complaint_level: int | None = None


def order_number(created_at: dt.datetime, n: int) -> str:
    return f"GD{created_at.astimezone(CHINA):%Y%m%d}{n:05d}"


async def create_work_order(db: Database, new: NewWorkOrder, *, at: dt.datetime,
                            holidays: Iterable[dt.date] = ()) -> WorkOrder:
    """Insert the order with its deadlines; numbers are per local day and retried on a concurrent clash."""
    if not new.description.strip():
        raise ValueError("工单描述不能为空")
    level = (new.complaint_level or DEFAULT_COMPLAINT_LEVEL) if new.type is WorkOrderType.COMPLAINT else None
    due = deadlines(new.type, at, complaint_level=level, holidays=holidays)
    local_midnight = at.astimezone(CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
    for attempt in range(10):
        try:
            async with db.begin() as s:
                today = (await s.execute(select(func.count(WorkOrder.id)).where(
                    WorkOrder.created_at >= local_midnight.astimezone(dt.timezone.utc)))).scalar_one()
                order = WorkOrder(
                    number=order_number(at, today + 1 + attempt), type=new.type, status=WorkOrderStatus.NEW,
                    complaint_level=level,
                    call_id=new.call_id, customer_id=new.customer_id, owner_pk=new.owner_pk, unit=new.unit,
                    contact_phone=new.contact_phone, address=new.address, description=new.description.strip(),
                    created_at=at, dispatch_due_at=due.dispatch_due_at, contact_due_at=due.contact_due_at,
                    finish_due_at=due.finish_due_at, callback_required=due.callback_required,
                    callback_due_at=due.callback_due_at,
                    history=[{"at": at.isoformat(), "action": "created", "by": new.owner_pk}])
                s.add(order)
            return order
        except IntegrityError:
            continue
    raise RuntimeError("could not allocate a work-order number")
