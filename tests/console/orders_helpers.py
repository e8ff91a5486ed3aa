"""Units and unit accounts for the console's work-order tests (the console fixture seeds agents already)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import bcrypt

from ivr.db import Database
from ivr.db.models import Agent, Role, Unit, Utility, utcnow
from ivr.workorders import NewWorkOrder, OrderSource, WorkOrderService
from ivr.db.models import WorkOrder, WorkOrderType
from tests.acd.helpers import PASSWORD


async def seed_units(db: Database) -> dict[str, int]:
    """Units qx/gw/yy/kf and unit logins u-qx, u-gw (the test password); returns their agent pks."""
    pw = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    pks: dict[str, int] = {}
    async with db.begin() as s:
        for code, name, handles in [("qx", "抢修中心", ["emergency", "repair"]), ("gw", "管网所", []),
                                    ("yy", "营业厅", ["service_application", "consultation"]),
                                    ("kf", "客服中心", ["complaint", "report", "opinion", "suggestion", "praise"])]:
            s.add(Unit(code=code, name=name, utility=Utility.GAS, handles=handles))
        await s.flush()
        for agent_id, name, unit in [("u-qx", "抢修员", "qx"), ("u-gw", "管网员", "gw")]:
            a = Agent(agent_id=agent_id, name=name, role=Role.UNIT, password_hash=pw, unit_code=unit)
            s.add(a)
            await s.flush()
            pks[agent_id] = a.id
    return pks


async def order_at(orders: WorkOrderService, unit: str, *, kind: WorkOrderType = WorkOrderType.REPAIR,
                   at: dt.datetime | None = None, owner_pk: int | None = None, dispatch_by: Any = None,
                   **kw: Any) -> WorkOrder:
    """An order dispatched to `unit` (by the given actor), taken `at` (default now)."""
    o = await orders.create(NewWorkOrder(kind, kw.pop("description", "灶具打不着火"), OrderSource.CONSOLE,
                                         contact_phone=kw.pop("phone", "13800138000"), unit=unit, owner_pk=owner_pk,
                                         address="东城区解放路12号", **kw), at=at or utcnow())
    if dispatch_by is not None and o.status.value == "new":
        o = await orders.apply(o.id, "dispatch", dispatch_by, at=at or utcnow())
    return o
