"""FastAGI against the real Asterisk of the session fixture and its generated dialplan.

Calls are Local channels: the ;2 half runs the dialplan under test (hotline-agi / hotline-lookup-example, whose
AGI() points at settings.agi), the ;1 half runs a helper in hotline-test (SendDTMF, Wait, Playback).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ivr.agi.flow import FlowContext, FlowTable
from ivr.agi.server import AgiServer
from ivr.asterisk.instance import AsteriskInstance
from ivr.calls.timeline import Timeline
from ivr.channel import Channel, ChannelHungUp, DigitsResult, Direction
from ivr.db import Database
from ivr.db.models import HangupSide
from tests.agi.test_lookup import seed
from tests.plugins.asterisk import ari_headers

pytestmark = pytest.mark.asterisk
WAIT = 60  # generous upper bound for one call; never a speed assertion


class Ari:
    def __init__(self, instance: AsteriskInstance, session: aiohttp.ClientSession) -> None:
        self.base = instance.ari_url + "/ari"
        self.session = session

    async def call(self, method: str, path: str, **params: str) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, params=params) as r:
            body = await r.text()
            return r.status, (json.loads(body) if body else None)

    async def variable(self, channel_id: str, name: str) -> str | None:
        status, body = await self.call("GET", f"/channels/{channel_id}/variable", variable=name)
        return body["value"] if status == 200 else None

    async def originate(self, endpoint: str, context: str, extension: str, caller: str = "") -> tuple[str, str]:
        """Local channel: returns (;1 id, ;2 id); ;2 runs `endpoint`'s extension, ;1 goes to context,extension."""
        one, two = f"t-{uuid.uuid4().hex[:12]}", f"t-{uuid.uuid4().hex[:12]}"
        params = {"endpoint": endpoint, "context": context, "extension": extension, "priority": "1",
                  "channelId": one, "otherChannelId": two}
        if caller:
            params["callerId"] = caller
        status, body = await self.call("POST", "/channels", **params)
        assert status == 200, f"originate {endpoint}: {status} {body}"
        return one, two

    async def hangup(self, channel_id: str) -> None:
        await self.call("DELETE", f"/channels/{channel_id}")


@pytest.fixture
async def ari(asterisk: AsteriskInstance) -> AsyncIterator[Ari]:
    async with aiohttp.ClientSession(headers=ari_headers(asterisk)) as session:
        yield Ari(asterisk, session)


@pytest.fixture
async def sqlite_db(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "hotline.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    yield db
    await db.dispose()


def server_for(asterisk: AsteriskInstance, **kwargs: Any) -> AgiServer:
    return AgiServer(asterisk.settings.agi, recording_dir=str(asterisk.recordings_dir), **kwargs)


async def wait_sessions(server: AgiServer, count: int) -> None:
    async def done() -> None:
        while server.sessions_served < count:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(done(), WAIT)


async def test_flow_collects_dtmf_sent_by_the_other_half(asterisk: AsteriskInstance, ari: Ari) -> None:
    seen: dict[str, Any] = {}

    async def flow(channel: Channel, context: FlowContext) -> None:
        await channel.answer()
        seen["digits"] = await channel.collect_digits(max_digits=4, first_timeout=20, inter_timeout=5,
                                                      prompt=["sound:beep"])
        await channel.set_variable("HOTLINE_TEST_DIGITS", seen["digits"].digits)
        seen["echo"] = await channel.get_variable("HOTLINE_TEST_DIGITS")
        seen["context"] = context

    async with server_for(asterisk, flow_runner=FlowTable({"agitest": flow})) as server:
        one, _two = await ari.originate("Local/agitest@hotline-agi", "hotline-test", "dtmf-42#")
        try:
            await wait_sessions(server, 1)
        finally:
            await ari.hangup(one)
    assert seen["digits"] == DigitsResult("42", timed_out=False)
    assert seen["echo"] == "42"
    assert seen["context"].dialplan[:2] == ("hotline-agi", "agitest")


async def test_caller_hang_up_mid_command_is_seen_and_recorded(asterisk: AsteriskInstance, ari: Ari,
                                                               sqlite_db: Database) -> None:
    seen: dict[str, Any] = {}

    async def flow(channel: Channel, context: FlowContext) -> None:
        await channel.answer()
        seen["call_id"] = context.call_id
        try:
            await channel.collect_digits(max_digits=1, first_timeout=60)
        except ChannelHungUp as exc:
            seen["hung_up"] = exc
            raise

    async with server_for(asterisk, db=sqlite_db, flow_runner=FlowTable({"agitest": flow})) as server:
        _one, two = await ari.originate("Local/agitest@hotline-agi", "hotline-test", "wait-2")
        await wait_sessions(server, 1)
    assert isinstance(seen["hung_up"], ChannelHungUp)
    call = await Timeline(sqlite_db).get(seen["call_id"])
    assert call is not None and call.channel_id == two and call.protocol == "agi"
    assert call.ended_at is not None and call.hangup_side == HangupSide.CALLER


async def test_failing_flow_continues_in_the_dialplan_fallback(asterisk: AsteriskInstance, ari: Ari) -> None:
    async def broken(channel: Channel, context: FlowContext) -> None:
        raise RuntimeError("bug in a flow")

    async with server_for(asterisk, flow_runner=FlowTable({"agitest": broken})) as server:
        one, two = await ari.originate("Local/agitest@hotline-agi", "hotline-test", "wait")
        try:
            await wait_sessions(server, 1)
            # The generated dialplan read HOTLINE_CONTINUE=fallback and took its hand-back branch.
            reason = None
            for _ in range(100):
                reason = await ari.variable(two, "HOTLINE_FALLBACK_REASON")
                if reason:
                    break
                await asyncio.sleep(0.05)
            assert (reason or "").replace("-", "_") == "app_requested"  # not agi_failed: AGI() succeeded
            assert await ari.variable(two, "HOTLINE_CONTINUE") == "fallback"
        finally:
            await ari.hangup(one)


async def test_unknown_flow_name_takes_the_fallback(asterisk: AsteriskInstance, ari: Ari) -> None:
    async with server_for(asterisk, flow_runner=FlowTable({})) as server:
        one, two = await ari.originate("Local/nosuchflow@hotline-agi", "hotline-test", "wait")
        try:
            await wait_sessions(server, 1)
            assert await ari.variable(two, "HOTLINE_CONTINUE") == "fallback"
        finally:
            await ari.hangup(one)


async def test_media_commands_on_a_real_channel(asterisk: AsteriskInstance, ari: Ari) -> None:
    seen: dict[str, Any] = {}

    async def flow(channel: Channel, context: FlowContext) -> None:
        await channel.answer()
        handle = await channel.start_call_recording(f"agi-{channel.id}")
        await channel.play(["sound:beep", "digits:12", "number:7"])
        await channel.start_moh()
        await channel.stop_moh()
        await channel.ring()
        seen["message"] = await channel.record(f"agi-vm-{channel.id}", max_seconds=1, silence_seconds=0,
                                               beep=False)
        await channel.stop_call_recording(handle)
        seen["paths"] = handle.paths

    async with server_for(asterisk, flow_runner=FlowTable({"agitest": flow})) as server:
        one, _two = await ari.originate("Local/agitest@hotline-agi", "hotline-test", "play")
        try:
            await wait_sessions(server, 1)
        finally:
            await ari.hangup(one)
    assert "paths" in seen, "the flow did not finish"
    for direction in (Direction.CALLER, Direction.AGENT, Direction.MIXED):
        assert asterisk.host_path(seen["paths"][direction]).is_file(), direction
    assert asterisk.host_path(seen["message"]).stat().st_size > 44  # a WAV header and then audio


async def test_lookup_sets_variables_the_dialplan_sees(asterisk: AsteriskInstance, ari: Ari,
                                                       sqlite_db: Database) -> None:
    ids = await seed(sqlite_db)
    async with server_for(asterisk, db=sqlite_db) as server:
        one, two = await ari.originate("Local/95598@hotline-lookup-example", "hotline-test", "wait",
                                       caller="13800138000")
        try:
            await wait_sessions(server, 1)
            got = {name: await ari.variable(two, name) for name in (
                "HOTLINE_CONTINUE", "HOTLINE_CUSTOMER_ID", "HOTLINE_PRIORITY", "HOTLINE_SPECIAL_CARE",
                "HOTLINE_AREA", "HOTLINE_OUTAGE", "HOTLINE_OUTAGE_TEXT", "AGISTATUS")}
        finally:
            await ari.hangup(one)
    assert got["AGISTATUS"] == "SUCCESS"
    assert got["HOTLINE_CONTINUE"] == "ok"
    assert got["HOTLINE_CUSTOMER_ID"] == str(ids["zhang"])
    assert (got["HOTLINE_PRIORITY"], got["HOTLINE_SPECIAL_CARE"], got["HOTLINE_AREA"]) == ("50", "1", "A01")
    assert got["HOTLINE_OUTAGE"] == "1" and "管道抢修" in (got["HOTLINE_OUTAGE_TEXT"] or "")
    call = await Timeline(sqlite_db).by_channel(two)
    assert call is not None and call.customer_id == ids["zhang"] and call.priority == 50
