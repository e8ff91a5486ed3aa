"""Sessions that end, over real HTTP and WebSockets: logout, a disabled account, a changed role or password
(from `hotline agents ...` in a process of its own) close the open sockets; revocations survive a restart;
the idle timeout and the absolute lifetime."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from agent_console.hub import CLOSE_SESSION_ENDED
from ivr.db import Database
from ivr.db.models import ConsoleSession
from ivr.settings import Settings
from tests.acd.helpers import seed
from tests.console.conftest import agent_page, browser  # noqa: F401 (browser: the Chromium fixture)
from tests.security.console_helpers import (Clock, closed, cookie, hotline_cli, login, open_socket, pong,
                                            refused_upgrade, running, visitor, with_console, within)


async def test_logout_closes_that_sessions_sockets_at_once(db: Database, settings: Settings) -> None:
    await seed(db)
    async with running(settings, db) as console, visitor(console) as desk, visitor(console) as other_desk:
        csrf = await login(desk, "1001")
        await login(other_desk, "1001")  # the same agent in a second browser: a session of its own
        ws, ws_other = await open_socket(desk), await open_socket(other_desk)
        token = cookie(desk, console)
        r = await desk.post("/logout", data={"csrf": csrf}, allow_redirects=False)
        assert r.status == 302
        assert await closed(ws) == (CLOSE_SESSION_ENDED, "session ended: logout")
        assert await pong(ws_other)  # the other browser's session goes on
        desk.cookie_jar.update_cookies({"hotline_session": token})  # the old cookie, replayed
        assert (await desk.get("/api/me")).status == 401
        assert await refused_upgrade(desk) == 401
        await ws_other.close()


async def _agent_pks(db: Database, *agent_ids: str) -> list[int]:
    from ivr.db.models import Agent

    async with db.session() as s:
        return list((await s.execute(select(Agent.id).where(Agent.agent_id.in_(agent_ids)))).scalars())


async def test_the_cli_ends_sessions_in_the_running_service(db: Database, settings: Settings, db_url: str,
                                                            tmp_path: Path) -> None:
    await seed(db)
    s = with_console(settings, session_check_seconds=0.2)
    async with running(s, db) as console, visitor(console) as a1, visitor(console) as a2, \
            visitor(console) as qa:
        for client, who in ((a1, "1001"), (a2, "1002"), (qa, "2001")):
            await login(client, who)
        ws1, ws2, ws_qa = await open_socket(a1), await open_socket(a2), await open_socket(qa, "wall")

        out = await hotline_cli(db_url, tmp_path, "agents", "disable", "1001")
        assert "1 console session(s) ended" in out
        assert await closed(ws1) == (CLOSE_SESSION_ENDED, "session ended: disabled")
        assert await pong(ws2) and await pong(ws_qa)  # the same check left the others open
        assert (await a1.get("/api/me")).status == 401

        await hotline_cli(db_url, tmp_path, "agents", "passwd", "1002", "--password-stdin", stdin="new-secret-1\n")
        assert await closed(ws2) == (CLOSE_SESSION_ENDED, "session ended: password")
        assert (await a2.get("/api/me")).status == 401

        await hotline_cli(db_url, tmp_path, "agents", "set", "2001", "--role", "supervisor")
        assert await closed(ws_qa) == (CLOSE_SESSION_ENDED, "session ended: role")
        assert (await qa.get("/api/me")).status == 401
        # Logging in again gives the new role (and the old password no longer works for 1002).
        await login(qa, "2001")
        assert (await (await qa.get("/api/me")).json())["role"] == "supervisor"
        assert (await a2.post("/login", data={"agent_id": "1002", "password": "hotline123"},
                              allow_redirects=False)).status == 200
        await login(a2, "1002", "new-secret-1")


async def test_revocations_survive_a_restart(db: Database, settings: Settings, db_url: str,
                                             tmp_path: Path) -> None:
    await seed(db)
    s = with_console(settings, session_check_seconds=0.2)
    async with running(s, db) as first, visitor(first) as a, visitor(first) as b, visitor(first) as c:
        csrf = await login(a, "1001")
        await login(b, "1002")
        await login(c, "1003")
        tokens = {who: cookie(client, first) for who, client in (("1001", a), ("1002", b), ("1003", c))}
        assert (await a.post("/logout", data={"csrf": csrf}, allow_redirects=False)).status == 302
    # While the service is down an operator disables 1002.
    await hotline_cli(db_url, tmp_path, "agents", "disable", "1002")
    # A second service on the same database: what the first one knew in memory is gone.
    async with running(s, db) as second, visitor(second) as a, visitor(second) as b, visitor(second) as c:
        for client, who in ((a, "1001"), (b, "1002"), (c, "1003")):
            client.cookie_jar.update_cookies({"hotline_session": tokens[who]})
        assert (await a.get("/api/me")).status == 401 and await refused_upgrade(a) == 401  # logged out
        assert (await b.get("/api/me")).status == 401 and await refused_upgrade(b) == 401  # disabled
        # A session from before the restart that still counts reconnects, and its new socket...
        assert (await c.get("/api/me")).status == 200
        ws = await open_socket(c)
        # ...is closed when it is revoked.
        await hotline_cli(db_url, tmp_path, "agents", "passwd", "1003", "--password-stdin", stdin="new-secret-3\n")
        assert await closed(ws) == (CLOSE_SESSION_ENDED, "session ended: password")


async def test_idle_sessions_end_and_activity_keeps_them(db: Database, settings: Settings) -> None:
    await seed(db)
    clock = Clock(time.time())
    minute = 60.0
    # The periodic check is slowed down: the test runs the check itself after moving the clock.
    s = with_console(settings, idle_minutes=5, session_hours=1, session_check_seconds=300)
    async with running(s, db, clock=clock) as console, visitor(console) as idle, visitor(console) as busy, \
            visitor(console) as chatty:
        for client, who in ((idle, "1001"), (busy, "1002"), (chatty, "3001")):
            await login(client, who)
        ws_idle, ws_chatty = await open_socket(idle), await open_socket(chatty, "wall")
        sid = {who: await _sid(db, who) for who in ("1001", "1002", "3001")}

        clock.t += 3 * minute
        assert (await busy.get("/agent")).status == 200  # a page request: activity
        await ws_chatty.send_str('{"type": "activity"}')  # what the page reports when its user acts
        assert await pong(ws_chatty)  # (read in order: the activity has been noted)
        assert await pong(ws_idle)  # pings keep a socket open but are not activity
        assert (await idle.get("/api/me")).status == 200  # nor is the page's own login probe

        clock.t += 3 * minute  # 6 min after login, 3 after the others' activity
        ended = await console.store.sweep()
        assert ended == {sid["1001"]: "idle"}
        assert await closed(ws_idle) == (CLOSE_SESSION_ENDED, "session ended: idle")
        assert (await idle.get("/api/me")).status == 401
        assert (await busy.get("/api/me")).status == 200 and await pong(ws_chatty)

        clock.t += 2.5 * minute  # 5.5 min after their last activity
        assert await console.store.sweep() == {sid["3001"]: "idle"}
        assert await closed(ws_chatty) == (CLOSE_SESSION_ENDED, "session ended: idle")
        assert (await busy.get("/api/me")).status == 401

        # The absolute lifetime (1 h here) ends even a busy session.
        await login(busy, "1002")
        ws_busy = await open_socket(busy)
        for _ in range(12):  # 58.8 min of activity every 4.9 min
            clock.t += 4.9 * minute
            assert (await busy.get("/agent", allow_redirects=False)).status == 200
        clock.t += 2 * minute
        assert await console.store.sweep() == {await _sid(db, "1002"): "expired"}
        assert await within(closed(ws_busy)) == (CLOSE_SESSION_ENDED, "session ended: expired")
        assert (await busy.get("/api/me")).status == 401


async def _sid(db: Database, agent_id: str) -> str:
    pks = await _agent_pks(db, agent_id)
    async with db.session() as s:
        return (await s.execute(select(ConsoleSession.sid).where(ConsoleSession.agent_pk == pks[0])
                                .order_by(ConsoleSession.created_at.desc()).limit(1))).scalar_one()


async def _last_seen(db: Database, sid: str) -> float:
    async with db.session() as s:
        return (await s.get(ConsoleSession, sid)).last_seen_at.timestamp()  # type: ignore[union-attr]


@pytest.mark.browser
async def test_the_page_reports_its_users_activity_and_leaves_when_its_session_ends(
        db: Database, settings: Settings, browser: Any) -> None:
    await seed(db)
    clock = Clock(time.time())
    s = with_console(settings, idle_minutes=5, session_check_seconds=300)
    async with running(s, db, clock=clock) as console:
        page = await agent_page(browser, console.server, "1001")
        await page.wait_for_function("() => document.body.dataset.connected === '1'")
        sid = await _sid(db, "1001")
        clock.t += 4 * 60
        await page.mouse.move(200, 200)  # the user is there: the page says so over its socket
        await page.mouse.move(220, 240)
        async with asyncio.timeout(20):  # a guard: waits for the activity to reach the database
            while await _last_seen(db, sid) < clock.t - 1:  # (stored to the microsecond)
                await asyncio.sleep(0.05)
        clock.t += 3 * 60  # 7 min after login, 3 after the activity
        assert await console.store.sweep() == {}
        clock.t += 3 * 60  # nobody touched the page since
        assert await console.store.sweep() == {sid: "idle"}
        await page.wait_for_url("**/login?next=%2Fagent")  # the closed socket sends the page to the login form
        assert [e for e in page.errors if "401" not in e] == []  # (the 401 is the page's own login probe)
