"""Demo data: the units of a gas and a water utility with their logins, and open orders in every clock state."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from ivr.db import Database
from ivr.db.models import Agent, Role, Unit, WorkOrder
from ivr.demo import DEMO_AGENTS, load_demo_data
from tests.builders import ZONE

NOW = dt.datetime(2026, 3, 4, 15, 0, tzinfo=ZONE).astimezone(dt.timezone.utc)  # a Wednesday afternoon


async def test_demo_units_logins_and_orders_in_every_clock_state(db: Database) -> None:
    first = await load_demo_data(db, password="a-password-of-this-test", customers=5, now=NOW, zone=ZONE)
    assert first["units"] == 6 and first["orders"] == 6
    async with db.session() as s:
        units = {u.code: u for u in (await s.execute(select(Unit))).scalars()}
        staff = (await s.execute(select(Agent).where(Agent.role == Role.UNIT))).scalars().all()
        orders = (await s.execute(select(WorkOrder).order_by(WorkOrder.id))).scalars().all()
    assert {"燃气抢修中心", "燃气管网所", "燃气营业厅", "客服中心", "供水抢修队"} <= {u.name for u in units.values()}
    assert all(a.unit_code in units for a in staff) and len(staff) == sum(a.role is Role.UNIT for a in DEMO_AGENTS)
    assert {o.clock_state for o in orders} >= {"ok", "near", "overdue", "paused"}
    assert any(o.extension_state == "requested" for o in orders)
    assert all(o.unit_code for o in orders) and all(o.source == "demo" for o in orders)
    second = await load_demo_data(db, password="another", customers=5, now=NOW, zone=ZONE)
    assert second["units"] == 0 and second["orders"] == 0
