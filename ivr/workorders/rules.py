"""Work-order deadlines (hotline-rules.md, 004 §14) as pure functions.

Times: created_at is aware UTC; working days and the no-callback night (21:00-08:00) are counted in the
hotline's timezone (settings.hotline.timezone), passed in as `zone`, on a WorkingCalendar (statutory
holidays and make-up working days; ivr/workorders/calendar.py). A deadline that needed a day of a year the
calendar does not know is computed with weekends only and comes back marked `estimated`.

Working days keep the time of day: a repair taken on Friday 2026-02-13 17:00 with 3 working days is due on
Wednesday 2026-02-25 17:00 (Saturday 02-14 is a make-up working day, 02-15..23 the Spring Festival).
Pauses and shares of a clock are measured in the clock's own time: elapsed seconds for 24x7 clocks,
seconds that fall on working days for working-day clocks (`measure`, `advance`).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from ivr.db.models import WorkOrderType
from ivr.workorders.calendar import WorkingCalendar
from ivr.workorders.exceptions import InvalidComplaintLevel, NaiveTime
from ivr.workorders.model import Deadlines

CALLBACK_WINDOW = (dt.time(8, 0), dt.time(21, 0))  # no callbacks between 21:00 and 08:00
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class WorkingDays:
    days: int


Span = dt.timedelta | WorkingDays


class ClockKind(enum.StrEnum):
    ELAPSED = "elapsed"  # 24x7: minutes and hours
    WORKING = "working"  # working days on the calendar


def kind_of(span: Span) -> ClockKind:
    return ClockKind.WORKING if isinstance(span, WorkingDays) else ClockKind.ELAPSED


@dataclass(frozen=True)
class Rule:
    dispatch: dt.timedelta  # zero: call the unit right away (gas alarm), back-fill the order
    contact: Span | None  # the unit contacts the caller / is on site
    finish: Span | None
    callback: bool  # 回访 required (not for consultation, suggestion, praise: 004 §14(九))
    reply: bool = True  # the centre tells the caller the unit's answer, 1 working day after it (回复)


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
    WorkOrderType.PRAISE: Rule(20 * _MIN, None, None, callback=False, reply=False),
    WorkOrderType.CALLBACK_REQUEST: Rule(dt.timedelta(0), dt.timedelta(hours=1), None, callback=True),
}
COMPLAINT_FINISH = {3: dt.timedelta(hours=3), 2: dt.timedelta(hours=24), 1: dt.timedelta(hours=48)}
DEFAULT_COMPLAINT_LEVEL = 3
REPLY_AFTER = WorkingDays(1)  # the centre answers the caller 1 working day after the unit's reply

# "Several demands in one call: classify by the highest type" (004 §15(一)3). Highest = the one the rules
# treat most urgently: the shortest dispatch first (gas alarm, then the 5-minute types), then severity.
TYPE_RANK: tuple[WorkOrderType, ...] = (
    WorkOrderType.EMERGENCY, WorkOrderType.COMPLAINT, WorkOrderType.REPAIR, WorkOrderType.SERVICE_APPLICATION,
    WorkOrderType.REPORT, WorkOrderType.OPINION, WorkOrderType.CONSULTATION, WorkOrderType.SUGGESTION,
    WorkOrderType.PRAISE, WorkOrderType.CALLBACK_REQUEST,
)


def highest_type(kinds: list[WorkOrderType]) -> WorkOrderType:
    return min(kinds, key=TYPE_RANK.index)


def _cal(calendar: WorkingCalendar | None) -> WorkingCalendar:
    return calendar if calendar is not None else WorkingCalendar.builtin()


def add_working_days(at: dt.datetime, days: int, zone: dt.tzinfo,
                     calendar: WorkingCalendar | None = None) -> dt.datetime:
    """Same local time of day, `days` working days later (a Saturday request plus one day is Monday)."""
    cal = _cal(calendar)
    local = at.astimezone(zone)
    counted = 0
    while counted < days:
        local += DAY
        if cal.is_working_day(local.date()):
            counted += 1
    return local.astimezone(dt.timezone.utc)


def _midnight(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.timezone.utc)


def working_seconds(start: dt.datetime, end: dt.datetime, zone: dt.tzinfo,
                    calendar: WorkingCalendar | None = None) -> float:
    """Seconds of [start, end) that fall on working days (local days of the zone)."""
    if end <= start:
        return 0.0
    cal = _cal(calendar)
    total = 0.0
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    while day <= last:
        if cal.is_working_day(day):
            lo = max(start, _midnight(day, zone))
            hi = min(end, _midnight(day + DAY, zone))
            if hi > lo:
                total += (hi - lo).total_seconds()
        day += DAY
    return total


def add_working_seconds(at: dt.datetime, seconds: float, zone: dt.tzinfo,
                        calendar: WorkingCalendar | None = None) -> dt.datetime:
    """The moment when `seconds` of working-day time have passed after `at`."""
    cal = _cal(calendar)
    left = max(0.0, seconds)
    cursor = at
    day = at.astimezone(zone).date()
    for _ in range(40_000):  # a century of days: a budget never runs that long
        end_of_day = _midnight(day + DAY, zone)
        if cal.is_working_day(day):
            room = (end_of_day - cursor).total_seconds()
            if left <= room:
                return cursor + dt.timedelta(seconds=left)
            left -= room
        cursor = end_of_day
        day += DAY
    raise OverflowError("working-time budget past a century")


def measure(kind: ClockKind, start: dt.datetime, end: dt.datetime, zone: dt.tzinfo,
            calendar: WorkingCalendar | None = None) -> float:
    if kind is ClockKind.WORKING:
        return working_seconds(start, end, zone, calendar)
    return max(0.0, (end - start).total_seconds())


def advance(kind: ClockKind, at: dt.datetime, seconds: float, zone: dt.tzinfo,
            calendar: WorkingCalendar | None = None) -> dt.datetime:
    if kind is ClockKind.WORKING:
        return add_working_seconds(at, seconds, zone, calendar)
    return at + dt.timedelta(seconds=max(0.0, seconds))


def add_span(at: dt.datetime, span: Span, zone: dt.tzinfo, calendar: WorkingCalendar | None = None
             ) -> dt.datetime:
    if isinstance(span, WorkingDays):
        return add_working_days(at, span.days, zone, calendar)
    return at + span


def into_callback_window(at: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    """The first moment at or after `at` when calling a customer back is allowed (08:00-21:00 local)."""
    local = at.astimezone(zone)
    start, end = CALLBACK_WINDOW
    if local.time() < start:
        local = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    elif local.time() >= end:
        local = (local + DAY).replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    return local.astimezone(dt.timezone.utc)


def reply_due(replied_at: dt.datetime, zone: dt.tzinfo, calendar: WorkingCalendar | None = None) -> dt.datetime:
    """When the centre must have answered (回复/回访) the caller after the unit's reply."""
    return into_callback_window(add_working_days(replied_at, REPLY_AFTER.days, zone, calendar), zone)


def check_level(level: int | None) -> None:
    if level is not None and level not in COMPLAINT_FINISH:
        raise InvalidComplaintLevel(f"complaint level must be 1 (major), 2 (general) or 3 (minor), not {level}",
                                    level=level)


def complaint_level_of(kind: WorkOrderType, requested: int | None) -> int | None:
    """The level stored with an order: complaints only, minor (3) unless said otherwise."""
    if kind is not WorkOrderType.COMPLAINT:
        return None
    level = requested if requested is not None else DEFAULT_COMPLAINT_LEVEL
    check_level(level)
    return level


def finish_span(kind: WorkOrderType, complaint_level: int | None) -> Span | None:
    if kind is WorkOrderType.COMPLAINT:
        return COMPLAINT_FINISH[complaint_level or DEFAULT_COMPLAINT_LEVEL]
    return RULES[kind].finish


def deadlines(kind: WorkOrderType, created_at: dt.datetime, zone: dt.tzinfo, *, complaint_level: int | None = None,
              calendar: WorkingCalendar | None = None) -> Deadlines:
    if created_at.tzinfo is None:
        raise NaiveTime("created_at must be an aware datetime")
    check_level(complaint_level)
    cal = _cal(calendar)
    rule = RULES[kind]
    contact = add_span(created_at, rule.contact, zone, cal) if rule.contact is not None else None
    span = finish_span(kind, complaint_level)
    finish = add_span(created_at, span, zone, cal) if span is not None else None
    callback_due = reply_at = None
    if kind is WorkOrderType.CALLBACK_REQUEST:
        # The caller asked to be called back: the contact is the callback, within the hour but not at night.
        callback_due = reply_at = contact = into_callback_window(contact or created_at, zone)
    elif rule.reply:
        # Provisional: the real one counts from the unit's reply (`reply_due`).
        reply_at = reply_due(finish or contact or created_at, zone, cal)
        callback_due = reply_at if rule.callback else None
    latest = max(t for t in (created_at, contact, finish, reply_at) if t is not None)
    unknown = cal.unknown_years(created_at.astimezone(zone).date(), latest.astimezone(zone).date())
    return Deadlines(dispatch_due_at=created_at + rule.dispatch, contact_due_at=contact, finish_due_at=finish,
                     callback_required=rule.callback, callback_due_at=callback_due, reply_due_at=reply_at,
                     estimated_years=unknown)


def order_number(created_at: dt.datetime, n: int, zone: dt.tzinfo) -> str:
    """GD + the local date + the day's sequence: what callers read out on the phone."""
    return f"GD{created_at.astimezone(zone):%Y%m%d}{n:05d}"
