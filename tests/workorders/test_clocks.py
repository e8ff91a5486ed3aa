"""The clocks of an order: next deadline, 80 % warning, breach, 催办 and escalation, the paused completion
clock (across a holiday too), and complaint levels that change the deadlines."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from ivr.db.models import WorkOrderStatus as S, WorkOrderType as T
from ivr.workorders.calendar import WorkingCalendar
from ivr.workorders.clocks import ClockState, OrderFacts, Policy, Stage, current, finish_kind, resume_finish
from ivr.workorders.rules import ClockKind, deadlines, working_seconds
from tests.builders import ZONE as CHINA

CAL = WorkingCalendar.builtin()
H = dt.timedelta(hours=1)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=CHINA).astimezone(dt.timezone.utc)


def local(t: dt.datetime | None) -> str:
    assert t is not None
    return t.astimezone(CHINA).strftime("%Y-%m-%dT%H:%M")


def facts(kind: T, taken: str, status: S = S.NEW, level: int | None = None, **kw: object) -> OrderFacts:
    created = at(taken)
    d = deadlines(kind, created, CHINA, complaint_level=level, calendar=CAL)
    base = OrderFacts(type=kind, status=status, created_at=created, dispatch_due_at=d.dispatch_due_at,
                      contact_due_at=d.contact_due_at, finish_due_at=d.finish_due_at, reply_due_at=d.reply_due_at,
                      complaint_level=level)
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def view(f: OrderFacts, now: str, policy: Policy = Policy()):  # type: ignore[no-untyped-def]
    return current(f, at(now), CHINA, CAL, policy)


def test_a_new_repair_is_timed_by_its_dispatch_then_warns_and_breaches() -> None:
    f = facts(T.REPAIR, "2026-03-03T10:00")
    v = view(f, "2026-03-03T10:01")
    assert (v.stage, v.state, local(v.due_at), local(v.warn_at)) == (Stage.DISPATCH, ClockState.OK,
                                                                     "2026-03-03T10:05", "2026-03-03T10:04")
    assert v.urge_at is None  # the centre's own stage: nobody to urge, the supervisor is alerted at once
    assert view(f, "2026-03-03T10:04").state is ClockState.NEAR
    over = view(f, "2026-03-03T10:05")
    assert over.state is ClockState.OVERDUE and over.used == 1.0
    # a configurable share: 50 % of 5 minutes
    assert local(view(f, "2026-03-03T10:00", Policy(share=0.5)).warn_at) == "2026-03-03T10:02"


def test_after_dispatch_contact_then_completion_in_working_time() -> None:
    f = facts(T.REPAIR, "2026-03-03T10:00", S.DISPATCHED)
    v = view(f, "2026-03-03T10:30")
    assert (v.stage, local(v.due_at), local(v.warn_at)) == (Stage.CONTACT, "2026-03-03T12:00", "2026-03-03T11:36")
    f = dataclasses.replace(f, status=S.IN_PROGRESS, contacted_at=at("2026-03-03T11:00"))
    v = view(f, "2026-03-03T11:00")
    # 80 % of 3 working days (57.6 h of working time) from Tuesday 10:00 is Thursday 19:36
    assert (v.stage, local(v.due_at), local(v.warn_at)) == (Stage.FINISH, "2026-03-06T10:00", "2026-03-05T19:36")
    urged = view(f, "2026-03-06T10:00")
    assert urged.state is ClockState.OVERDUE
    # 催办 the (working) day after the breach, escalation 5 working days after the 催办
    assert (local(urged.urge_at), local(urged.escalate_at)) == ("2026-03-09T10:00", "2026-03-16T10:00")
    assert local(view(f, "2026-03-06T10:00", Policy(escalate_days=2)).escalate_at) == "2026-03-11T10:00"


def test_the_unit_clocks_count_across_the_spring_festival() -> None:
    f = facts(T.REPAIR, "2026-02-13T17:00", S.IN_PROGRESS, contacted_at=at("2026-02-13T18:00"))
    v = view(f, "2026-02-16T12:00")  # a holiday: no working time passes
    assert local(v.due_at) == "2026-02-25T17:00" and v.state is ClockState.OK
    assert view(f, "2026-02-16T12:00").used == view(f, "2026-02-15T00:00").used  # the holiday costs nothing


def test_a_pause_across_the_holiday_loses_nothing() -> None:
    # Taken Thursday 02-12 10:00: 3 working days = Fri 13, Sat 14 (worked), Tue 24 -> due Tue 24 10:00.
    f = facts(T.REPAIR, "2026-02-12T10:00", S.IN_PROGRESS, contacted_at=at("2026-02-12T11:00"))
    assert local(f.finish_due_at) == "2026-02-24T10:00"
    paused_at, resumed_at = at("2026-02-13T18:00"), at("2026-02-24T09:00")  # no access to the meter
    before = view(f, "2026-02-13T18:00")
    waiting = dataclasses.replace(f, status=S.WAITING_CALLER, paused_at=paused_at)
    assert view(waiting, "2026-02-20T10:00").state is ClockState.PAUSED  # nothing runs while paused
    assert f.finish_due_at is not None
    new_due, paused = resume_finish(f.finish_due_at, paused_at, resumed_at, ClockKind.WORKING, CHINA, CAL)
    # paused working time: Friday 18-24 (6 h), Saturday 14 (24 h), Tuesday 0-9 (9 h); the holiday counts 0
    assert paused == 39 * 3600
    assert local(new_due) == "2026-02-26T01:00"
    resumed = dataclasses.replace(f, finish_due_at=new_due, finish_paused_seconds=paused)
    after = view(resumed, "2026-02-24T09:00")
    assert after.used == before.used  # exactly as much used as when the pause began
    assert after.stage is Stage.FINISH and after.state is ClockState.OK


def test_dispatch_never_pauses_and_a_returned_order_is_redispatched_in_time() -> None:
    f = facts(T.REPAIR, "2026-03-03T10:00", S.RETURNED, returned_at=at("2026-03-03T10:30"),
              contacted_at=at("2026-03-03T10:20"))
    v = view(f, "2026-03-03T10:31")
    assert (v.stage, local(v.due_at)) == (Stage.DISPATCH, "2026-03-03T10:35")
    # a pause stops the completion clock only: the dispatch clock of the same order keeps running
    odd = facts(T.REPAIR, "2026-03-03T10:00", S.NEW, paused_at=at("2026-03-03T10:01"))
    assert view(odd, "2026-03-03T10:06").state is ClockState.OVERDUE


def test_reply_clock_after_the_units_reply_and_done_when_closed() -> None:
    f = facts(T.CONSULTATION, "2026-03-03T10:00", S.REPLIED, replied_at=at("2026-03-03T15:00"),
              reply_due_at=at("2026-03-04T15:00"))
    v = view(f, "2026-03-04T14:00")
    assert (v.stage, v.state, v.urge_at) == (Stage.REPLY, ClockState.NEAR, None)
    assert view(dataclasses.replace(f, status=S.CLOSED), "2026-03-05T10:00").state is ClockState.DONE
    praise = facts(T.PRAISE, "2026-03-03T10:00", S.REPLIED)
    assert view(praise, "2026-03-04T10:00").state is ClockState.DONE  # nothing to time


@pytest.mark.parametrize(("level", "due"), [(3, "2026-03-03T13:00"), (2, "2026-03-04T10:00"),
                                            (1, "2026-03-05T10:00")])
def test_complaint_levels_set_the_completion_deadline(level: int, due: str) -> None:
    f = facts(T.COMPLAINT, "2026-03-03T10:00", S.IN_PROGRESS, level=level)
    assert local(f.finish_due_at) == due
    assert finish_kind(T.COMPLAINT, level) is ClockKind.ELAPSED
    # raised from 3 to 1 on the same order: recomputed from when it was taken
    raised = deadlines(T.COMPLAINT, f.created_at, CHINA, complaint_level=1, calendar=CAL)
    assert local(raised.finish_due_at) == "2026-03-05T10:00"


instants = st.datetimes(min_value=dt.datetime(2026, 1, 1), max_value=dt.datetime(2026, 11, 1)).map(
    lambda t: t.replace(tzinfo=CHINA))


@hsettings(max_examples=120, deadline=None)
@given(taken=instants, pause_after=st.floats(min_value=0, max_value=10 * 86400),
       pause_for=st.floats(min_value=0, max_value=20 * 86400))
def test_property_a_pause_keeps_the_remaining_working_time(taken: dt.datetime, pause_after: float,
                                                           pause_for: float) -> None:
    d = deadlines(T.SERVICE_APPLICATION, taken, CHINA, calendar=CAL)
    assert d.finish_due_at is not None
    paused_at = taken + dt.timedelta(seconds=pause_after)
    if paused_at >= d.finish_due_at:
        return
    resumed_at = paused_at + dt.timedelta(seconds=pause_for)
    new_due, _ = resume_finish(d.finish_due_at, paused_at, resumed_at, ClockKind.WORKING, CHINA, CAL)
    left_before = working_seconds(paused_at, d.finish_due_at, CHINA, CAL)
    assert working_seconds(resumed_at, new_due, CHINA, CAL) == pytest.approx(left_before, abs=1e-3)
