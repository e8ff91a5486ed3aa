"""The clock sweep: indexed UPDATEs turn open orders nearly due, overdue, urged and escalated, announce each
change once; old orders get clocks; a new holiday file recomputes estimated deadlines."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import time_machine
from sqlalchemy import text

from ivr.db import Database
from ivr.db.models import WorkOrder, WorkOrderStatus as S, WorkOrderType as T
from ivr.workorders import OrderEvent, WorkOrderService
from ivr.workorders.states import Event
from ivr.workorders.sweep import ClockSweep
from tests.builders import ZONE
from tests.workorders.helpers import TUE_10, new_order, seed_units

M = dt.timedelta(minutes=1)


def listen(orders: WorkOrderService) -> list[OrderEvent]:
    seen: list[OrderEvent] = []
    orders.subscribe(seen.append)
    return seen


async def test_near_then_overdue_once_each_and_announced(db: Database) -> None:
    await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    repair = await new_order(orders)  # dispatch due 10:05, warns at 10:04
    consult = await new_order(orders, T.CONSULTATION, unit="yy")  # dispatch due 10:20
    sweep = ClockSweep(orders)
    seen = listen(orders)
    r = await sweep.sweep(TUE_10 + 3 * M)
    assert r.changed == 0 and seen == []
    r = await sweep.sweep(TUE_10 + 4 * M)
    assert r.near == [repair.number] and r.overdue == []
    assert [(e.number, e.kind, e.event, e.clock_state) for e in seen] == [(repair.number, "clock", "near", "near")]
    r = await sweep.sweep(TUE_10 + 21 * M)  # past both dispatch deadlines; consult skips 'near'
    assert sorted(r.overdue) == sorted([repair.number, consult.number]) and r.near == []
    assert (await sweep.sweep(TUE_10 + 22 * M)).changed == 0  # nothing twice
    got = await orders.get(repair.id)
    assert (got.clock_state, got.version) == ("overdue", repair.version + 2)
    assert len([e for e in seen if e.event == "overdue"]) == 2


async def test_urge_the_working_day_after_and_escalate_five_working_days_later(db: Database) -> None:
    actors = await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    o = await new_order(orders)
    o = await orders.apply(o.id, Event.DISPATCH, actors["agent"], at=TUE_10 + M)
    answered = await new_order(orders)
    answered = await orders.apply(answered.id, Event.DISPATCH, actors["agent"], at=TUE_10 + M)
    sweep = ClockSweep(orders)
    noon = TUE_10 + dt.timedelta(hours=2)  # the 2 h contact deadline
    assert sorted((await sweep.sweep(noon)).overdue) == sorted([o.number, answered.number])
    assert (await sweep.sweep(noon + dt.timedelta(hours=23))).urged == []
    r = await sweep.sweep(noon + dt.timedelta(days=1))  # Wednesday noon: 催办
    assert sorted(r.urged) == sorted([o.number, answered.number])
    await orders.apply(answered.id, Event.ANSWER_URGE, actors["qx"], at=noon + dt.timedelta(days=1, hours=1),
                       reason="已约客户周五上门")
    assert (await sweep.sweep(noon + dt.timedelta(days=7))).escalated == []
    r = await sweep.sweep(noon + dt.timedelta(days=8))  # Wednesday's 催办 + 5 working days = next Wednesday
    assert r.escalated == [o.number]
    log = [t.event for t in await orders.transitions(o.id)]
    assert log[-2:] == ["urge", "escalate"]
    assert (await sweep.sweep(noon + dt.timedelta(days=9))).changed == 0


async def test_the_sweep_runs_on_the_clock_it_is_given_or_the_real_one(db: Database) -> None:
    await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    o = await new_order(orders)
    with time_machine.travel(TUE_10 + 10 * M, tick=False):
        r = await ClockSweep(orders).sweep()
    assert r.overdue == [o.number]


async def test_orders_from_before_the_clocks_get_one(db: Database) -> None:
    orders = WorkOrderService(db, ZONE)
    async with db.begin() as s:
        s.add(WorkOrder(number="GD2026030300009", type=T.REPAIR, status=S.NEW, description="旧工单", created_at=TUE_10,
                        dispatch_due_at=TUE_10 + 5 * M))
    r = await ClockSweep(orders).sweep(TUE_10 + M)
    assert r.clocks_set == 1
    async with db.session() as s:
        row = (await s.execute(text("SELECT clock_state, clock_stage FROM work_orders"))).one()
    assert tuple(row) == ("ok", "dispatch")


async def test_a_new_year_file_recomputes_estimated_deadlines(db: Database, tmp_path: Path) -> None:
    await seed_units(db)
    cal_dir = tmp_path / "calendar"
    cal_dir.mkdir()
    orders = WorkOrderService(db, ZONE)
    sweep = ClockSweep(orders, calendar_dir=cal_dir)
    await sweep.sweep(TUE_10)  # loads the (empty) directory: 2027 unknown
    taken = dt.datetime(2026, 12, 30, 10, 0, tzinfo=ZONE)
    o = await new_order(orders, at=taken)
    assert o.deadlines_estimated and o.finish_due_at == dt.datetime(2027, 1, 4, 10, 0, tzinfo=ZONE)
    (cal_dir / "2027.json").write_text(json.dumps({"year": 2027, "days": [
        {"name": "元旦", "date": "2027-01-01", "isOffDay": True}]}, ensure_ascii=False), encoding="utf-8")
    r = await sweep.sweep(taken + M)
    assert r.calendar_reloaded and r.recomputed == 1
    got = await orders.get(o.id)
    assert not got.deadlines_estimated and got.finish_due_at == dt.datetime(2027, 1, 5, 10, 0, tzinfo=ZONE)
    assert (await orders.transitions(o.id))[-1].event == "recompute"
    assert not (await sweep.sweep(taken + 2 * M)).calendar_reloaded  # unchanged files are not read again


async def test_the_sweep_queries_use_the_clock_indexes(db: Database) -> None:
    from sqlalchemy import select

    from ivr.workorders.sweep import T

    queries = {"ix_work_orders_clock_warn": select(T.c.id).where(T.c.clock_state == "ok",
                                                                 T.c.clock_warn_at <= TUE_10),
               "ix_work_orders_clock_due": select(T.c.id).where(T.c.clock_state == "near", T.c.clock_due_at <= TUE_10),
               "ix_work_orders_clock_urge": select(T.c.id).where(T.c.clock_state == "overdue", T.c.urge_at <= TUE_10,
                                                                 T.c.urged_at.is_(None))}
    async with db.engine.connect() as conn:
        for index, q in queries.items():
            sql = q.compile(conn.engine, compile_kwargs={"literal_binds": True})
            if db.is_sqlite:
                plan = " ".join(str(r[-1]) for r in (await conn.execute(text(f"EXPLAIN QUERY PLAN {sql}"))).all())
                assert index in plan, plan
            else:
                # an empty table has no statistics to pick between the clock indexes: ask whether it can use one
                # (bench/workorders_sweep.py times the real thing over 100,000 orders)
                await conn.execute(text("SET enable_seqscan = off"))
                plan = " ".join(str(r[0]) for r in (await conn.execute(text(f"EXPLAIN {sql}"))).all())
                assert "Index" in plan and "ix_work_orders_clock_" in plan and "Seq Scan" not in plan, plan
