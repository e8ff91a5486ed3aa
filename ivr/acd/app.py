"""Wiring of the ACD into the aiohttp application: `acd_ctx` for app.cleanup_ctx, after ari_ctx.

    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(ari_ctx)      # publishes keys.ARI (AriEngine) and keys.CALLS
    app.cleanup_ctx.append(acd_ctx)      # publishes keys.ACD; plugs the dialer into the call service
    setup_console(app)                   # reads keys.ACD

Without telephony (console-only runs, browser tests) put a dialer at ACD_DIALER before start-up. Caller
hang-ups reach the ACD through the call notifier (keys.NOTIFIER), so a caller who hangs up while waiting
leaves the line at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, AsyncIterator

from aiohttp import web

from ivr import keys
from ivr.acd.ports import AgentDialer
from ivr.acd.service import Acd

log = logging.getLogger(__name__)

ACD_DIALER: web.AppKey[AgentDialer] = web.AppKey("acd_dialer")
HANGUP_KINDS = frozenset({"hangup", "call_ended"})


async def _follow_hangups(acd: Acd, subscription: Any) -> None:
    async for notice in subscription:
        acd.caller_hung_up(notice.call_id)


async def acd_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, db = app[keys.SETTINGS], app[keys.DB]
    preset = app.get(ACD_DIALER)
    engine = app.get(keys.ARI)
    dialer: AgentDialer
    if preset is not None:
        dialer = preset
    else:
        if engine is None:
            raise RuntimeError("acd_ctx needs ari_ctx before it (keys.ARI) or a dialer at ivr.acd.app.ACD_DIALER")
        from ivr.acd.ari_dialer import AriDialer

        ari_dialer = AriDialer(engine.client, engine.router, settings.asterisk.app)
        engine.service.agent_handler = ari_dialer.on_agent_leg
        dialer = ari_dialer
    acd = Acd(db, settings, dialer)
    await acd.start()
    app[keys.ACD] = acd
    flows = app.get(keys.FLOWS)
    if flows is not None and getattr(flows, "acd", False) is None:
        flows.acd = acd  # the flow service hands queued calls to us
    follower = None
    notifier = app.get(keys.NOTIFIER)
    if notifier is not None:
        sub = notifier.subscribe(accept=lambda n: n.kind in HANGUP_KINDS)
        follower = asyncio.create_task(_follow_hangups(acd, sub), name="acd-hangups")
    try:
        yield
    finally:
        if follower is not None:
            sub.close()
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
        await acd.stop()
