"""Small builders the tests share for product objects whose wiring ivr/app.py does in the service."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from ivr import keys
from ivr.ari.media import PathMapper
from ivr.calls.handler import CallHandler
from ivr.db import Database
from ivr.settings import Settings
from ivr.workorders import ORDERS, WorkOrderService

ZONE = ZoneInfo("Asia/Shanghai")  # the default [hotline] timezone


def order_service(db: Database) -> WorkOrderService:
    return WorkOrderService(db, ZONE)


def telephony_app(settings: Settings, db: Database, *, handler: CallHandler | None = None,
                  recordings_dir: Path | None = None, asterisk_path: PathMapper | None = None) -> web.Application:
    """An application running the production call side (ivr.app.telephony_ctx) on the test's database and
    Asterisk (or FakeAri), with the AGI server on a free loopback port. `handler` replaces the flows for
    inbound calls; the keys set here are the seams ivr/app.py offers for that."""
    from ivr.app import ASTERISK_PATH, ASTERISK_RECORDINGS_DIR, CALL_HANDLER, telephony_ctx
    from tests.plugins.database import free_port

    app = web.Application()
    app[keys.SETTINGS] = settings.model_copy(update={"agi": settings.agi.model_copy(update={
        "host": "127.0.0.1", "port": free_port()})})
    app[keys.DB] = db
    app[ORDERS] = WorkOrderService(db, settings.hotline.zone)
    if handler is not None:
        app[CALL_HANDLER] = handler
    if recordings_dir is not None:
        app[ASTERISK_RECORDINGS_DIR] = recordings_dir
    if asterisk_path is not None:
        app[ASTERISK_PATH] = asterisk_path
    app.cleanup_ctx.append(telephony_ctx)
    return app
