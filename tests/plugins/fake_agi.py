from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from ivr.agi.connection import AgiConnection
from ivr.agi.parser import AgiEnvironment, parse_env
from ivr.calls.agi.server import AgiServer
from ivr.settings import AgiSettings
from tests.agi.fake_asterisk import FakeAsterisk, env_block
from tests.builders import ZONE


@pytest.fixture
def agi_settings() -> AgiSettings:
    # model_copy skips validation on purpose: port 0 lets the OS pick a free port for each test.
    return AgiSettings().model_copy(update={"host": "127.0.0.1", "port": 0, "max_line_bytes": 1024})


ServerFactory = Callable[..., Awaitable[AgiServer]]


@pytest.fixture
async def make_server(agi_settings: AgiSettings) -> AsyncIterator[ServerFactory]:
    servers: list[AgiServer] = []

    async def make(**kwargs: object) -> AgiServer:
        server = AgiServer(agi_settings, zone=ZONE, **kwargs)  # type: ignore[arg-type]
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.stop()


@pytest.fixture
async def fakes() -> AsyncIterator[list[FakeAsterisk]]:
    """Collects FakeAsterisk clients so every socket is closed even when a test fails."""
    made: list[FakeAsterisk] = []
    yield made
    for fake in made:
        await fake.close()


@dataclass
class Pair:
    conn: AgiConnection
    env: AgiEnvironment
    fake: FakeAsterisk


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    """One AgiConnection (our side) wired to a FakeAsterisk over a real loopback socket."""
    accepted: asyncio.Future[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = \
        asyncio.get_running_loop().create_future()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result((reader, writer))

    listener = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    fake = await FakeAsterisk.connect(port)
    reader, writer = await accepted
    conn = AgiConnection(reader, writer, max_line=1024)
    env = parse_env(env_block("flow/test").rstrip(b"\n").split(b"\n"))
    try:
        yield Pair(conn, env, fake)
    finally:
        await conn.close()
        await fake.close()
        listener.close()
        await listener.wait_closed()
