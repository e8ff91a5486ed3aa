"""telephony_ctx, the call side build_app runs, against the fake ARI: starts, publishes its pieces, stops clean."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from ivr import keys
from ivr.acd.service import ACD, Acd
from ivr.asterisk.instance import AsteriskInstance
from ivr.calls.agi.server import AGI_SERVER
from ivr.app import asterisk_paths
from ivr.calls.ari_engine import ARI, AriEngine
from ivr.calls.notifier import NOTIFIER
from ivr.calls.services import CALLS
from ivr.engine.service import FLOWS, FlowService
from tests.builders import telephony_app
from tests.fakes.ari import FakeAri
from ivr.calls.handler import CallContext
from ivr.calls.notifier import CallNotifier
from ivr.calls.services import CallService
from ivr.channel import Channel
from ivr.db import Database
from ivr.settings import Settings
from tests.plugins.fake_ari import guard, next_notice, until


async def test_telephony_ctx_runs_calls_and_stops_cleanly(ari_settings: Settings, db: Database, fake: FakeAri) -> None:
    handled: list[int] = []

    async def handler(channel: Channel, ctx: CallContext) -> None:
        handled.append(ctx.call_id)
        await channel.answer()
        await channel.hangup()

    app = telephony_app(ari_settings, db, handler=handler, recordings_dir=fake.recording_dir)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    try:
        assert isinstance(app[CALLS], CallService)
        engine = app[ARI]
        assert isinstance(engine, AriEngine)
        notifier = app[NOTIFIER]
        assert isinstance(notifier, CallNotifier)
        # One graph: the flows queue into this ACD, which rings through this engine's client.
        acd, flows = app[ACD], app[FLOWS]
        assert isinstance(acd, Acd) and isinstance(flows, FlowService) and flows.acd is acd
        assert acd.dialer.client is engine.client  # type: ignore[attr-defined]
        assert engine.service.agent_handler == acd.dialer.on_agent_leg  # type: ignore[attr-defined]
        assert app[AGI_SERVER].port == app[keys.SETTINGS].agi.port
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
    assert engine.client._session is None  # the transport's owner, telephony_ctx, closed it last


@pytest.mark.asterisk
def test_asterisk_paths_follow_the_instance(asterisk: AsteriskInstance) -> None:
    found = asterisk_paths(asterisk.settings)
    assert found.recordings_dir == asterisk.recordings_dir_host and found.sounds_dir == asterisk.sounds_dir_host
    host_file = asterisk.host_path("/var/lib/x.wav")
    assert found.to_asterisk(str(host_file)) == "/var/lib/x.wav"
    assert found.to_host("/var/lib/x.wav") == host_file
    assert found.to_asterisk("/elsewhere/y.wav") == "/elsewhere/y.wav"  # outside the sandbox: unchanged


async def test_without_an_asterisk_and_no_recordings_dir_the_call_side_does_not_start(
        ari_settings: Settings, db: Database, tmp_path: Path) -> None:
    """No instance set up (a sandbox dir nobody built) and no recordings dir given: start-up fails with the
    provisioning's own error instead of running ARI calls that cannot be recorded."""
    from ivr.asterisk.sandbox import SandboxError

    nowhere = ari_settings.model_copy(update={"asterisk": ari_settings.asterisk.model_copy(update={
        "mode": "sandbox", "sandbox_dir": tmp_path / "no-sandbox"})})
    runner = web.AppRunner(telephony_app(nowhere, db), handle_signals=False)
    with pytest.raises(SandboxError):
        await runner.setup()
    await runner.cleanup()
