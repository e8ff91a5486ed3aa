"""The event websocket: reconnect with capped backoff, resync on every connect, odd frames survived."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from ivr.ari import events as ev
from ivr.ari.client import AriClient
from tests.fakes.ari import FakeAri
from ivr.ari.session import AriSession, Backoff
from tests.plugins.fake_ari import guard, until


class Sleeps:
    """Stands in for asyncio.sleep: records each backoff delay and waits until the test lets it go."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.waiting: asyncio.Queue[asyncio.Future[None]] = asyncio.Queue()

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self.waiting.put(fut)
        await fut

    async def release(self) -> None:
        fut = await guard(self.waiting.get(), "a backoff sleep")
        fut.set_result(None)


def test_backoff_doubles_and_caps() -> None:
    b = Backoff(initial=0.5, cap=3.0)
    assert [b.next() for _ in range(6)] == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0]
    b.reset()
    assert b.next() == 0.5
    assert Backoff(initial=5, cap=2).next() == 2
    with pytest.raises(ValueError):
        Backoff(initial=0)


async def test_reconnects_with_backoff_and_resyncs_each_time(fake: FakeAri, client: AriClient,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    sleeps = Sleeps()
    resyncs: list[int] = []

    async def on_connected() -> None:
        resyncs.append(session.connections)

    session = AriSession(client, "hotline", reconnect_max_seconds=2.0, on_connected=on_connected, sleep=sleeps)
    session.start()
    try:
        await guard(session.resynced.wait(), "first resync")
        assert resyncs == [1]
        caplog.set_level(logging.WARNING, logger="ivr.ari.session")
        await fake.stop()  # Asterisk goes away
        for _ in range(4):  # websocket closed, then three refused connects
            await sleeps.release()
        await until(lambda: len(sleeps.delays) == 5, "fifth backoff")
        assert sleeps.delays == [0.5, 1.0, 2.0, 2.0, 2.0]
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 5
        assert all("Asterisk ARI unreachable" in r.getMessage() and r.exc_info is None for r in warnings)
        assert "\n" not in warnings[-1].getMessage() and "retrying in 2.0 s" in warnings[-1].getMessage()
        await fake.start()  # same port: Asterisk is back
        await sleeps.release()
        await until(lambda: resyncs == [1, 2], "second resync")
        assert session.connections == 2
        assert sleeps.delays == [0.5, 1.0, 2.0, 2.0, 2.0]
        await fake.drop_websockets()  # a blip after a good connection starts again from the first delay
        await sleeps.release()
        await until(lambda: resyncs == [1, 2, 3], "third resync")
        assert sleeps.delays[-1] == 0.5
    finally:
        await session.stop()


async def test_bad_credentials_are_reported_plainly(fake: FakeAri, caplog: pytest.LogCaptureFixture) -> None:
    sleeps = Sleeps()
    caplog.set_level(logging.WARNING, logger="ivr.ari.session")
    async with AriClient(fake.url, fake.user, "not-the-password", spec=fake.spec) as bad:
        session = AriSession(bad, "hotline", sleep=sleeps)
        session.start()
        try:
            await guard(sleeps.waiting.get(), "the first retry")
            message = caplog.records[-1].getMessage()
            assert "refused the credentials (HTTP 401)" in message and caplog.records[-1].exc_info is None
            assert session.connections == 0
        finally:
            await session.stop()


async def test_odd_frames_do_not_stop_the_stream(fake: FakeAri, client: AriClient,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    got: list[ev.Event] = []
    session = AriSession(client, "hotline")
    session.router.add_sink(got.append)

    def broken_sink(event: ev.Event) -> None:
        raise RuntimeError("a consumer with a bug")

    session.router.add_sink(broken_sink)
    session.start()
    try:
        await guard(session.connected.wait())
        ws = next(iter(fake.sockets["hotline"]))
        await ws.send_str("this is not json")
        await ws.send_str(json.dumps({"type": "ChannelDtmfReceived", "channel": {"id": "x"}}))  # no digit
        await ws.send_str(json.dumps({"type": "SomethingNew", "application": "hotline"}))
        cid = await fake.inbound_call()
        await until(lambda: any(isinstance(e, ev.StasisStart) for e in got), "StasisStart")
    finally:
        await session.stop()
    kinds = [(type(e).__name__, e.type) for e in got]
    assert kinds[:3] == [("UnknownEvent", ""), ("UnknownEvent", "ChannelDtmfReceived"),
                         ("UnknownEvent", "SomethingNew")]
    start = got[3]
    assert isinstance(start, ev.StasisStart) and start.channel.id == cid
    texts = [r.getMessage() for r in caplog.records]
    assert any("ARI event not understood (not JSON" in t for t in texts)
    assert any("event sink" in t and "failed" in t for t in texts)


async def test_stop_is_clean_while_asterisk_is_down(client: AriClient, fake: FakeAri) -> None:
    sleeps = Sleeps()
    await fake.stop()
    session = AriSession(client, "hotline", sleep=sleeps)
    session.start()
    await guard(sleeps.waiting.get())
    await session.stop()
    assert not session.connected.is_set()
