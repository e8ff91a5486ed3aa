"""Shared set-up of the work-order tests: responsible units, their staff, orders in a given state."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update

from ivr.db import Database
from ivr.db.models import Agent, Role, Unit, Utility, WorkOrder, WorkOrderStatus, WorkOrderTransition, WorkOrderType
from ivr.workorders import Actor, NewWorkOrder, OrderSource, WorkOrderService
from tests.builders import ZONE

UNITS = [("qx", "抢修中心", Utility.GAS, ["emergency", "repair"]), ("gw", "管网所", Utility.GAS, []),
         ("yy", "营业厅", Utility.GAS, ["service_application", "consultation"]),
         ("kf", "客服中心", None, ["complaint", "report", "opinion", "suggestion", "praise"])]
TUE_10 = dt.datetime(2026, 3, 3, 10, 0, tzinfo=ZONE).astimezone(dt.timezone.utc)


async def seed_units(db: Database) -> dict[str, Actor]:
    """The units and one account per role; returns the actors by name (agent, supervisor, admin, unit codes)."""
    actors: dict[str, Actor] = {}
    async with db.begin() as s:
        for code, name, utility, handles in UNITS:
            s.add(Unit(code=code, name=name, utility=utility, handles=handles, phone=""))
        await s.flush()
        people = [("1001", "李晓梅", Role.AGENT, None), ("3001", "周班长", Role.SUPERVISOR, None),
                  ("9001", "管理员", Role.ADMIN, None), ("u-qx", "抢修员", Role.UNIT, "qx"),
                  ("u-gw", "管网员", Role.UNIT, "gw")]
        for agent_id, name, role, unit in people:
            a = Agent(agent_id=agent_id, name=name, role=role, password_hash="x", unit_code=unit)
            s.add(a)
            await s.flush()
            key = unit or role.value
            actors[key] = Actor(a.id, role, unit, f"{agent_id} {name}")
    return actors


async def new_order(orders: WorkOrderService, kind: WorkOrderType = WorkOrderType.REPAIR, *, unit: str = "qx",
                    at: dt.datetime = TUE_10, **kw: Any) -> WorkOrder:
    return await orders.create(NewWorkOrder(kind, kw.pop("description", "灶具不打火"), OrderSource.CONSOLE,
                                            contact_phone="13800138000", unit=unit, **kw), at=at)


async def force_status(db: Database, order_id: int, status: WorkOrderStatus, **values: Any) -> None:
    """Put an order in a state directly (the transition tests start from every state)."""
    async with db.begin() as s:
        await s.execute(update(WorkOrder).where(WorkOrder.id == order_id).values(status=status, **values))


async def snapshot(db: Database, order_id: int) -> tuple[dict[str, Any], int]:
    """The order's columns and how many transitions it has: what 'nothing changed' compares."""
    async with db.session() as s:
        row = await s.get(WorkOrder, order_id)
        assert row is not None
        n = (await s.execute(select(func.count(WorkOrderTransition.id)).where(
            WorkOrderTransition.order_id == order_id))).scalar_one()
    cols = {c.key: getattr(row, c.key) for c in WorkOrder.__table__.columns}
    return cols, n
