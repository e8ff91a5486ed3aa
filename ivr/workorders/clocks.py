"""The running clocks of an order (pure): which stage's deadline is next, how much of it is used, when it
warns, breaches, when the 催办 goes out and when it escalates.

Stages (004 §14): dispatch (the centre sends it to a unit; minutes, 24x7, never pauses), contact (the unit
reaches the caller; hours 24x7 or working days), finish (the unit's result; working days, complaints by
level in hours), reply (the centre answers the caller, 1 working day after the unit's reply).

- All unit clocks count from when the caller's matter was taken (created_at): the caller waits from then.
  A returned order's re-dispatch counts from the return.
- The finish clock pauses while the order waits on the caller (no access to the meter, the caller asked
  for later) and resumes without losing the paused time: `finish_paused_seconds` is added to its deadline,
  measured in the clock's own time (working seconds for working-day clocks, so a pause across a holiday
  costs the holiday nothing).
- "Nearly due" once `share` (default 0.8, [workorders] warn_share) of the clock's time is used; overdue at 100 %.
- 催办 (urging the unit) one working day after a unit stage (contact, finish) breached; escalation to the
  supervisor `escalate_days` working days after an unanswered 催办 (12345 practice). The centre's own
  stages (dispatch, reply) alert the supervisor at once instead: there is nobody to urge.

The service stores the result with the order (stage, due_at, warn_at, urge_at, escalate_at, state) so the
periodic sweep flips states with indexed UPDATEs instead of recomputing orders in Python.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from ivr.db.models import WorkOrderStatus, WorkOrderType
from ivr.workorders.calendar import WorkingCalendar
from ivr.workorders.rules import RULES, ClockKind, add_working_days, advance, finish_span, kind_of, measure


class Stage(enum.StrEnum):
    DISPATCH = "dispatch"
    CONTACT = "contact"
    FINISH = "finish"
    REPLY = "reply"


class ClockState(enum.StrEnum):
    OK = "ok"
    NEAR = "near"  # nearly due: share of the time used
    OVERDUE = "overdue"
    PAUSED = "paused"  # waiting on the caller, nothing else running
    DONE = "done"  # closed, or nothing left to time


RUNNING = (ClockState.OK, ClockState.NEAR, ClockState.OVERDUE)
UNIT_STAGES = (Stage.CONTACT, Stage.FINISH)
_DISPATCH_PENDING = (WorkOrderStatus.NEW, WorkOrderStatus.RETURNED)
_CONTACT_PENDING = (WorkOrderStatus.NEW, WorkOrderStatus.RETURNED, WorkOrderStatus.DISPATCHED,
                    WorkOrderStatus.ACCEPTED)
_FINISH_PENDING = (WorkOrderStatus.NEW, WorkOrderStatus.RETURNED, WorkOrderStatus.DISPATCHED,
                   WorkOrderStatus.ACCEPTED, WorkOrderStatus.IN_PROGRESS)
_REPLY_PENDING = (WorkOrderStatus.REPLIED, WorkOrderStatus.CALLBACK)


@dataclass(frozen=True)
class OrderFacts:
    """What the clocks of one order depend on (a WorkOrder row has all of it)."""

    type: WorkOrderType
    status: WorkOrderStatus
    created_at: dt.datetime
    dispatch_due_at: dt.datetime | None
    contact_due_at: dt.datetime | None = None
    finish_due_at: dt.datetime | None = None
    reply_due_at: dt.datetime | None = None
    complaint_level: int | None = None
    contacted_at: dt.datetime | None = None
    replied_at: dt.datetime | None = None
    returned_at: dt.datetime | None = None
    paused_at: dt.datetime | None = None
    finish_paused_seconds: float = 0.0


@dataclass(frozen=True)
class ClockView:
    stage: Stage | None
    state: ClockState
    due_at: dt.datetime | None = None
    warn_at: dt.datetime | None = None
    urge_at: dt.datetime | None = None
    escalate_at: dt.datetime | None = None
    used: float | None = None  # share of the stage's time used at `now` (0..1+)


@dataclass(frozen=True)
class Policy:
    share: float = 0.8
    escalate_days: int = 5


def _kind(stage: Stage, f: OrderFacts) -> ClockKind:
    rule = RULES[f.type]
    if stage is Stage.CONTACT and rule.contact is not None:
        return kind_of(rule.contact)
    if stage is Stage.FINISH:
        span = finish_span(f.type, f.complaint_level)
        return kind_of(span) if span is not None else ClockKind.ELAPSED
    if stage is Stage.REPLY:
        return ClockKind.WORKING
    return ClockKind.ELAPSED


def pending(f: OrderFacts) -> list[tuple[Stage, dt.datetime, dt.datetime]]:
    """(stage, start, due) of every clock still running, in no particular order."""
    out: list[tuple[Stage, dt.datetime, dt.datetime]] = []
    if f.status in _DISPATCH_PENDING:
        if f.status is WorkOrderStatus.RETURNED and f.returned_at is not None:
            out.append((Stage.DISPATCH, f.returned_at, f.returned_at + RULES[f.type].dispatch))
        elif f.dispatch_due_at is not None:
            out.append((Stage.DISPATCH, f.created_at, f.dispatch_due_at))
    if f.status in _CONTACT_PENDING and f.contact_due_at is not None and f.contacted_at is None:
        out.append((Stage.CONTACT, f.created_at, f.contact_due_at))
    if f.status in _FINISH_PENDING and f.finish_due_at is not None and f.paused_at is None:
        out.append((Stage.FINISH, f.created_at, f.finish_due_at))
    if f.status in _REPLY_PENDING and f.reply_due_at is not None:
        out.append((Stage.REPLY, f.replied_at or f.created_at, f.reply_due_at))
    return out


def current(f: OrderFacts, now: dt.datetime, zone: dt.tzinfo, calendar: WorkingCalendar | None = None,
            policy: Policy = Policy()) -> ClockView:
    """The clock the order is shown by: the earliest deadline still running."""
    if f.status is WorkOrderStatus.CLOSED:
        return ClockView(None, ClockState.DONE)
    running = pending(f)
    if not running:
        waiting = f.paused_at is not None and f.status is WorkOrderStatus.WAITING_CALLER
        return ClockView(Stage.FINISH if waiting else None, ClockState.PAUSED if waiting else ClockState.DONE)
    stage, start, due = min(running, key=lambda r: r[2])
    kind = _kind(stage, f)
    paused = f.finish_paused_seconds if stage is Stage.FINISH else 0.0
    budget = max(0.0, measure(kind, start, due, zone, calendar) - paused)
    used = max(0.0, measure(kind, start, min(now, due), zone, calendar) - paused) if now > start else 0.0
    share_used = (used / budget) if budget > 0 else 1.0
    if now >= due:
        state, warn_at = ClockState.OVERDUE, min(due, now)
        share_used = max(share_used, 1.0)
    elif budget > 0 and used < policy.share * budget:
        state, warn_at = ClockState.OK, advance(kind, now, policy.share * budget - used, zone, calendar)
        warn_at = min(warn_at, due)
    else:
        state, warn_at = ClockState.NEAR, now
    urge_at = escalate_at = None
    if stage in UNIT_STAGES:
        urge_at = add_working_days(due, 1, zone, calendar)
        escalate_at = add_working_days(urge_at, policy.escalate_days, zone, calendar)
    return ClockView(stage, state, due_at=due, warn_at=warn_at, urge_at=urge_at, escalate_at=escalate_at,
                     used=round(share_used, 4))


def resume_finish(finish_due_at: dt.datetime, paused_at: dt.datetime, resumed_at: dt.datetime, kind: ClockKind,
                  zone: dt.tzinfo, calendar: WorkingCalendar | None = None) -> tuple[dt.datetime, float]:
    """(the new finish deadline, the paused time in the clock's units) after a pause: nothing is lost."""
    paused = measure(kind, paused_at, resumed_at, zone, calendar)
    return advance(kind, finish_due_at, paused, zone, calendar) if paused else finish_due_at, paused


def finish_kind(kind: WorkOrderType, complaint_level: int | None) -> ClockKind:
    span = finish_span(kind, complaint_level)
    return kind_of(span) if span is not None else ClockKind.ELAPSED
