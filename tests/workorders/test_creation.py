"""Where orders come from: a gas alarm (dispatched at once, back-filled), several demands in one call (one order
per unit), 首问负责, the 12345 JSON, complaint levels raised by "the same matter", outage duplicates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from ivr.db import Database
from ivr.db.models import Offer, OfferResult, WorkOrder, WorkOrderStatus as S, WorkOrderType as T
from ivr.errors import HotlineError
from ivr.workorders import Demand, NewWorkOrder, OrderSource, WorkOrderService
from ivr.workorders.exceptions import (
    DeadlineInPast,
    EmptyDescription,
    InvalidComplaintLevel,
    InvalidForwarded,
    UnknownOutage,
    UnknownUnit,
)
from tests.acd.helpers import new_call
from tests.builders import ZONE
from tests.flows.conftest import add_customer, add_outage
from tests.workorders.helpers import TUE_10, seed_units

H = dt.timedelta(hours=1)


async def count(db: Database) -> int:
    async with db.session() as s:
        return int((await s.execute(select(func.count(WorkOrder.id)))).scalar_one())


def order(kind: T, text: str = "报修", **kw: Any) -> NewWorkOrder:
    return NewWorkOrder(kind, text, OrderSource.CONSOLE, contact_phone=kw.pop("phone", "13800138000"), **kw)


async def test_a_gas_alarm_is_dispatched_at_once_and_back_filled(db: Database) -> None:
    await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    o = await orders.create(order(T.EMERGENCY, "厨房闻到燃气味"), at=TUE_10)
    assert (o.status, o.unit_code, o.dispatched_at) == (S.DISPATCHED, "qx", TUE_10)  # qx handles emergencies
    assert (o.clock_stage, o.clock_due_at) == ("contact", TUE_10 + dt.timedelta(minutes=30))  # crew on site
    log = await orders.transitions(o.id)
    assert [t.event for t in log] == ["create", "dispatch"] and log[1].data["backfilled"] is True
    assert "补派" in log[1].reason


async def test_without_a_unit_the_alarm_waits_for_dispatch_overdue_at_once(db: Database) -> None:
    orders = WorkOrderService(db, ZONE)
    o = await orders.create(order(T.EMERGENCY, "燃气泄漏"), at=TUE_10)
    assert (o.status, o.unit_code, o.clock_stage, o.clock_state) == (S.NEW, None, "dispatch", "overdue")


async def test_several_demands_one_order_per_unit_and_the_call_is_the_highest_type(db: Database) -> None:
    await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    base = order(T.CONSULTATION, "")
    made, call_type = await orders.create_for_call([
        Demand(T.CONSULTATION, "咨询阶梯气价"), Demand(T.REPAIR, "热水器打不着火"),
        Demand(T.SERVICE_APPLICATION, "申请燃气表移位")], base=base, at=TUE_10)
    assert call_type is T.REPAIR
    by_unit = {o.unit_code: o for o in made}
    assert set(by_unit) == {"yy", "qx"}
    assert by_unit["qx"].type is T.REPAIR and by_unit["qx"].description == "热水器打不着火"
    yy = by_unit["yy"]
    assert yy.type is T.SERVICE_APPLICATION  # the higher of consultation and service application
    assert yy.description == "1. 咨询阶梯气价；2. 申请燃气表移位"
    assert len({o.number for o in made}) == 2 and await count(db) == 2
    with pytest.raises(EmptyDescription):
        await orders.create_for_call([], base=base, at=TUE_10)


async def test_the_first_agent_who_answered_owns_the_order_across_a_transfer(db: Database) -> None:
    actors = await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    first, second = actors["agent"].agent_pk, actors["supervisor"].agent_pk
    assert first is not None and second is not None
    call_id = await new_call(db)
    async with db.begin() as s:
        s.add(Offer(call_id=call_id, agent_pk=first, ring_started_at=TUE_10, deadline_at=TUE_10,
                    answered_at=TUE_10, result=OfferResult.ANSWERED))
        s.add(Offer(call_id=call_id, agent_pk=second, ring_started_at=TUE_10 + H, deadline_at=TUE_10 + H,
                    answered_at=TUE_10 + H, result=OfferResult.ANSWERED))  # the transfer
    o = await orders.create(order(T.REPAIR, call_id=call_id, owner_pk=second), at=TUE_10 + 2 * H)
    assert o.owner_pk == first


async def test_12345_orders_in_and_the_same_ref_twice_is_one_order(db: Database) -> None:
    await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    now = TUE_10
    body = {"ref": "12345-2026-000123", "type": "complaint", "description": "小区燃气压力不足", "topic": "燃气压力",
            "contact_phone": "139 0013 9000", "address": "东城区解放路1号", "complaint_level": 2,
            "received_at": "2026-03-03T09:50:00+08:00", "due_at": "2026-03-03T20:00:00+08:00"}
    o, created = await orders.create_forwarded(body, now=now)
    assert created and (o.source, o.external_ref, o.unit_code, o.complaint_level) == ("12345", body["ref"], "kf", 2)
    assert o.description.startswith("【12345转办 12345-2026-000123】") and o.contact_phone == "13900139000"
    assert o.created_at == dt.datetime(2026, 3, 3, 1, 50, tzinfo=dt.timezone.utc)  # the platform's time
    # the platform's 20:00 is earlier than the level's 24 h: the stricter deadline counts
    assert o.finish_due_at == dt.datetime(2026, 3, 3, 12, 0, tzinfo=dt.timezone.utc)
    again, created = await orders.create_forwarded(body, now=now + H)
    assert (again.id, created) == (o.id, False) and await count(db) == 1


@pytest.mark.parametrize(("body", "error", "field"), [
    ([1, 2], InvalidForwarded, "(body)"),
    ({"type": "repair", "description": "x"}, InvalidForwarded, "ref"),
    ({"ref": "r1", "type": "repair", "description": "x", "priority": "high"}, InvalidForwarded, "priority"),
    ({"ref": "r1", "type": "plumbing", "description": "x"}, InvalidForwarded, "type"),
    ({"ref": "r1", "type": "callback_request", "description": "x"}, InvalidForwarded, "type"),
    ({"ref": "../r1", "type": "repair", "description": "x"}, InvalidForwarded, "ref"),
    ({"ref": "r1", "type": "repair", "description": ""}, InvalidForwarded, "description"),
    ({"ref": "r1", "type": "repair", "description": "x", "due_at": "2026-03-04T10:00:00"}, InvalidForwarded,
     "due_at"),
    ({"ref": "r1", "type": "repair", "description": "x", "due_at": "2026-03-03T09:00:00+08:00"}, DeadlineInPast,
     "due_at"),
    ({"ref": "r1", "type": "complaint", "description": "x", "complaint_level": 4}, InvalidForwarded,
     "complaint_level"),
    ({"ref": "r1", "type": "repair", "description": "x", "unit": "nowhere"}, UnknownUnit, None),
    ({"ref": "r1", "type": "repair", "description": "x", "received_at": "2026-03-05T10:00:00+08:00"},
     InvalidForwarded, "received_at"),
])
async def test_malformed_12345_json_is_refused_and_writes_nothing(db: Database, body: Any,
                                                                  error: type[HotlineError], field: str | None) -> None:
    await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    with pytest.raises(error) as bad:
        await orders.create_forwarded(body, now=TUE_10)
    if field is not None:
        assert bad.value.details["field"] == field
    assert await count(db) == 0


async def complaint(orders: WorkOrderService, at: dt.datetime, *, customer: int | None = None, phone: str = "",
                    topic: str = "燃气压力", **kw: Any) -> WorkOrder:
    return await orders.create(order(T.COMPLAINT, "气压低", customer_id=customer, phone=phone, topic=topic, **kw),
                               at=at)


async def test_five_different_callers_on_the_same_matter_raise_it_to_level_2(db: Database) -> None:
    await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    customers = [await add_customer(db, name=f"客户{i}", phone=f"1390000000{i}",
                                    accounts=((f"G20240000{i:02d}", "gas", "0", "0"),)) for i in range(5)]
    other_area = await add_customer(db, name="外区", phone="13700000000", area="A09", accounts=())
    earlier = [await complaint(orders, TUE_10 + i * H, customer=c) for i, c in enumerate(customers[:4])]
    assert all(o.complaint_level == 3 for o in earlier)
    await complaint(orders, TUE_10, customer=other_area)  # another area: another matter
    await complaint(orders, TUE_10, customer=customers[0], topic="服务态度")  # another topic
    fifth = await complaint(orders, TUE_10 + 5 * H, customer=customers[4])
    assert fifth.complaint_level == 2 and fifth.finish_due_at == fifth.created_at + 24 * H
    log = await orders.transitions(fifth.id)
    assert log[0].data["level_reasons"] == ["different_callers"]
    raised = [await orders.get(o.id) for o in earlier]
    assert all(o.complaint_level == 2 for o in raised)
    assert all(o.finish_due_at == o.created_at + 24 * H for o in raised)  # recomputed from when taken
    assert (await orders.transitions(raised[0].id))[-1].event == "raise_level"


async def test_the_same_caller_five_times_or_a_lawsuit_is_level_1_a_group_level_2(db: Database) -> None:
    orders = WorkOrderService(db, ZONE)
    for i in range(4):
        assert (await complaint(orders, TUE_10 + i * H, phone="13912345678", address="西城区和平里 3-2")
                ).complaint_level == 3
    fifth = await complaint(orders, TUE_10 + 5 * H, phone="139-1234-5678", address="西城区和平里3-2")
    assert fifth.complaint_level == 1 and fifth.finish_due_at == fifth.created_at + 48 * H
    media = await complaint(orders, TUE_10, phone="13800000001", topic="抄表", complaint_flags=("media",))
    assert media.complaint_level == 1 and media.complaint_flags == ["media"]
    group = await complaint(orders, TUE_10, phone="13800000002", topic="施工扰民", group_size=12)
    assert group.complaint_level == 2
    # a month back only: complaints older than 30 days are another episode
    old = [await complaint(orders, TUE_10 - dt.timedelta(days=40) + i * H, phone="13600000000", topic="收费")
           for i in range(4)]
    assert (await complaint(orders, TUE_10, phone="13600000000", topic="收费")).complaint_level == 3
    assert all(o.complaint_level == 3 for o in old)
    with pytest.raises(InvalidComplaintLevel):
        await complaint(orders, TUE_10, phone="1", complaint_level=0)


async def test_outage_calls_attach_to_one_parent_order_with_a_counter(db: Database) -> None:
    await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    active = await add_outage(db, starts=TUE_10 - H, hours=6)
    over = await add_outage(db, starts=TUE_10 - 10 * H, hours=2)
    parent = await orders.create(order(T.REPAIR, "片区停气", outage_id=active, phone="13900000001"), at=TUE_10)
    for i in range(2, 4):
        again = await orders.create(order(T.REPAIR, "又停气了", outage_id=active, phone=f"1390000000{i}"),
                                    at=TUE_10 + i * dt.timedelta(minutes=5))
        assert again.id == parent.id
    assert (await orders.get(parent.id)).duplicates == 2 and await count(db) == 1
    attached = [t for t in await orders.transitions(parent.id) if t.event == "attach"]
    assert [t.data["contact_phone"] for t in attached] == ["13900000002", "13900000003"]
    separate = await orders.create(order(T.REPAIR, "停气", outage_id=over), at=TUE_10)
    assert separate.id != parent.id and await count(db) == 2  # that outage is over: a matter of its own
    with pytest.raises(UnknownOutage):
        await orders.create(order(T.REPAIR, "x", outage_id=987654), at=TUE_10)
    assert await count(db) == 2


async def test_bad_input_creates_nothing(db: Database) -> None:
    await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    bad: list[tuple[NewWorkOrder, type[HotlineError]]] = [
        (order(T.REPAIR, unit="nowhere"), UnknownUnit),
        (order(T.REPAIR, "  "), EmptyDescription),
        (order(T.REPAIR, due_at=TUE_10 - H), DeadlineInPast),
        (order(T.COMPLAINT, complaint_level=7), InvalidComplaintLevel)]
    for new, error in bad:
        with pytest.raises(error):
            await orders.create(new, at=TUE_10)
    # a batch fails as a whole: the good first demand is not filed without the bad second one
    with pytest.raises(UnknownUnit):
        await orders.create_for_call([Demand(T.REPAIR, "a"), Demand(T.CONSULTATION, "b", unit="nowhere")],
                                     base=order(T.REPAIR, ""), at=TUE_10)
    assert await count(db) == 0
