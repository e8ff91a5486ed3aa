"""Work-order deadlines from the rules (004 §14) and the callback window."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from ivr.db import Database
from ivr.db.models import WorkOrder, WorkOrderType
from ivr.workorders import NewWorkOrder, OrderSource
from ivr.workorders.exceptions import EmptyDescription, InvalidComplaintLevel, NaiveTime
from ivr.workorders.calendar import calendar_from_days
from ivr.workorders.rules import add_working_days, deadlines, into_callback_window
from tests.builders import ZONE as CHINA
from tests.builders import order_service

# Tuesday 2026-03-03 10:00 China time
TUE_10 = dt.datetime(2026, 3, 3, 10, 0, tzinfo=CHINA).astimezone(dt.timezone.utc)


def local(t: dt.datetime | None) -> dt.datetime:
    assert t is not None
    return t.astimezone(CHINA).replace(tzinfo=None)


def test_repair_dispatch_5_min_contact_2_h_finish_3_working_days() -> None:
    d = deadlines(WorkOrderType.REPAIR, TUE_10, CHINA)
    assert local(d.dispatch_due_at) == dt.datetime(2026, 3, 3, 10, 5)
    assert local(d.contact_due_at) == dt.datetime(2026, 3, 3, 12, 0)
    assert local(d.finish_due_at) == dt.datetime(2026, 3, 6, 10, 0)  # Friday
    assert d.callback_required
    assert local(d.callback_due_at) == dt.datetime(2026, 3, 9, 10, 0)  # next working day: Monday


def test_consultation_and_praise_need_no_callback_emergency_dispatches_at_once() -> None:
    c = deadlines(WorkOrderType.CONSULTATION, TUE_10, CHINA)
    assert local(c.dispatch_due_at) == dt.datetime(2026, 3, 3, 10, 20) and not c.callback_required
    assert c.callback_due_at is None
    # no 回访, but the centre still tells the caller the unit's answer (004 §14(二))
    assert local(c.reply_due_at) == dt.datetime(2026, 3, 5, 10, 0)
    assert deadlines(WorkOrderType.PRAISE, TUE_10, CHINA).reply_due_at is None
    assert not deadlines(WorkOrderType.PRAISE, TUE_10, CHINA).callback_required
    assert not deadlines(WorkOrderType.SUGGESTION, TUE_10, CHINA).callback_required
    e = deadlines(WorkOrderType.EMERGENCY, TUE_10, CHINA)
    assert e.dispatch_due_at == TUE_10
    assert local(e.contact_due_at) == dt.datetime(2026, 3, 3, 10, 30)  # crew on site within 30 min
    assert e.callback_required


@pytest.mark.parametrize(("level", "hours"), [(3, 3), (2, 24), (1, 48), (None, 3)])
def test_complaint_finish_depends_on_level(level: int | None, hours: int) -> None:
    d = deadlines(WorkOrderType.COMPLAINT, TUE_10, CHINA, complaint_level=level)
    assert d.dispatch_due_at == TUE_10 + dt.timedelta(minutes=5)
    assert d.finish_due_at == TUE_10 + dt.timedelta(hours=hours)


def test_bad_complaint_level_and_naive_time_are_refused() -> None:
    with pytest.raises(InvalidComplaintLevel, match="complaint level") as bad:
        deadlines(WorkOrderType.COMPLAINT, TUE_10, CHINA, complaint_level=4)
    assert bad.value.error_id == "workorders.invalid_complaint_level" and bad.value.details == {"level": 4}
    with pytest.raises(NaiveTime, match="aware"):
        deadlines(WorkOrderType.REPAIR, dt.datetime(2026, 3, 3, 10, 0), CHINA)


def test_working_days_skip_weekends_and_holidays() -> None:
    fri = dt.datetime(2026, 3, 6, 16, 0, tzinfo=CHINA)
    assert local(add_working_days(fri, 1, CHINA)) == dt.datetime(2026, 3, 9, 16, 0)
    day_off = calendar_from_days([("2026-03-09", "地方假日", True)])
    assert local(add_working_days(fri, 1, CHINA, day_off)) == dt.datetime(2026, 3, 10, 16, 0)
    sat = dt.datetime(2026, 3, 7, 9, 0, tzinfo=CHINA)
    assert local(add_working_days(sat, 1, CHINA)) == dt.datetime(2026, 3, 9, 9, 0)
    d = deadlines(WorkOrderType.SERVICE_APPLICATION, fri.astimezone(dt.timezone.utc), CHINA)
    assert local(d.finish_due_at) == dt.datetime(2026, 3, 17, 16, 0)  # 7 working days


@pytest.mark.parametrize(("at", "expected"), [
    (dt.datetime(2026, 3, 3, 7, 30), dt.datetime(2026, 3, 3, 8, 0)),
    (dt.datetime(2026, 3, 3, 12, 0), dt.datetime(2026, 3, 3, 12, 0)),
    (dt.datetime(2026, 3, 3, 21, 0), dt.datetime(2026, 3, 4, 8, 0)),
    (dt.datetime(2026, 3, 3, 23, 59), dt.datetime(2026, 3, 4, 8, 0)),
])
def test_no_callbacks_between_21_and_8(at: dt.datetime, expected: dt.datetime) -> None:
    assert local(into_callback_window(at.replace(tzinfo=CHINA), CHINA)) == expected


def test_callback_request_due_within_an_hour_but_not_at_night() -> None:
    evening = dt.datetime(2026, 3, 3, 20, 30, tzinfo=CHINA).astimezone(dt.timezone.utc)
    d = deadlines(WorkOrderType.CALLBACK_REQUEST, evening, CHINA)
    assert local(d.callback_due_at) == dt.datetime(2026, 3, 4, 8, 0)
    assert d.dispatch_due_at == evening


async def test_create_work_order_numbers_per_day_and_stores_deadlines(db: Database) -> None:
    orders = order_service(db)
    first = await orders.create(NewWorkOrder(WorkOrderType.REPAIR, " 灶具不打火 ", OrderSource.CONSOLE,
                                             contact_phone="13800138000"), at=TUE_10)
    second = await orders.create(NewWorkOrder(WorkOrderType.COMPLAINT, "态度差", OrderSource.CONSOLE),
                                 at=TUE_10 + dt.timedelta(minutes=1))
    assert first.number == "GD2026030300001" and second.number == "GD2026030300002"
    async with db.session() as s:
        rows = (await s.execute(select(WorkOrder).order_by(WorkOrder.id))).scalars().all()
    assert rows[0].description == "灶具不打火"
    assert rows[0].dispatch_due_at == TUE_10 + dt.timedelta(minutes=5)
    assert rows[1].complaint_level == 3 and rows[1].finish_due_at == TUE_10 + dt.timedelta(minutes=1, hours=3)
    with pytest.raises(EmptyDescription) as empty:
        await orders.create(NewWorkOrder(WorkOrderType.REPAIR, "  ", OrderSource.CONSOLE), at=TUE_10)
    assert empty.value.error_id == "workorders.empty_description"
    assert rows[0].history[0]["source"] == "console"  # where each order came from is on record
