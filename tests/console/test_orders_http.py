"""The work-order pages and API over real HTTP: who sees which orders, transitions and their errors (zh/en),
the 12345 JSON API, wrap-up with several demands, reports and CSV, the wallboard's alerts."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

from ivr.db.models import Role, WorkOrderType as T, utcnow
from ivr.errors import HotlineError
from ivr.workorders import ORDERS, Actor, WorkOrderService
from ivr.workorders import exceptions as wx
from ivr.workorders.sweep import ClockSweep
from tests.acd.helpers import new_call
from tests.console.conftest import http, login
from tests.console.orders_helpers import order_at, seed_units

HOUR = dt.timedelta(hours=1)


def actor(c: Any, agent_id: str, role: Role, unit: str | None = None) -> Actor:
    return Actor(c.pk(agent_id) if agent_id in c.seeded.agents else None, role, unit, agent_id)


async def test_every_work_order_error_has_zh_and_en_text() -> None:
    from agent_console.errors import ERROR_TEXTS

    ids = {cls.error_id for cls in vars(wx).values() if isinstance(cls, type) and issubclass(cls, HotlineError)}
    assert ids - set(ERROR_TEXTS) == set()


async def test_a_unit_sees_its_queue_only_and_acts_on_it(console: Any) -> None:
    c, server = await console()
    units = await seed_units(c.db)
    orders: WorkOrderService = c.app[ORDERS]
    agent = actor(c, "1001", Role.AGENT)
    mine = await order_at(orders, "qx", dispatch_by=agent)
    theirs = await order_at(orders, "gw", dispatch_by=agent, description="管道漏气")
    async with http(server) as client:
        csrf = await login(client, "u-qx")
        home = await client.get("/", allow_redirects=False)
        assert home.headers["Location"] == "/orders/unit"
        page = await (await client.get("/orders/unit")).text()
        assert mine.number in page and theirs.number not in page and 'id="nav-unitqueue"' in page
        assert 'data-event="accept"' in page and 'data-event="return"' in page
        assert (await client.get(f"/orders/{theirs.id}")).status == 404  # another unit's order: not there
        assert (await client.get("/orders")).status == 403
        assert (await client.get("/agent")).status == 403
        h = {"X-CSRF-Token": csrf}
        r = await client.post(f"/api/orders/{theirs.id}/accept", json={}, headers=h)
        assert r.status == 404
        r = await client.post(f"/api/orders/{mine.id}/reply", json={"result": "x"}, headers=h)
        body = await r.json()
        assert r.status == 409 and body["error_id"] == "workorders.invalid_transition"
        assert body["error"] == "工单当前状态不能执行该操作"
        assert (await client.post(f"/api/orders/{mine.id}/accept", json={}, headers=h)).status == 200
        r = await client.post(f"/api/orders/{mine.id}/reply", json={"result": "  "}, headers=h,
                              cookies={"hotline_lang": "en"})
        body = await r.json()
        assert r.status == 400 and (body["error_id"], body["error"]) == ("workorders.result_required",
                                                                         "Describe the result")
        r = await client.post(f"/api/orders/{mine.id}/request_extension",
                              json={"reason": "需停气施工", "until": "2020-01-01T10:00"}, headers=h)
        assert (await r.json())["error_id"] == "workorders.deadline_in_past"
        r = await client.post(f"/api/orders/{mine.id}/explode", json={}, headers=h)
        assert r.status == 400 and (await r.json())["details"]["event"] == "explode"
        r = await client.post(f"/api/orders/{mine.id}/reply", data="[", headers={**h, "Content-Type": "application/json"})
        assert r.status == 400
        r = await client.post(f"/api/orders/{mine.id}/reply", json={"result": "已更换灶具阀门"}, headers=h)
        assert r.status == 200 and (await r.json())["status"] == "replied"
        assert (await client.post(f"/api/orders/{mine.id}/accept", json={})).status == 403  # no CSRF token
    got = await orders.get(mine.id)
    assert got.result == "已更换灶具阀门" and units["u-qx"] in [t.actor_pk for t in await orders.transitions(mine.id)]


async def test_agents_see_their_own_orders_and_supervisors_everything(console: Any) -> None:
    c, server = await console()
    await seed_units(c.db)
    orders: WorkOrderService = c.app[ORDERS]
    own = await order_at(orders, "qx", owner_pk=c.pk("1001"))
    other = await order_at(orders, "qx", owner_pk=c.pk("1002"), description="别人的工单")
    old = await order_at(orders, "gw", at=utcnow() - 3 * HOUR, owner_pk=c.pk("1002"))
    await orders.apply(old.id, "dispatch", actor(c, "1002", Role.AGENT), at=utcnow() - 3 * HOUR)
    await ClockSweep(orders).sweep()  # its 2 h contact deadline has passed
    async with http(server) as client:
        await login(client, "1001")
        page = await (await client.get("/orders/mine")).text()
        assert own.number in page and other.number not in page
        assert (await client.get(f"/orders/{own.id}")).status == 200
        assert (await client.get(f"/orders/{other.id}")).status == 404
        assert (await client.get("/orders/alerts")).status == 403
    async with http(server) as client:
        csrf = await login(client, "3001")
        page = await (await client.get("/orders")).text()
        assert own.number in page and other.number in page and old.number in page
        overdue = await (await client.get("/orders?clock=overdue")).text()
        assert old.number in overdue and own.number not in overdue
        bad = await (await client.get("/orders?status=lost&since=yesterday")).text()
        assert 'id="filter-errors"' in bad and "status lost" in bad
        alerts = await (await client.get("/orders/alerts")).text()
        assert old.number in alerts
        data = await (await client.get("/api/orders/alerts")).json()
        assert [o["number"] for o in data["orders"]] == [old.number]
        detail = await (await client.get(f"/orders/{old.id}")).text()
        assert 'data-event="reassign"' in detail and 'id="history"' in detail
        r = await client.post(f"/api/orders/{old.id}/reassign", json={"unit": "qx", "reason": "属抢修范围"},
                              headers={"X-CSRF-Token": csrf})
        assert r.status == 200
    assert (await orders.get(old.id)).unit_code == "qx"


async def test_12345_api(console: Any) -> None:
    c, server = await console()
    await seed_units(c.db)
    body = {"ref": "12345-2026-7", "type": "repair", "description": "楼道燃气味", "contact_phone": "13900139000",
            "address": "东城区解放路12号"}
    async with http(server) as client:
        csrf = await login(client, "3001")
        h = {"X-CSRF-Token": csrf}
        r = await client.post("/api/orders/forwarded", json=body, headers=h)
        first = await r.json()
        assert r.status == 201 and first["created"]
        r = await client.post("/api/orders/forwarded", json=body, headers=h)
        assert r.status == 200 and (await r.json())["number"] == first["number"]
        r = await client.post("/api/orders/forwarded", json={**body, "ref": "x2", "extra": 1}, headers=h)
        bad = await r.json()
        assert r.status == 400 and bad["error_id"] == "workorders.invalid_forwarded" and bad["details"]["field"] == "extra"
        assert "12345转办工单格式有误" in bad["error"]
        r = await client.post("/api/orders/forwarded", data="{nope", headers={**h, "Content-Type": "application/json"})
        assert r.status == 400
    async with http(server) as client:
        csrf = await login(client, "1001")
        r = await client.post("/api/orders/forwarded", json=body, headers={"X-CSRF-Token": csrf})
        assert r.status == 403


async def test_wrap_up_with_several_demands_and_an_outage(console: Any) -> None:
    c, server = await console()
    await seed_units(c.db)
    call_id = await new_call(c.db, customer_id=c.seeded.customers["张伟"])
    from sqlalchemy import select

    from ivr.db.models import Offer, OfferResult, Outage
    now = utcnow()
    async with c.db.begin() as s:
        s.add(Offer(call_id=call_id, agent_pk=c.pk("1001"), ring_started_at=now, deadline_at=now, answered_at=now,
                    result=OfferResult.ANSWERED))
        outage = (await s.execute(select(Outage.id))).scalar_one()
    async with http(server) as client:
        csrf = await login(client, "1001")
        r = await client.post(f"/api/calls/{call_id}/wrapup", headers={"X-CSRF-Token": csrf}, json={
            "category": "故障报修", "notes": "两件事", "create_order": True, "order_type": "repair",
            "demands": [{"type": "repair", "description": "热水器打不着火"},
                        {"type": "service_application", "description": "申请表位移动"}]})
        result = await r.json()
        assert r.status == 200 and len(result["work_orders"]) == 2
        page = await (await client.get("/orders/mine")).text()
        assert all(n in page for n in result["work_orders"])
    orders: WorkOrderService = c.app[ORDERS]
    parent = await order_at(orders, "qx", outage_id=outage, description="片区停气")
    again = await order_at(orders, "qx", outage_id=outage, description="也停气了")
    assert again.id == parent.id and (await orders.get(parent.id)).duplicates == 1


async def test_reports_and_csv(console: Any) -> None:
    c, server = await console()
    await seed_units(c.db)
    orders: WorkOrderService = c.app[ORDERS]
    a = await order_at(orders, "qx", at=utcnow() - 2 * HOUR)
    await orders.apply(a.id, "dispatch", actor(c, "1001", Role.AGENT), at=utcnow() - 2 * HOUR)  # on time
    b = await order_at(orders, "gw", at=utcnow() - HOUR)
    await orders.apply(b.id, "dispatch", actor(c, "1001", Role.AGENT), at=utcnow() - HOUR + dt.timedelta(minutes=30))
    local_now = dt.datetime.now(c.settings.hotline.zone)
    today, since = local_now.date().isoformat(), (local_now - dt.timedelta(days=1)).date().isoformat()
    async with http(server) as client:
        await login(client, "3001")
        page = await (await client.get(f"/orders/reports?since={since}&until={today}&group=unit")).text()
        assert "抢修中心" in page and "管网所" in page and "50.0%" in page  # one of two dispatched in time
        r = await client.get(f"/orders/reports.csv?since={since}&until={today}&group=unit")
        assert r.status == 200 and r.content_type == "text/csv"
        rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
        assert rows[0][0] == "分组" and rows[-1][0] == "合计" and rows[-1][1] == "3" and rows[-1][2] == "50.0"
        # the console's seeded order has no unit: its own row, named "—"
        assert (await client.get("/orders/reports?group=planet")).status == 400
        assert (await client.get("/orders/reports?since=2026-01-01&until=2025-01-01")).status == 400


async def test_the_wall_snapshot_carries_the_alerts_and_the_calendar_warning(console: Any) -> None:
    c, server = await console()
    await seed_units(c.db)
    orders: WorkOrderService = c.app[ORDERS]
    late = await order_at(orders, "qx", at=utcnow() - HOUR)
    await ClockSweep(orders).sweep()
    snap = await c.service.wall_snapshot()
    assert [o["number"] for o in snap["orders"]] == [late.number] and snap["orders"][0]["clock_state"] == "overdue"
    json.dumps(snap, default=str)
    # an open order with estimated deadlines: the supervisors are told which year's file is missing
    async with c.db.begin() as s:
        from sqlalchemy import update

        from ivr.db.models import WorkOrder
        await s.execute(update(WorkOrder).where(WorkOrder.id == late.id).values(deadlines_estimated=True))
    orders.calendar = type(orders.calendar)(use_package=False)  # a calendar that knows no year at all
    async with http(server) as client:
        await login(client, "3001")
        page = await (await client.get("/orders")).text()
        assert 'id="calendar-warning"' in page and "节假日安排尚未加载" in page
    assert T.REPAIR


async def test_the_pages_speak_english_on_request(console: Any) -> None:
    c, server = await console()
    await seed_units(c.db)
    orders: WorkOrderService = c.app[ORDERS]
    o = await order_at(orders, "qx", dispatch_by=actor(c, "1001", Role.AGENT))
    async with http(server) as client:
        await login(client, "u-qx")
        zh = await (await client.get("/orders/unit")).text()
        assert "本单位待办工单" in zh and ">签收<" in zh and "已派单" in zh
        client.cookie_jar.update_cookies({"hotline_lang": "en"})
        en = await (await client.get("/orders/unit")).text()
        assert "Orders at my unit" in en and ">Accept<" in en and "Dispatched" in en and "签收" not in en
        detail = await (await client.get(f"/orders/{o.id}")).text()
        assert f"Work order {o.number}" in detail and "History" in detail
