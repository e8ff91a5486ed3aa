"""Wiring of the ARI call engine into the aiohttp application: `ari_ctx` for app.cleanup_ctx.

    app.cleanup_ctx.append(ari_ctx)

Reads SETTINGS and DB (required) and, when present, NOTIFIER and the optional keys below; publishes the
CallService at keys.CALLS and the session at keys.ARI. The flow engine and the ACD plug in by setting
`service.handler` / `service.agent_handler` (or the keys below before startup). On stop, calls still in our IVR
go to the dialplan fallback before the websocket closes.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import AsyncIterator

from aiohttp import web

from ivr import keys
from ivr.ari.client import AriClient
from ivr.ari.media import PathMapper
from ivr.ari.router import EventRouter
from ivr.ari.session import AriSession
from ivr.ari.spec import ApiSpec
from ivr.calls.handler import AgentLegHandler, CallHandler
from ivr.calls.notifier import CallNotifier
from ivr.calls.recording import CallRecordings
from ivr.calls.resync import resync
from ivr.calls.services import CallService
from ivr.calls.stasis import StasisEvents
from ivr.calls.timeline import Timeline
from ivr.settings import Settings

log = logging.getLogger(__name__)

CALL_HANDLER: web.AppKey[CallHandler] = web.AppKey("call_handler")
RESUME_HANDLER: web.AppKey[CallHandler] = web.AppKey("resume_handler")
AGENT_LEG_HANDLER: web.AppKey[AgentLegHandler] = web.AppKey("agent_leg_handler")
# Where Asterisk writes ARI recordings, as seen from this host, and how our paths look to Asterisk.
ASTERISK_RECORDINGS_DIR: web.AppKey[Path] = web.AppKey("asterisk_recordings_dir")
ASTERISK_PATH: web.AppKey[PathMapper] = web.AppKey("asterisk_path")
ARI_DOCS_DIR: web.AppKey[Path] = web.AppKey("ari_docs_dir")


def default_asterisk_paths(settings: Settings) -> tuple[Path, PathMapper]:
    """The configured instance's recording dir on this host and a host->Asterisk path mapper. Blocking."""
    from ivr.asterisk.instance import AsteriskInstance
    from ivr.asterisk.sandbox import resolve_runtime

    runtime = resolve_runtime(settings, build=False)
    instance = AsteriskInstance(runtime, settings)
    root = runtime.root

    def to_asterisk(path: str) -> str:
        p = Path(path)
        if runtime.kind == "sandbox" and p.is_relative_to(root):
            return "/" + str(p.relative_to(root))
        return path

    return instance.recordings_dir_host, to_asterisk


class AriEngine:
    """Everything ari_ctx starts, in one object (the session, the service, their client)."""

    def __init__(self, settings: Settings, timeline: Timeline, notifier: CallNotifier, *,
                 recording_dir: Path, recordings: CallRecordings | None, spec: ApiSpec | None = None,
                 asterisk_path: PathMapper | None = None, handler: CallHandler | None = None,
                 agent_handler: AgentLegHandler | None = None, resume_handler: CallHandler | None = None) -> None:
        a = settings.asterisk
        self.client = AriClient(a.ari_url, a.ari_user, a.ari_password, spec=spec)
        self.router = EventRouter()
        self.service = CallService(ari=self.client, router=self.router, timeline=timeline, notifier=notifier,
                                   app=a.app, recording_dir=recording_dir, recordings=recordings,
                                   handler=handler, agent_handler=agent_handler, resume_handler=resume_handler,
                                   asterisk_path=asterisk_path)
        self.router.add_sink(StasisEvents(self.service))
        self.session = AriSession(self.client, a.app, router=self.router,
                                  reconnect_max_seconds=a.reconnect_max_seconds, on_connected=self._resync)

    async def _resync(self) -> None:
        await resync(self.service)

    async def start(self) -> None:
        await self.client.start()
        self.session.start()

    async def stop(self) -> None:
        try:
            await self.service.stop()
        finally:
            await self.session.stop()
            await self.client.close()


async def ari_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    db = app[keys.DB]
    notifier = app.get(keys.NOTIFIER)
    if notifier is None:
        notifier = CallNotifier(settings.console.ws_queue_size)
        app[keys.NOTIFIER] = notifier
    given_dir = app.get(ASTERISK_RECORDINGS_DIR)
    mapper = app.get(ASTERISK_PATH)
    if given_dir is None:
        rec_dir, default_mapper = await asyncio.to_thread(default_asterisk_paths, settings)
        mapper = mapper or default_mapper
    else:
        rec_dir = given_dir
    docs = app.get(ARI_DOCS_DIR)
    spec = await asyncio.to_thread(ApiSpec.load, docs)
    engine = AriEngine(settings, Timeline(db), notifier, recording_dir=rec_dir,
                       recordings=CallRecordings(db, Path(settings.recordings.dir)), spec=spec,
                       asterisk_path=mapper, handler=app.get(CALL_HANDLER),
                       agent_handler=app.get(AGENT_LEG_HANDLER), resume_handler=app.get(RESUME_HANDLER))
    app[keys.CALLS] = engine.service
    app[keys.ARI] = engine
    await engine.start()
    try:
        yield
    finally:
        await engine.stop()
