"""REST errors arrive as typed exceptions; an unreachable Asterisk is one readable line."""

from __future__ import annotations

import socket

import pytest

from ivr.ari.client import (
    AriBadRequest,
    AriClient,
    AriConflict,
    AriNotFound,
    AriServerError,
    AriUnauthorized,
    AriUnavailable,
    AriUnprocessable,
    basic_auth_header,
    error_for,
)
from tests.fakes.ari import FakeAri


async def test_typed_results(fake: FakeAri, client: AriClient) -> None:
    cid = await fake.inbound_call()  # no websocket: Stasis fails, the channel sits in the fallback
    channels = await client.list_channels()
    assert [c.id for c in channels] == [cid]
    assert channels[0].caller.number == "13800000000"
    info = await client.request("GET", "/asterisk/info")
    assert info["system"]["entity_id"] == fake.asterisk_id


async def test_not_found(client: AriClient) -> None:
    with pytest.raises(AriNotFound) as info:
        await client.answer("no-such-channel")
    assert info.value.status == 404 and info.value.operation == "answer"
    assert "Channel not found" in str(info.value)


async def test_conflict_when_not_in_stasis(fake: FakeAri, client: AriClient) -> None:
    cid = await fake.inbound_call()  # not in Stasis (no app connected)
    with pytest.raises(AriConflict, match="not in Stasis"):
        await client.continue_in_dialplan(cid)


async def test_unprocessable_bridge_member(client: AriClient) -> None:
    await client.create_bridge("b1")
    with pytest.raises(AriUnprocessable):
        await client.add_to_bridge("b1", ["ghost"])


async def test_wrong_password(fake: FakeAri) -> None:
    async with AriClient(fake.url, fake.user, "wrong", spec=fake.spec) as c:
        with pytest.raises(AriUnauthorized):
            await c.list_channels()


async def test_server_error_is_typed(client: AriClient) -> None:
    # The fake answers 501 for operations it does not implement, like Asterisk's 5xx.
    with pytest.raises(AriServerError) as info:
        await client.request("GET", "/sounds")
    assert info.value.status == 501


def test_status_mapping() -> None:
    assert isinstance(error_for(400, "GET", "/x", "m"), AriBadRequest)
    assert isinstance(error_for(503, "GET", "/x", "m"), AriServerError)
    assert type(error_for(418, "GET", "/x", "m")).__name__ == "AriError"


async def test_unreachable_is_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    async with AriClient(f"http://127.0.0.1:{port}", "u", "p") as c:
        with pytest.raises(AriUnavailable) as info:
            await c.list_channels()
    text = str(info.value)
    assert f"127.0.0.1:{port}" in text and "\n" not in text
    assert info.value.__cause__ is None


def test_authorization_header_is_built_by_hand() -> None:
    assert basic_auth_header("hotline", "pa:ss") == "Basic aG90bGluZTpwYTpzcw=="


def test_events_url() -> None:
    assert AriClient("http://127.0.0.1:8088/", "u", "p").events_url == "ws://127.0.0.1:8088/ari/events"
    assert AriClient("https://pbx:8089", "u", "p").events_url == "wss://pbx:8089/ari/events"
