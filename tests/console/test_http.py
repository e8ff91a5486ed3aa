"""The console over real HTTP and WebSocket: who gets in, who sees what, and the JSON API the pages use."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Awaitable, Callable, TypeVar

import aiohttp
from sqlalchemy import select

from tests.fakes.acd import FakeChannel
from ivr.db.models import Agent, AgentState, CallEvent, WorkOrder, WorkOrderType
from tests.acd.helpers import EventLog, Request
from tests.console.conftest import Console, http, login, rich_call

T = TypeVar("T")


async def within(aw: Awaitable[T]) -> T:
    async with asyncio.timeout(10):  # a guard against a hung test, not a speed assertion
        return await aw


async def next_of(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        msg = await within(ws.receive())
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        data = json.loads(msg.data)
        if data["type"] == kind:
            return data


async def test_anonymous_users_get_nothing(console: Callable[..., Any]) -> None:
    c, server = await console()
    async with http(server) as client:
        for path in ("/agent", "/wallboard", "/"):
            r = await client.get(path, allow_redirects=False)
            assert r.status == 302 and r.headers["Location"].startswith("/login"), path
        for method, path in (("GET", "/api/me"), ("GET", "/api/calls/1"), ("GET", "/api/wallboard"),
                             ("POST", "/api/agent/state"), ("POST", "/api/calls/1/hangup"),
                             ("POST", "/api/calls/1/wrapup")):
            r = await client.request(method, path, json={})
            assert r.status == 401, (method, path)
            assert (await r.json())["error"] == "请先登录"
        try:
            async with client.ws_connect("/ws"):
                raise AssertionError("anonymous WebSocket accepted")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 401
        # A forged cookie is as good as none.
        client.cookie_jar.update_cookies({"hotline_session": "eyJwayI6MX0.forged"})
        assert (await client.get("/api/me")).status == 401


async def test_login_cookie_lockout_and_logout(console: Callable[..., Any]) -> None:
    c, server = await console()
    async with http(server) as client:
        r = await client.post("/login", data={"agent_id": "1001", "password": "wrong-one"}, allow_redirects=False)
        assert r.status == 200 and "工号或密码错误" in await r.text() and "hotline_session" not in r.cookies
        r = await client.post("/login", data={"agent_id": "1001", "password": "hotline123", "next": "//evil.example/"},
                              allow_redirects=False)
        assert r.status == 302 and r.headers["Location"] == "/agent"  # no open redirect
        cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        me = await (await client.get("/api/me")).json()
        assert me["agent_id"] == "1001" and me["role"] == "agent"
        token = client.cookie_jar.filter_cookies(server.make_url("/"))["hotline_session"].value
        page = await client.get("/agent")
        assert page.status == 200 and "坐席工作台" in await page.text()
        # Logout needs the CSRF token, then the old cookie is dead even if replayed.
        assert (await client.post("/logout", data={}, allow_redirects=False)).status == 403
        r = await client.post("/logout", data={"csrf": me["csrf"]}, allow_redirects=False)
        assert r.status == 302
        client.cookie_jar.update_cookies({"hotline_session": token})
        assert (await client.get("/api/me")).status == 401
    async with http(server) as other:
        for _ in range(5):
            await other.post("/login", data={"agent_id": "1002", "password": "nope-nope"})
        r = await other.post("/login", data={"agent_id": "1002", "password": "hotline123"}, allow_redirects=False)
        assert r.status == 429 and "分钟后再试" in await r.text()


async def test_roles_and_csrf(console: Callable[..., Any]) -> None:
    c, server = await console()
    async with http(server) as agent, http(server) as qa, http(server) as boss:
        csrf = await login(agent, "1001")
        await login(qa, "2001")
        await login(boss, "3001")
        assert (await agent.get("/wallboard")).status == 403
        assert (await qa.get("/agent")).status == 403
        assert (await qa.get("/wallboard")).status == 200
        assert (await boss.get("/api/wallboard")).status == 200
        # State change: no token, a wrong token, a foreign Origin are all refused; the right one works.
        assert (await agent.post("/api/agent/state", json={"action": "login"})).status == 403
        r = await agent.post("/api/agent/state", json={"action": "login"}, headers={"X-CSRF-Token": "x" * 43})
        assert r.status == 403
        r = await agent.post("/api/agent/state", json={"action": "login"},
                             headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"})
        assert r.status == 403
        r = await agent.post("/api/agent/state", json={"action": "login"}, headers={"X-CSRF-Token": csrf})
        assert r.status == 200 and (await r.json())["state"] == "not_ready"
        r = await agent.post("/api/agent/state", json={"action": "not_ready", "reason": "打游戏"},
                             headers={"X-CSRF-Token": csrf})
        assert r.status == 409 and "示忙原因" in (await r.json())["error"]
        try:
            async with agent.ws_connect("/ws?view=wall"):
                raise AssertionError("an agent got the wallboard feed")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 403
        try:
            async with boss.ws_connect("/ws?view=agent", headers={"Origin": "http://evil.example"}):
                raise AssertionError("cross-site WebSocket accepted")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 403
        # A deactivated agent's session ends with the next request.
        async with c.db.begin() as s:
            (await s.get(Agent, c.pk("1001"))).active = False
        assert (await agent.get("/api/me")).status == 401


async def _answered_call(c: Console, agent_id: str, call_id: int) -> tuple[asyncio.Task[Any], Any]:
    log = EventLog()
    c.acd.subscribe(log)
    await c.acd.login(c.pk(agent_id))
    await c.acd.set_ready(c.pk(agent_id))
    task = asyncio.create_task(c.acd.enqueue(call_id, FakeChannel(f"ch-{call_id}"), Request()))
    leg = await within(c.dialer.next_ring())
    leg.answer()
    await within(log.seen("call.answered", call_id=call_id))
    return task, leg


async def test_call_access_and_masking_by_role(console: Callable[..., Any]) -> None:
    c, server = await console()
    call_id = await rich_call(c.db, c.seeded)
    task, leg = await _answered_call(c, "1001", call_id)
    async with http(server) as a1, http(server) as a2, http(server) as qa, http(server) as boss:
        for client, who in ((a1, "1001"), (a2, "1002"), (qa, "2001"), (boss, "3001")):
            await login(client, who)
        mine = await a1.get(f"/api/calls/{call_id}")
        assert mine.status == 200
        pop = (await mine.json())["call"]
        assert pop["caller_number"] == "13800138000"  # the agent on the call sees caller ID
        assert pop["customer"]["id_number"] == "110***********1234"
        assert pop["ivr"][1]["inputs"][0]["value"] == "110***********1234"
        other = await a2.get(f"/api/calls/{call_id}")
        assert other.status == 404 and "无权" in (await other.json())["error"]
        assert (await a2.get("/api/calls/999999")).status == 404  # same answer: no probing which calls exist
        assert (await qa.get(f"/api/calls/{call_id}")).status == 403  # QA: the QA pages, masked
        full = (await (await boss.get(f"/api/calls/{call_id}")).json())["call"]
        assert full["caller_number"] == "13800138000" and full["customer"]["id_number"] == "110101194501011234"
        # Call control belongs to the agent on the call.
        r = await a2.post(f"/api/calls/{call_id}/hold", json={}, headers={"X-CSRF-Token": await _csrf(a2)})
        assert r.status == 409 and "不在您的坐席" in (await r.json())["error"]
        r = await a1.post(f"/api/calls/{call_id}/hangup", json={}, headers={"X-CSRF-Token": await _csrf(a1)})
        assert r.status == 200
        result = await within(task)
        assert result.first_hangup == "agent" and leg.cancelled


async def _csrf(client: aiohttp.ClientSession) -> str:
    return str((await (await client.get("/api/me")).json())["csrf"])


async def test_wrap_up_creates_a_work_order_once(console: Callable[..., Any]) -> None:
    c, server = await console()
    call_id = await rich_call(c.db, c.seeded)
    task, leg = await _answered_call(c, "1001", call_id)
    async with http(server) as a1, http(server) as a2:
        await login(a1, "1001")
        await login(a2, "1002")
        leg.hang_up()
        await within(task)
        assert c.acd.roster.get(c.pk("1001")).state is AgentState.WRAP_UP
        body = {"category": "故障报修", "notes": "灶具打不着火", "create_order": True, "order_type": "repair",
                "description": "灶具打不着火，需上门检修"}
        r = await a2.post(f"/api/calls/{call_id}/wrapup", json=body, headers={"X-CSRF-Token": await _csrf(a2)})
        assert r.status == 404
        r = await a1.post(f"/api/calls/{call_id}/wrapup", json={**body, "category": "闲聊"},
                          headers={"X-CSRF-Token": await _csrf(a1)})
        assert r.status == 400 and "分类" in (await r.json())["error"]
        r = await a1.post(f"/api/calls/{call_id}/wrapup", json={**body, "order_type": "callback_request"},
                          headers={"X-CSRF-Token": await _csrf(a1)})
        assert r.status == 400
        r = await a1.post(f"/api/calls/{call_id}/wrapup", json=body, headers={"X-CSRF-Token": await _csrf(a1)})
        assert r.status == 200
        number = (await r.json())["work_order"]
        assert number.startswith("GD")
        assert c.acd.roster.get(c.pk("1001")).state is AgentState.READY
        again = await a1.post(f"/api/calls/{call_id}/wrapup", json=body, headers={"X-CSRF-Token": await _csrf(a1)})
        assert again.status == 409
    async with c.db.session() as s:
        order = (await s.execute(select(WorkOrder).where(WorkOrder.number == number))).scalar_one()
        wrap = (await s.execute(select(CallEvent).where(CallEvent.call_id == call_id,
                                                       CallEvent.kind == "wrapup"))).scalar_one()
    assert order.type is WorkOrderType.REPAIR and order.call_id == call_id and order.owner_pk == c.pk("1001")
    assert order.customer_id == c.seeded.customers["张伟"] and order.contact_phone == "13800138000"
    assert order.dispatch_due_at is not None and order.finish_due_at is not None and order.callback_required
    assert wrap.data == {"agent_pk": c.pk("1001"), "agent_id": "1001", "category": "故障报修", "work_order": number}


async def test_websocket_snapshot_deltas_and_resume(console: Callable[..., Any]) -> None:
    c, server = await console()
    pk = c.pk("1001")
    async with http(server) as a1:
        csrf = await login(a1, "1001")
        async with a1.ws_connect("/ws") as ws:
            snap = await next_of(ws, "snapshot")
            assert snap["agent"]["state"] == "offline" and "休息" in snap["reasons"]
            assert snap["forbidden"] and "不归我管" in snap["forbidden"]
            await a1.post("/api/agent/state", json={"action": "login"}, headers={"X-CSRF-Token": csrf})
            delta = await next_of(ws, "agent")
            assert delta["agent"]["state"] == "not_ready" and delta["seq"] > snap["seq"]
            last = delta["seq"]
        # Missed while disconnected: replayed on reconnect with ?since=, nothing else of other agents.
        await c.acd.set_ready(pk)
        await c.acd.login(c.pk("1002"))
        async with a1.ws_connect(f"/ws?since={last}") as ws:
            resumed = await next_of(ws, "resumed")
            assert resumed["replayed"] == 1
            replay = await next_of(ws, "agent")
            assert replay["agent"]["state"] == "ready" and replay["agent"]["pk"] == pk
        # A sequence the history cannot serve (e.g. from before a restart) gets a fresh snapshot.
        async with a1.ws_connect("/ws?since=999999") as ws:
            assert (await next_of(ws, "snapshot"))["agent"]["state"] == "ready"


async def test_slow_client_is_dropped_not_waited_for(console: Callable[..., Any]) -> None:
    c, server = await console(console={"ws_queue_size": 8})
    hub = c.service.hub
    async with http(server) as boss:
        await login(boss, "3001")
        async with boss.ws_connect("/ws?view=wall") as ws:
            await next_of(ws, "snapshot")
            # A burst larger than the client's queue, published without yielding: the client is cut off.
            for i in range(50):
                hub.publish(("wall",), {"type": "noise", "i": i})
            assert hub.overflows == 1
            while True:
                msg = await within(ws.receive())
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
            assert ws.close_code == 4008


async def test_offer_brings_the_record_or_it_follows_at_once(console: Callable[..., Any]) -> None:
    c, server = await console()
    pk = c.pk("1001")
    async with http(server) as a1:
        await login(a1, "1001")
        await c.acd.login(pk)
        async with a1.ws_connect("/ws") as ws:
            await next_of(ws, "snapshot")
            # Queued while nobody is ready: the record is built while the caller waits, the offer carries it.
            call_id = await rich_call(c.db, c.seeded)
            waiting = asyncio.create_task(c.acd.enqueue(call_id, FakeChannel(f"ch-{call_id}"), Request()))
            await within(c.service.pop(call_id))
            await c.acd.set_ready(pk)
            offer = await next_of(ws, "offer")
            assert offer["call_id"] == call_id and offer["pop"]["customer"]["name"] == "张伟"
            assert offer["caller_number"] == "13800138000" and offer["queue"] == "general"
            assert offer["limit_seconds"] == 15 and offer["ring_count"] == 3
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            assert (await next_of(ws, "offer_end"))["result"] == "caller_gone"
            # An agent ready when the call arrives: the card goes out at once; the record with it or right after.
            call_id = await rich_call(c.db, c.seeded, customer="李娜")
            task = asyncio.create_task(c.acd.enqueue(call_id, FakeChannel(f"ch-{call_id}"), Request()))
            offer = await next_of(ws, "offer")
            assert offer["call_id"] == call_id and offer["caller_number"] == "13800138000"
            record = offer["pop"] or (await next_of(ws, "pop"))["pop"]
            assert record["customer"]["name"] == "李娜" and record["customer"]["id_number"] == "320***********4321"
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
