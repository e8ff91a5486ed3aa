"""Work-order deadlines (hotline-rules.md, 004 §14) as pure functions.

Times: created_at is aware UTC; working days and the no-callback night (21:00-08:00) are counted in the
hotline's timezone (settings.hotline.timezone), passed in as `zone`. Public holidays are passed in by the
caller when known.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Iterable

from ivr.db.models import WorkOrderType
from ivr.workorders.exceptions import InvalidComplaintLevel, NaiveTime
from ivr.workorders.model import Deadlines

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


def is_working_day(day: dt.date, holidays: frozenset[dt.date]) -> bool:
    return day.weekday() < 5 and day not in holidays


def add_working_days(at: dt.datetime, days: int, zone: dt.tzinfo,
                     holidays: frozenset[dt.date] = frozenset()) -> dt.datetime:
    """Same local time of day, `days` working days later (a Saturday request plus one day is Monday)."""
    local = at.astimezone(zone)
    counted = 0
    while counted < days:
        local += dt.timedelta(days=1)
        if is_working_day(local.date(), holidays):
            counted += 1
    return local.astimezone(dt.timezone.utc)


def add_span(at: dt.datetime, span: Span, zone: dt.tzinfo, holidays: frozenset[dt.date] = frozenset()
             ) -> dt.datetime:
    if isinstance(span, WorkingDays):
        return add_working_days(at, span.days, zone, holidays)
    return at + span


def into_callback_window(at: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """The first moment at or after `at` when calling a customer back is allowed (08:00-21:00 local)."""
    local = at.astimezone(zone)
    start, end = CALLBACK_WINDOW
    if local.time() < start:
        local = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    elif local.time() >= end:
        local = (local + dt.timedelta(days=1)).replace(hour=start.hour, minute=start.minute, second=0,
                                                       microsecond=0)
    return local.astimezone(dt.timezone.utc)


def complaint_level_of(kind: WorkOrderType, requested: int | None) -> int | None:
    """The level stored with an order: complaints only, minor (3) unless said otherwise."""
    if kind is not WorkOrderType.COMPLAINT:
        return None
    level = requested if requested is not None else DEFAULT_COMPLAINT_LEVEL
    if level not in COMPLAINT_FINISH:
        raise InvalidComplaintLevel(f"complaint level must be 1 (major), 2 (general) or 3 (minor), not {level}",
                                    level=level)
    return level


def deadlines(kind: WorkOrderType, created_at: dt.datetime, zone: dt.tzinfo, *, complaint_level: int | None = None,
              holidays: Iterable[dt.date] = ()) -> Deadlines:
    if created_at.tzinfo is None:
        raise NaiveTime("created_at must be an aware datetime")
    if complaint_level is not None and complaint_level not in COMPLAINT_FINISH:
        raise InvalidComplaintLevel(
            f"complaint level must be 1 (major), 2 (general) or 3 (minor), not {complaint_level}",
            level=complaint_level)
    hol = frozenset(holidays)
    rule = RULES[kind]
    contact = add_span(created_at, rule.contact, zone, hol) if rule.contact is not None else None
    if kind is WorkOrderType.COMPLAINT:
        finish: dt.datetime | None = created_at + COMPLAINT_FINISH[complaint_level or DEFAULT_COMPLAINT_LEVEL]
    else:
        finish = add_span(created_at, rule.finish, zone, hol) if rule.finish is not None else None
    callback_due = None
    if rule.callback:
        if kind is WorkOrderType.CALLBACK_REQUEST:
            callback_due = into_callback_window(contact or created_at, zone)
            contact = callback_due
        else:
            callback_due = into_callback_window(add_working_days(finish or contact or created_at, 1, zone, hol), zone)
    return Deadlines(dispatch_due_at=created_at + rule.dispatch, contact_due_at=contact, finish_due_at=finish,
                     callback_required=rule.callback, callback_due_at=callback_due)


def order_number(created_at: dt.datetime, n: int, zone: dt.tzinfo) -> str:
    """GD + the local date + the day's sequence: what callers read out on the phone."""
    return f"GD{created_at.astimezone(zone):%Y%m%d}{n:05d}"
