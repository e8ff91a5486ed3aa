"""build_app(settings): the one place where the service is assembled.

Every long-lived resource (database, ARI session, FastAGI server, ACD, workers) is a cleanup_ctx entry, so
start-up order is explicit and shutdown happens in reverse even when start-up fails half-way.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import AsyncIterator, Callable

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


def _asterisk_recording_dir(settings: Settings) -> tuple[str, Callable[[str], Path]] | None:
    """Where MixMonitor (AGI calls) writes, as Asterisk sees it, and the map from Asterisk's paths to this
    host's. Blocking; None when no Asterisk is set up."""
    from ivr.asterisk.service import instance_for

    try:
        instance = instance_for(settings)
        return str(instance.asterisk_path(instance.recordings_dir_host)), instance.host_path
    except Exception as exc:  # noqa: BLE001 - the AGI server still serves lookups and flows without recording
        log.warning("AGI calls are not recorded (no Asterisk set up here): %s", exc)
        return None


async def _agi_ctx(app: web.Application) -> AsyncIterator[None]:
    from ivr.agi.ctx import agi_server_ctx

    found = await asyncio.to_thread(_asterisk_recording_dir, app[keys.SETTINGS])
    ctx = agi_server_ctx(recording_dir=found[0], host_path=found[1]) if found else agi_server_ctx()
    async for _ in ctx(app):
        yield


async def health(request: web.Request) -> web.Response:
    app = request.app
    status: dict[str, object] = {"service": "hotline"}
    try:
        await app[keys.DB].ping()
        status["database"] = "ok"
    except DatabaseUnavailable as exc:
        status["database"] = str(exc)
    engine = app.get(keys.ARI)
    if engine is None:
        status["asterisk"] = "not configured"
    else:
        status["asterisk"] = "connected" if engine.session.connected.is_set() else "reconnecting"
    status["agi"] = "listening" if app.get(keys.AGI_SERVER) is not None else "off"
    return web.json_response(status)


def build_app(settings: Settings, *, telephony: bool = True) -> web.Application:
    """Assemble the service. telephony=False builds the web side only; then put a dialer at
    ivr.acd.app.ACD_DIALER before start-up (console tests without Asterisk)."""
    from agent_console import setup_console
    from ivr.acd.app import acd_ctx

    app = web.Application()
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.append(database_ctx)
    if telephony:
        from ivr.calls.app import ari_ctx
        from ivr.engine.app import flows_ctx

        # Order matters: flows register the call handlers ari_ctx reads; the ACD needs the ARI engine for its
        # dialer; the AGI server and the console need the ACD and the flows.
        app.cleanup_ctx.append(flows_ctx)
        app.cleanup_ctx.append(ari_ctx)
        app.cleanup_ctx.append(acd_ctx)
        app.cleanup_ctx.append(_agi_ctx)
        from ivr.calls.fallback_messages import fallback_sweeper_ctx

        app.cleanup_ctx.append(fallback_sweeper_ctx)  # messages left while we were down -> callback orders
    else:
        app.cleanup_ctx.append(acd_ctx)
    from recordings.retention import retention_ctx

    app.cleanup_ctx.append(retention_ctx)  # recordings and transcripts past [recordings] retention_days
    setup_console(app)
    app.router.add_get("/healthz", health)
    return app


async def serve(settings: Settings) -> None:
    """Run the service until SIGINT/SIGTERM. Raises ivr.secrets.InsecureSecrets, before it opens a socket or
    the database, when a secret is missing or public."""
    from ivr.secrets import require_secrets

    # First of all: a service with a known cookie secret or ARI password must not even briefly be reachable.
    await asyncio.to_thread(require_secrets, settings)
    app = build_app(settings)
    runner = web.AppRunner(app, handle_signals=False)
    # Before start-up: a stop asked for while we start (resyncing live calls) still stops gracefully, handing
    # those calls to the dialplan fallback, instead of killing the process half-way.
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runner.setup()
        site = web.TCPSite(runner, settings.console.host, settings.console.port)
        await site.start()
        log.info("console on http://%s:%d/", settings.console.host, settings.console.port)
        await stop.wait()
    finally:
        await runner.cleanup()
