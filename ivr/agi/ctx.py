"""The AGI server as an aiohttp cleanup_ctx entry (ivr/app.py appends it after the database and flows).

    app.cleanup_ctx.append(agi_server_ctx(recording_dir=str(layout.recordings)))

It takes the Database from keys.DB and the FlowRunner from keys.FLOWS when present (a missing runner makes
every flow/<name> fall back to the dialplan; lookup still works), and publishes the server as keys.AGI_SERVER.
The engine's FlowService is used through EngineRunner: its own run() would give a queue result to the ACD,
which cannot bridge an AGI channel; the AGI server sends it to app_queue instead.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from ivr import keys
from ivr.agi.channel import DEFAULT_RECORDING_DIR
from ivr.agi.flow import EngineRunner, FlowRunner
from ivr.agi.server import AgiServer
from ivr.calls.recording import CallRecordings
from ivr.periodic import in_background, repeat

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
        try:
            if recordings is None:
                yield
            else:
                async def finish() -> None:
                    # AGI never sees the end of a call's audio: once the row is closed (the hangup route) and
                    # Asterisk has let go of the MixMonitor files, archive, mix, hash, queue transcription.
                    cutoff = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=FINALIZE_AFTER)
                    await recordings.finalize_pending(ended_before=cutoff)

                async with in_background(repeat(finish, every=FINALIZE_EVERY, what="finishing AGI recordings"),
                                         "agi-recordings"):
                    yield
        finally:
            await server.stop()

    return ctx

