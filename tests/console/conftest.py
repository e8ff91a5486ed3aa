"""Console fixtures: the console on a real aiohttp server with a real ACD over an in-memory dialer, seeded data."""

from __future__ import annotations

import datetime as dt
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from agent_console import setup_console
from agent_console.keys import CONSOLE
from ivr import keys
from ivr.workorders import ORDERS, WorkOrderService
from ivr.acd.service import ACD
from ivr.app import ACD_DIALER, acd_ctx
from ivr.acd.service import Acd
from tests.fakes.acd import MemoryDialer
from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import Call, Outage, Utility, WorkOrder, WorkOrderStatus, WorkOrderType, utcnow
from ivr.settings import Settings
from tests.acd.helpers import PASSWORD, Seeded, new_call, seed


@dataclass
class Console:
    app: web.Application
    db: Database
    settings: Settings
    dialer: MemoryDialer
    seeded: Seeded

    @property
    def acd(self) -> Acd:
        return self.app[ACD]

    @property
    def service(self) -> Any:
        return self.app[CONSOLE]

    def pk(self, agent_id: str) -> int:
        return self.seeded.agents[agent_id]


def console_app(settings: Settings, db: Database, dialer: MemoryDialer) -> web.Application:
    app = web.Application()
    app[keys.SETTINGS] = settings
    app[keys.DB] = db
    app[ORDERS] = WorkOrderService(db, settings.hotline.zone)
    app[ACD_DIALER] = dialer
    app.cleanup_ctx.append(acd_ctx)
    setup_console(app)
    return app


async def rich_call(db: Database, seeded: Seeded, *, customer: str = "张伟", verified: bool = True) -> int:
    """A call with an IVR path behind it, from a customer with history: what a screen pop is made of."""
    cid = seeded.customers[customer]
    call_id = await new_call(db, caller="13800138000", customer_id=cid, verified=verified)
    t = Timeline(db)
    for kind, data in [("ivr.node", {"node": "main_menu", "type": "menu"}),
                       ("ivr.input", {"node": "main_menu", "kind": "digits", "value": "2"}),
                       ("ivr.node", {"node": "verify_id", "type": "verify"}),
                       ("ivr.input", {"node": "verify_id", "kind": "digits", "value": "110101194501011234"}),
                       ("ivr.verify", {"node": "verify_id", "ok": True}),
                       ("ivr.node", {"node": "to_agent", "type": "queue"})]:
        await t.add_event(call_id, kind, data)
    return call_id


async def seed_history(db: Database, seeded: Seeded) -> None:
    now = utcnow()
    cid = seeded.customers["张伟"]
    old = await new_call(db, caller="13800138000", customer_id=cid)
    await Timeline(db).update(old, outcome="answered", category="故障报修", agent_pk=seeded.agents["1002"],
                              started_at=now - dt.timedelta(days=2))
    async with db.begin() as s:
        s.add(WorkOrder(number="GD2026010100001", type=WorkOrderType.REPAIR, status=WorkOrderStatus.DISPATCHED,
                        customer_id=cid, contact_phone="13800138000", description="燃气表不走字", created_at=now))
        s.add(Outage(area_code="A01", utility=Utility.GAS, planned=True, starts_at=now + dt.timedelta(hours=5),
                     ends_at=now + dt.timedelta(hours=9), reason="管网改造", notice="明日停气"))


@pytest.fixture
async def console(db: Database, settings: Settings) -> AsyncIterator[Callable[..., Any]]:
    """A factory: `await console(ring={...})` starts the app on a real server and returns (Console, server)."""
    servers: list[TestServer] = []

    async def start(**sections: dict[str, Any]) -> tuple[Console, TestServer]:
        s = settings
        for name, values in sections.items():
            s = s.model_copy(update={name: getattr(s, name).model_copy(update=values)})
        seeded = await seed(db)
        await seed_history(db, seeded)
        dialer = MemoryDialer()
        app = console_app(s, db, dialer)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return Console(app, db, s, dialer, seeded), server

    try:
        yield start
    finally:
        for server in servers:
            await server.close()


@asynccontextmanager
async def http(server: TestServer) -> AsyncIterator[aiohttp.ClientSession]:
    """A browser-like HTTP client of the server (keeps cookies, also for 127.0.0.1)."""
    base = f"http://{server.host}:{server.port}"
    async with aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def login(client: aiohttp.ClientSession, agent_id: str, password: str = PASSWORD) -> str:
    """Log in through the form; returns the CSRF token of the session."""
    r = await client.post("/login", data={"agent_id": agent_id, "password": password, "next": "/"},
                          allow_redirects=False)
    assert r.status == 302, await r.text()
    me = await client.get("/api/me")
    assert me.status == 200
    return str((await me.json())["csrf"])


__all__ = ["Console", "console_app", "http", "login", "rich_call", "PASSWORD", "Call"]


# --- real headless Chromium ---------------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


async def agent_page(browser: Any, server: TestServer, agent_id: str, path: str = "/agent") -> Any:
    """A fresh browser context (its own cookies) logged in through the login form, on `path`."""
    context = await browser.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"http://{server.host}:{server.port}{path}")
    await page.fill("#agent_id", agent_id)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_url(f"**{path}")
    return page


async def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
