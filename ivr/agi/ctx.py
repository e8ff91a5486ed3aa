"""The AGI server as an aiohttp cleanup_ctx entry (ivr/app.py appends it after the database and flows).

    app.cleanup_ctx.append(agi_server_ctx(recording_dir=str(layout.recordings)))

It takes the Database from keys.DB and the FlowRunner from keys.FLOWS when present (a missing runner makes
every flow/<name> fall back to the dialplan; lookup still works), and publishes the server as keys.AGI_SERVER.
The engine's FlowService is used through EngineRunner: its own run() would give a queue result to the ACD,
which cannot bridge an AGI channel; the AGI server sends it to app_queue instead.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from ivr import keys
from ivr.agi.channel import DEFAULT_RECORDING_DIR
from ivr.agi.flow import EngineRunner, FlowRunner
from ivr.agi.server import AgiServer
from ivr.calls.recording import CallRecordings

log = logging.getLogger(__name__)
FINALIZE_EVERY = 15.0  # seconds between passes completing the recordings of ended AGI calls
FINALIZE_AFTER = 10.0  # a call ended this long ago: Asterisk has closed its MixMonitor files


def agi_server_ctx(*, recording_dir: str = DEFAULT_RECORDING_DIR,
                   host_path: Callable[[str], Path] | None = None
                   ) -> Callable[[web.Application], AsyncIterator[None]]:
    """host_path (Asterisk's path -> this host's) turns on two-track recording of flow calls."""
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        runner = app.get(keys.FLOWS)
        if runner is not None and not isinstance(runner, FlowRunner):
            raise TypeError(f"app[keys.FLOWS] is a {type(runner).__name__}, not an ivr.agi.flow.FlowRunner "
                            "(knows(name) + async run(name, channel, context))")
        if runner is not None:
            runner = EngineRunner.wrapping(runner) or runner
        db = app.get(keys.DB)
        recordings = CallRecordings(db, Path(settings.recordings.dir)) if db is not None and host_path else None
        server = AgiServer(settings.agi, db=db, flow_runner=runner, recording_dir=recording_dir,
                           recordings=recordings, host_path=host_path or Path)
        await server.start()
        app[keys.AGI_SERVER] = server
        finisher = asyncio.create_task(_finish_recordings(recordings), name="agi-recordings") if recordings else None
        try:
            yield
        finally:
            if finisher is not None:
                finisher.cancel()
                await asyncio.gather(finisher, return_exceptions=True)
            await server.stop()

    return ctx


async def _finish_recordings(recordings: CallRecordings) -> None:
    """AGI never sees the end of a call's audio: once the call row is closed (the hangup route) and a little
    time has passed, move the tracks to the archive, mix, hash and queue the transcription."""
    while True:
        await asyncio.sleep(FINALIZE_EVERY)
        cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=FINALIZE_AFTER)
        try:
            await recordings.finalize_pending(ended_before=cutoff)
        except Exception:  # noqa: BLE001 - a dead database now; the rows wait for the next pass
            log.exception("finishing AGI recordings failed; next pass in %.0f s", FINALIZE_EVERY)
