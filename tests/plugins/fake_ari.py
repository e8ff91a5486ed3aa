"""Fixtures for the ARI adapter and the call layer: the fake ARI, an engine wired to it, waiting helpers.

Waiting is on events (notices, fake requests), never on wall-clock sleeps; the `guard` timeout only turns a
hang into a readable failure.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest

from ivr.ari.client import AriClient
from tests.fakes.ari import FakeAri
from ivr.ari.spec import ApiSpec
from ivr.calls.ari_engine import AriEngine
from ivr.calls.handler import AgentLegHandler, CallContext, CallHandler
from ivr.calls.notifier import CallNotice, CallNotifier, Subscription
from recordings.store import RecordingStore
from ivr.calls.timeline import Timeline
from ivr.channel import Channel
from ivr.db import Database
from ivr.settings import Settings

GUARD = 20.0


async def guard(aw: Awaitable[Any], what: str = "event") -> Any:
    try:
        return await asyncio.wait_for(aw, GUARD)
    except asyncio.TimeoutError:
        pytest.fail(f"no {what} within {GUARD:.0f} s (the test would have hung)")


async def until(pred: Callable[[], bool], what: str = "condition") -> None:
    async def poll() -> None:
        while not pred():
            await asyncio.sleep(0.005)
    await guard(poll(), what)


async def next_notice(sub: Subscription, pred: Callable[[CallNotice], bool], what: str = "notice") -> CallNotice:
    async def find() -> CallNotice:
        async for notice in sub:
            if pred(notice):
                return notice
        raise AssertionError("subscription closed")
    result: CallNotice = await guard(find(), what)
    return result


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[FakeAri]:
    server = FakeAri(tmp_path / "asterisk-recordings")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def ari_settings(settings: Settings, fake: FakeAri) -> Settings:
    return settings.model_copy(update={"asterisk": settings.asterisk.model_copy(update={
        "ari_url": fake.url, "ari_user": fake.user, "ari_password": fake.password, "app": "hotline",
        "reconnect_max_seconds": 0.2})})


@pytest.fixture
async def client(fake: FakeAri) -> AsyncIterator[AriClient]:
    async with AriClient(fake.url, fake.user, fake.password, spec=fake.spec) as c:
        yield c


class Harness:
    """An AriEngine (session + call service) against the fake, with a database and a notice subscription."""

    fake: FakeAri

    def __init__(self, settings: Settings, db: Database, tmp_path: Path, *, fake: FakeAri | None = None,
                 recording_dir: Path | None = None) -> None:
        self.settings = settings
        self.db = db
        if fake is not None:
            self.fake = fake
        self.recording_dir = recording_dir or fake.recording_dir if fake is not None else recording_dir
        assert self.recording_dir is not None, "a recording dir (the fake's or Asterisk's)"
        self.spec = fake.spec if fake is not None else ApiSpec.load()
        self.timeline = Timeline(db)
        self.notifier = CallNotifier()
        self.archive = tmp_path / "archive"
        self.engines: list[AriEngine] = []
        self.sub = self.notifier.subscribe(maxsize=10000)

    def engine(self, handler: CallHandler | None = None, agent_handler: AgentLegHandler | None = None,
               resume_handler: CallHandler | None = None) -> AriEngine:
        engine = AriEngine.standalone(self.settings, self.timeline, self.notifier,
                           recording_dir=self.recording_dir,
                           recordings=RecordingStore(self.db, self.archive), spec=self.spec,
                           handler=handler, agent_handler=agent_handler, resume_handler=resume_handler)
        self.engines.append(engine)
        return engine

    async def start(self, engine: AriEngine) -> AriEngine:
        await engine.start()
        await guard(engine.session.resynced.wait(), "connect + resync")
        return engine

    async def notice(self, kind: str, pred: Callable[[CallNotice], bool] = lambda n: True) -> CallNotice:
        return await next_notice(self.sub, lambda n: n.kind == kind and pred(n), f"{kind} notice")

    async def close(self) -> None:
        for engine in self.engines:
            await engine.stop()
        self.sub.close()


@pytest.fixture
async def harness(ari_settings: Settings, db: Database, fake: FakeAri, tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(ari_settings, db, tmp_path, fake=fake)
    try:
        yield h
    finally:
        await h.close()


class Gate:
    """A handler that parks every call until the test releases it or the caller hangs up (then it gets
    ChannelHungUp from the channel, as a flow waiting for input would)."""

    def __init__(self) -> None:
        self.entered: asyncio.Queue[tuple[Channel, CallContext]] = asyncio.Queue()
        self.release = asyncio.Event()
        self.results: list[BaseException | None] = []

    async def __call__(self, channel: Channel, ctx: CallContext) -> None:
        await self.entered.put((channel, ctx))
        listen = asyncio.ensure_future(channel.collect_digits(max_digits=1, first_timeout=3600, terminators=""))
        released = asyncio.ensure_future(self.release.wait())
        try:
            await asyncio.wait({listen, released}, return_when=asyncio.FIRST_COMPLETED)
            if listen.done():
                listen.result()  # raises ChannelHungUp when the caller went away
        except BaseException as exc:
            self.results.append(exc)
            raise
        finally:
            for t in (listen, released):
                t.cancel()
            await asyncio.gather(listen, released, return_exceptions=True)
        self.results.append(None)
