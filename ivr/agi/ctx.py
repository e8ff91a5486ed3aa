"""The AGI server as an aiohttp cleanup_ctx entry (ivr/app.py appends it after the database and flows).

    app.cleanup_ctx.append(agi_server_ctx(recording_dir=str(layout.recordings)))

It takes the Database from keys.DB and the FlowRunner from keys.FLOWS when present (a missing runner makes
every flow/<name> fall back to the dialplan; lookup still works), and publishes the server as keys.AGI_SERVER.
The engine's FlowService is used through EngineRunner: its own run() would give a queue result to the ACD,
which cannot bridge an AGI channel; the AGI server sends it to app_queue instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from aiohttp import web

from ivr import keys
from ivr.agi.channel import DEFAULT_RECORDING_DIR
from ivr.agi.flow import EngineRunner, FlowRunner
from ivr.agi.server import AgiServer


def agi_server_ctx(*, recording_dir: str = DEFAULT_RECORDING_DIR
                   ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        settings = app[keys.SETTINGS]
        runner = app.get(keys.FLOWS)
        if runner is not None and not isinstance(runner, FlowRunner):
            raise TypeError(f"app[keys.FLOWS] is a {type(runner).__name__}, not an ivr.agi.flow.FlowRunner "
                            "(knows(name) + async run(name, channel, context))")
        if runner is not None:
            runner = EngineRunner.wrapping(runner) or runner
        server = AgiServer(settings.agi, db=app.get(keys.DB), flow_runner=runner, recording_dir=recording_dir)
        await server.start()
        app[keys.AGI_SERVER] = server
        try:
            yield
        finally:
            await server.stop()

    return ctx
