"""The console on a real aiohttp server (real ACD over the in-memory dialer, the test's real database) for the
security tests: clients with their own source address on loopback, login, sockets, the access log."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from agent_console.auth import PASSWORD_CHECK, PasswordCheck
from agent_console.hub import Hub
from agent_console.keys import CONSOLE
from agent_console.sessions import SESSION_CLOCK, SESSION_STORE, SessionStore
from ivr.db import Database
from ivr.db.models import RecordingAccess
from ivr.settings import Settings
from tests.acd.helpers import PASSWORD
from tests.console.conftest import console_app
from tests.fakes.acd import MemoryDialer

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]


async def within(aw: Awaitable[T]) -> T:
    async with asyncio.timeout(20):  # a guard against a hung test, not a speed assertion
        return await aw


class Clock:
    """A wall clock the test moves (injected through the app's SESSION_CLOCK key)."""

    def __init__(self, start: float) -> None:
        self.t = start

    def __call__(self) -> float:
        return self.t


@dataclass
class Running:
    app: web.Application
    server: TestServer
    settings: Settings

    @property
    def store(self) -> SessionStore:
        return self.app[SESSION_STORE]

    @property
    def hub(self) -> Hub:
        return self.app[CONSOLE].hub

    @property
    def base(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"


def with_console(settings: Settings, **values: Any) -> Settings:
    return settings.model_copy(update={"console": settings.console.model_copy(update=values)})


@asynccontextmanager
async def running(settings: Settings, db: Database, *, clock: Callable[[], float] | None = None,
                  password_check: PasswordCheck | None = None) -> AsyncIterator[Running]:
    app = console_app(settings, db, MemoryDialer())
    if clock is not None:
        app[SESSION_CLOCK] = clock
    if password_check is not None:
        app[PASSWORD_CHECK] = password_check
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield Running(app, server, settings)
    finally:
        await server.close()


@asynccontextmanager
async def visitor(console: Running, source: str = "127.0.0.1") -> AsyncIterator[aiohttp.ClientSession]:
    """A client keeping its cookies, connecting from `source` (any 127.x.y.z is a local address on Linux)."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0), limit=0)
    async with aiohttp.ClientSession(base_url=console.base, cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     connector=connector) as session:
        yield session


async def try_login(client: aiohttp.ClientSession, agent_id: str, password: str = PASSWORD,
                    headers: dict[str, str] | None = None) -> tuple[int, str]:
    r = await client.post("/login", data={"agent_id": agent_id, "password": password, "next": "/"},
                          allow_redirects=False, headers=headers)
    return r.status, await r.text()


async def login(client: aiohttp.ClientSession, agent_id: str, password: str = PASSWORD) -> str:
    """Log in through the form; the CSRF token of the new session."""
    status, text = await try_login(client, agent_id, password)
    assert status == 302, text
    me = await client.get("/api/me")
    assert me.status == 200
    return str((await me.json())["csrf"])


def cookie(client: aiohttp.ClientSession, console: Running) -> str:
    return client.cookie_jar.filter_cookies(console.server.make_url("/"))["hotline_session"].value


async def open_socket(client: aiohttp.ClientSession, view: str = "agent") -> aiohttp.ClientWebSocketResponse:
    ws = await client.ws_connect(f"/ws?view={view}")
    first = json.loads((await within(ws.receive())).data)
    assert first["type"] == "snapshot", first
    return ws


async def pong(ws: aiohttp.ClientWebSocketResponse) -> bool:
    """True when the socket is open and answers a ping (a round trip through the server's reader)."""
    await ws.send_str(json.dumps({"type": "ping", "t": 1}))
    while True:
        msg = await within(ws.receive())
        if msg.type != aiohttp.WSMsgType.TEXT:
            return False
        if json.loads(msg.data)["type"] == "pong":
            return True


async def closed(ws: aiohttp.ClientWebSocketResponse) -> tuple[int | None, str]:
    """Wait for the server to close the socket: (close code, reason)."""
    while True:
        msg = await within(ws.receive())
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
            return ws.close_code, str(msg.extra or "")


async def refused_upgrade(client: aiohttp.ClientSession) -> int:
    try:
        async with client.ws_connect("/ws?view=agent"):
            raise AssertionError("WebSocket accepted")
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status


async def access_rows(db: Database) -> list[RecordingAccess]:
    async with db.session() as s:
        return list((await s.execute(select(RecordingAccess).order_by(RecordingAccess.id))).scalars())


async def hotline_cli(db_url: str, workdir: Path, *argv: str, stdin: str = "") -> str:
    """`hotline -c FILE ...` in a process of its own, as an operator runs it next to the service."""
    config = workdir / "cli.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["PYTHONPATH"] = str(REPO)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr.cli", "-c", str(config), *argv, cwd=workdir, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(120):  # a guard: the command imports the project and migrates
        out, err = await proc.communicate(stdin.encode())
    assert proc.returncode == 0, err.decode()
    return out.decode()
