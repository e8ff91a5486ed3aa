"""The service as ivr/app.py builds it: the calendar from [workorders] calendar_dir, the warning share from the
settings, the clock sweep running on its own and its changes announced (what the console shows)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

from aiohttp.test_utils import TestServer

from ivr.app import build_app
from ivr.db.models import WorkOrderType, utcnow
from ivr.settings import Settings
from ivr.workorders import ORDERS, NewWorkOrder, OrderEvent, OrderSource
from ivr.workorders.sweep import SWEEP
from tests.fakes.acd import MemoryDialer

WAIT = 30.0  # a bound on a busy machine, never a speed assertion


async def test_the_app_builds_the_orders_with_the_settings_and_sweeps_by_itself(settings: Settings,
                                                                                 tmp_path: Path) -> None:
    cal_dir = tmp_path / "calendar"
    cal_dir.mkdir()
    (cal_dir / "2027.json").write_text(json.dumps({"year": 2027, "days": []}), encoding="utf-8")
    s = settings.model_copy(update={"workorders": settings.workorders.model_copy(update={
        "calendar_dir": cal_dir, "warn_share": 0.5, "sweep_seconds": 0.2})})
    server = TestServer(build_app(s, dialer=MemoryDialer()), host="127.0.0.1")
    await server.start_server()
    try:
        app = server.app
        orders = app[ORDERS]
        assert orders.calendar.knows(2027) and orders.policy.share == 0.5 and SWEEP in app
        overdue = asyncio.Event()

        def seen(ev: OrderEvent) -> None:
            if ev.event == "overdue":
                overdue.set()

        orders.subscribe(seen)
        await orders.create(NewWorkOrder(WorkOrderType.REPAIR, "一小时前受理，仍未派单", OrderSource.CLI),
                            at=utcnow() - dt.timedelta(hours=1))
        await asyncio.wait_for(overdue.wait(), WAIT)  # the service's own sweep found it
    finally:
        await server.close()
