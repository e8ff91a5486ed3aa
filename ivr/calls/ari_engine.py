"""AriEngine: the ARI side of the call layer in one object (REST client, event router, session, CallService).

ivr/app.py builds it with its handlers and the recording store. On stop, calls still in our IVR go to the
dialplan fallback before the websocket closes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from ivr.ari.client import AriClient
from ivr.ari.media import PathMapper
from ivr.ari.router import EventRouter
from ivr.ari.session import AriSession
from ivr.ari.spec import ApiSpec
from ivr.calls.handler import AgentLegHandler, CallHandler
from ivr.calls.notifier import CallNotifier
from ivr.calls.ports import RecordingSink
from ivr.calls.resync import resync
from ivr.calls.services import CallService
from ivr.calls.stasis import StasisEvents
from ivr.calls.timeline import Timeline
from ivr.settings import Settings

log = logging.getLogger(__name__)



class AriEngine:
    """The ARI side of the call layer: the session and the call service over a REST client and an event
    router that ivr/app.py builds first (the ACD's dialer shares them). `start` connects the session; the
    client's lifetime is its owner's, except for an engine made by `standalone`."""

    def __init__(self, settings: Settings, client: AriClient, router: EventRouter, timeline: Timeline,
                 notifier: CallNotifier, *, recording_dir: Path, recordings: RecordingSink | None,
                 asterisk_path: PathMapper | None = None, handler: CallHandler | None = None,
                 agent_handler: AgentLegHandler | None = None, resume_handler: CallHandler | None = None) -> None:
        a = settings.asterisk
        self.client = client
        self.router = router
        self.service = CallService(ari=client, router=router, timeline=timeline, notifier=notifier,
                                   app=a.app, recording_dir=recording_dir, recordings=recordings,
                                   handler=handler, agent_handler=agent_handler, resume_handler=resume_handler,
                                   asterisk_path=asterisk_path)
        router.add_sink(StasisEvents(self.service))
        self.session = AriSession(client, a.app, router=router, reconnect_max_seconds=a.reconnect_max_seconds,
                                  on_connected=self._resync)
        self._owns_client = False

    @classmethod
    def standalone(cls, settings: Settings, timeline: Timeline, notifier: CallNotifier, *,
                   spec: ApiSpec | None = None, **kwargs: Any) -> AriEngine:
        """An engine with a client and router of its own, started and closed with it (tools, benchmarks)."""
        a = settings.asterisk
        engine = cls(settings, AriClient(a.ari_url, a.ari_user, a.ari_password, spec=spec), EventRouter(),
                     timeline, notifier, **kwargs)
        engine._owns_client = True
        return engine

    async def _resync(self) -> None:
        await resync(self.service)

    async def start(self) -> None:
        if self._owns_client:
            await self.client.start()
        self.session.start()

    async def stop(self) -> None:
        try:
            await self.service.stop()
        finally:
            await self.session.stop()
            if self._owns_client:
                await self.client.close()


ARI: web.AppKey[AriEngine] = web.AppKey("ari", AriEngine)
