"""build_app(settings): the one place where the service is assembled.

Every long-lived resource (database, ARI session, FastAGI server, ACD, workers) is a cleanup_ctx entry, so
start-up order is explicit and shutdown happens in reverse even when start-up fails half-way.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import AsyncIterator

from aiohttp import web

from ivr import keys
from ivr.db import Database, DatabaseUnavailable
from ivr.settings import Settings

log = logging.getLogger("hotline.app")


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    db = Database(settings.database.url, echo=settings.database.echo)
    delay = 0.5
    while True:
        try:
            await db.upgrade()
            break
        except DatabaseUnavailable as exc:
            # A database that is still starting (or restarting) must not kill the service: wait and retry.
            log.error("%s; retrying in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
    app[keys.DB] = db
    try:
        yield
    finally:
        await db.dispose()


async def health(request: web.Request) -> web.Response:
    app = request.app
    status: dict[str, object] = {"service": "hotline"}
    try:
        await app[keys.DB].ping()
        status["database"] = "ok"
    except DatabaseUnavailable as exc:
        status["database"] = str(exc)
    ari = app.get(keys.ARI)
    status["asterisk"] = getattr(ari, "status", "not configured") if ari is not None else "not configured"
    return web.json_response(status)


def build_app(settings: Settings, *, telephony: bool = True) -> web.Application:
    """Assemble the service. telephony=False builds the web side only (console tests without Asterisk)."""
    app = web.Application()
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.append(database_ctx)
    app.router.add_get("/healthz", health)
    return app


async def serve(settings: Settings) -> None:
    app = build_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.console.host, settings.console.port)
    await site.start()
    log.info("console on http://%s:%d/", settings.console.host, settings.console.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
