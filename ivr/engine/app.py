"""The flow engine as an aiohttp cleanup_ctx entry, for ivr/app.py:

    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(acd_ctx)        # publishes keys.ACD (optional: without it queue nodes fall back)
    app.cleanup_ctx.append(flows_ctx)      # this: keys.FLOWS, keys.SPEECH, the ARI call handlers
    app.cleanup_ctx.append(ari_ctx)        # reads CALL_HANDLER / RESUME_HANDLER
    app.cleanup_ctx.append(agi_server_ctx(...))  # reads keys.FLOWS as its FlowRunner

A flow file with errors is logged with file:line and left out; if the configured flow (hotline.flow) is
among them, no handler is registered and every call takes the dialplan fallback instead of a broken IVR.
The Vosk model loads here, once, in a worker thread; without a model menus take keys only.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import AsyncIterator

from aiohttp import web

from ivr import keys
from ivr.engine.runner import FlowEngine
from ivr.engine.service import FlowService, load_flows
from ivr.settings import Settings
from ivr.speech import Recognizer, SpeechError

log = logging.getLogger(__name__)


def _sounds_dir(settings: Settings) -> Path | None:
    """Where Asterisk finds sound:hotline/... on this host (outage notices are rendered there). Blocking."""
    try:
        from ivr.asterisk.instance import AsteriskInstance
        from ivr.asterisk.sandbox import resolve_runtime

        return AsteriskInstance(resolve_runtime(settings, build=False), settings).sounds_dir_host
    except Exception as exc:  # noqa: BLE001 - notices are then read out as dates from the built-in words
        log.warning("no Asterisk sounds dir (%s): outage notices are read as dates only", exc)
        return None


async def flows_ctx(app: web.Application) -> AsyncIterator[None]:
    from ivr.calls.app import CALL_HANDLER, RESUME_HANDLER

    settings = app[keys.SETTINGS]
    recognizer = Recognizer.from_settings(settings)
    if recognizer is None:
        log.warning("speech: no [vosk] model_path set; menus take keys only")
    else:
        try:
            await recognizer.load()
        except SpeechError as exc:
            log.error("speech disabled: %s", exc)
            recognizer.close()
            recognizer = None
    flows, problems = await asyncio.to_thread(load_flows)
    for issue in problems:
        log.error("flow file: %s", issue)
    sounds = await asyncio.to_thread(_sounds_dir, settings)
    engine = FlowEngine(app[keys.DB], recognizer=recognizer, sounds_dir=sounds)
    app[keys.SPEECH] = recognizer
    if settings.hotline.flow in flows:
        service = FlowService(engine, flows, default_flow=settings.hotline.flow, acd=app.get(keys.ACD))
        app[keys.FLOWS] = service
        app[CALL_HANDLER] = service.handle_call
        app[RESUME_HANDLER] = service.resume_call
        log.info("flows loaded: %s (inbound calls run %s)", ", ".join(sorted(flows)), settings.hotline.flow)
    else:
        log.error("flow %r (hotline.flow) is not usable; inbound calls go to the dialplan fallback",
                  settings.hotline.flow)
    try:
        yield
    finally:
        if recognizer is not None:
            recognizer.close()
