"""ari_ctx: the cleanup context the lead plugs into build_app (starts, publishes its pieces, stops clean)."""

from __future__ import annotations

import pytest
from aiohttp import web

from ivr import keys
from ivr.calls.ari_engine import ARI
from ivr.calls.services import CALLS
from ivr.calls.notifier import NOTIFIER
from tests.fakes.ari import FakeAri
from ivr.asterisk.instance import AsteriskInstance
from ivr.app import ASTERISK_RECORDINGS_DIR, CALL_HANDLER, ari_ctx
from ivr.calls.ari_engine import AriEngine, default_asterisk_paths
from ivr.calls.handler import CallContext
from ivr.calls.notifier import CallNotifier
from ivr.calls.services import CallService
from ivr.channel import Channel
from ivr.db import Database
from ivr.settings import Settings
from tests.ari.conftest import guard, next_notice, until


async def test_ari_ctx_runs_calls_and_stops_cleanly(ari_settings: Settings, db: Database, fake: FakeAri) -> None:
    handled: list[int] = []

    async def handler(channel: Channel, ctx: CallContext) -> None:
        handled.append(ctx.call_id)
        await channel.answer()
        await channel.hangup()

    app = web.Application()
    app[keys.SETTINGS] = ari_settings
    app[keys.DB] = db
    app[ASTERISK_RECORDINGS_DIR] = fake.recording_dir
    app[CALL_HANDLER] = handler
    app.cleanup_ctx.append(ari_ctx)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        assert isinstance(app[CALLS], CallService)
        engine = app[ARI]
        assert isinstance(engine, AriEngine)
        notifier = app[NOTIFIER]
        assert isinstance(notifier, CallNotifier)
        await guard(engine.session.resynced.wait(), "connect")
        sub = notifier.subscribe()
        await fake.inbound_call()
        ended = await next_notice(sub, lambda n: n.kind == "call_ended")
        assert handled == [ended.call_id] and ended.data["side"] == "system"
        sub.close()
    finally:
        await runner.cleanup()
    await until(lambda: not fake.sockets.get("hotline"), "websocket closed")
    assert not engine.session.connected.is_set()


@pytest.mark.asterisk
def test_default_asterisk_paths_follow_the_instance(asterisk: AsteriskInstance) -> None:
    rec_dir, to_asterisk = default_asterisk_paths(asterisk.settings)
    assert rec_dir == asterisk.recordings_dir_host
    host_file = asterisk.host_path("/var/lib/x.wav")
    assert to_asterisk(str(host_file)) == "/var/lib/x.wav"
    assert to_asterisk("/elsewhere/y.wav") == "/elsewhere/y.wav"  # outside the sandbox: unchanged
