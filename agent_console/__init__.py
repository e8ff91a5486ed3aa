"""The agent console: login, the agent page (state, screen pop, 3-ring countdown, scripts, wrap-up), the
supervisor wallboard, and the WebSocket that keeps them live.

    setup_console(app)   # after the ACD's cleanup_ctx (ivr.app.acd_ctx), which publishes ACD
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import AsyncIterator

from aiohttp import web

from agent_console import views
from agent_console.errors import errors_middleware
from agent_console.auth import (ACTIVITY, LOADER, LOGIN_LIMITER, PASSWORD_CHECK, PASSWORDS, SESSIONS, LoginLimiter,
                                LoginPolicy, PasswordChecker, Sessions, password_matches)
from agent_console.headers import setup_headers
from agent_console.hub import Hub
from agent_console.keys import CONSOLE
from agent_console.orders import setup_orders
from agent_console.qa import setup_qa
from agent_console.render import setup_templates
from agent_console.service import ConsoleService
from agent_console.sessions import SESSION_CLOCK, SESSION_STORE, SessionStore
from ivr import keys
from ivr.acd.service import ACD
from ivr.db import Database
from ivr.periodic import in_background, repeat
from ivr.settings import Settings
from ivr.workorders import ORDERS

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"


def forbidden_phrases(settings: Settings) -> list[str]:
    """The QA rubric's forbidden-phrase list, shown on every agent screen. Blocking (reads YAML)."""
    from recordings.qa.rubric import RubricError, load_rubric

    try:
        return [p.phrase for p in load_rubric(settings.qa.rubric).phrases]
    except RubricError as exc:
        log.error("console: forbidden phrases unavailable: %s", exc)
        return []


async def console_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    con = settings.console
    clock = app.get(SESSION_CLOCK, time.time)
    app[SESSIONS] = tokens = Sessions(con.secret, con.session_hours * 3600, clock=clock)
    app[LOGIN_LIMITER] = LoginLimiter(LoginPolicy.from_settings(con))
    app[PASSWORDS] = PasswordChecker(app.get(PASSWORD_CHECK, password_matches), concurrency=con.login_concurrency,
                                     max_waiting=con.login_max_waiting)
    hub = Hub(settings.console.ws_queue_size)
    app[SESSION_STORE] = store = SessionStore(app[keys.DB], tokens, idle_seconds=con.idle_minutes * 60, hub=hub,
                                              clock=clock)
    app[ACTIVITY] = store.touch
    phrases = await asyncio.to_thread(forbidden_phrases, settings)
    db = app[keys.DB]
    reads = Database(db.url)  # its own connections: see ConsoleService.reads
    service = ConsoleService(db, settings, hub, app[ACD], phrases, reads=reads, orders=app.get(ORDERS))
    await service.start()
    app[CONSOLE] = service
    try:
        # Closes the sockets of sessions ended elsewhere (`hotline agents ...`), idle or expired.
        async with in_background(repeat(store.sweep, every=con.session_check_seconds, what="console session check"),
                                 "console-sessions"):
            yield
    finally:
        await hub.close_all()
        await service.stop()
        await reads.dispose()


def setup_console(app: web.Application) -> None:
    app[LOADER] = views.load_principal
    app.middlewares.append(errors_middleware)  # service errors and bad input -> 4xx with zh/en text
    setup_templates(app)  # one Jinja2 environment for every page, at render.TEMPLATES
    setup_headers(app)  # security headers on every response
    r = app.router
    r.add_get("/", views.home)
    r.add_get("/login", views.login_form)
    r.add_post("/login", views.login_submit)
    r.add_post("/logout", views.logout)
    r.add_get("/lang", views.set_language)
    r.add_get("/agent", views.agent_view)
    r.add_get("/wallboard", views.wallboard_view)
    r.add_get("/ws", views.websocket)
    r.add_post("/api/agent/state", views.agent_state)
    r.add_post("/api/calls/{call_id}/wrapup", views.wrap_up)
    r.add_post("/api/calls/{call_id}/{action}", views.call_control)
    r.add_get("/api/calls/{call_id}", views.call_detail)
    r.add_get("/api/wallboard", views.wallboard_data)
    r.add_get("/api/me", views.me)
    r.add_static("/static/console", STATIC_DIR, append_version=False)
    app.cleanup_ctx.append(console_ctx)
    setup_qa(app)
    setup_orders(app)


__all__ = ["setup_console", "console_ctx", "STATIC_DIR"]
