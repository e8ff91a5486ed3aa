"""The ACD over the real Asterisk without the IVR in front: a sipp caller is answered and queued at once, our
ARI dialer rings the agents' PJSIP endpoints (sipp UASes). What the phones see (INVITE, CANCEL, BYE) is
checked by sipp itself: a scenario that does not get the message it waits for fails."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from tests.builders import telephony_app
from ivr.acd.service import ACD
from ivr.calls.ari_engine import ARI
from ivr.acd.entry import QueueOutcome, QueueResult
from ivr.acd.service import Acd
from ivr.asterisk.instance import AsteriskInstance
from ivr.asterisk.ports import PortAllocator
from ivr.calls.handler import CallContext
from ivr.channel import Channel
from ivr.db import Database
from ivr.db.models import AgentState, Offer, OfferResult, Violation
from ivr.settings import Settings
from tests.acd.helpers import Request, Seeded, seed
from tests.plugins.asterisk import SIPP_DIR, settings_for_asterisk, start_sipp, uac_scenario

pytestmark = pytest.mark.asterisk


@dataclass
class Line:
    app: web.Application
    seeded: Seeded
    results: asyncio.Queue[tuple[int, QueueResult]]

    @property
    def acd(self) -> Acd:
        return self.app[ACD]

    def pk(self, agent_id: str) -> int:
        return self.seeded.agents[agent_id]

    async def result(self) -> tuple[int, QueueResult]:
        async with asyncio.timeout(60):  # a guard against a hang, not a speed assertion
            return await self.results.get()


@pytest.fixture
async def line(asterisk: AsteriskInstance, settings: Settings, db: Database) -> AsyncIterator[Line]:
    seeded = await seed(db)
    results: asyncio.Queue[tuple[int, QueueResult]] = asyncio.Queue()

    async def handler(channel: Channel, ctx: CallContext) -> None:
        await channel.answer()
        results.put_nowait((ctx.call_id, await app[ACD].enqueue(ctx.call_id, channel, Request())))
        if not channel.hung_up:
            await channel.hangup()

    app = telephony_app(settings_for_asterisk(asterisk, settings), db, handler=handler,
                        recordings_dir=asterisk.recordings_dir_host, asterisk_path=asterisk.asterisk_path)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with asyncio.timeout(30):
            await app[ARI].session.resynced.wait()
        yield Line(app, seeded, results)
    finally:
        await server.close()


def caller(tmp_path: Path, number: str, hold_ms: int) -> Path:
    path = tmp_path / f"caller-{number}.xml"
    path.write_text(uac_scenario("", caller=number, hangup="caller", hold_ms=hold_ms), encoding="iso-8859-1")
    return path


async def make_ready(line: Line, *agent_ids: str) -> None:
    for agent_id in agent_ids:
        await line.acd.login(line.pk(agent_id))
        await line.acd.set_ready(line.pk(agent_id))


async def test_busy_phone_is_a_rejection_and_the_next_agent_talks(
        line: Line, asterisk: AsteriskInstance, asterisk_ports: PortAllocator, db: Database,
        tmp_path: Path) -> None:
    await make_ready(line, "1001", "1002")
    busy = await start_sipp(SIPP_DIR / "uas_agent_busy.xml", asterisk_ports,
                            local_port=asterisk.agent_port("agent-1001"), timeout=60)
    answers = await start_sipp(SIPP_DIR / "uas_agent_answer.xml", asterisk_ports,
                               local_port=asterisk.agent_port("agent-1002"), pause_ms=500, timeout=60)
    async with busy, answers, await start_sipp(caller(tmp_path, "13900139000", 6000), asterisk_ports,
                                               remote=f"127.0.0.1:{asterisk.sip_port}",
                                               service=asterisk.inbound_extension, timeout=60) as phone:
        call_id, result = await line.result()
        results = [await p.wait() for p in (busy, answers, phone)]
    for r in results:
        assert r.ok, r.describe()
    assert result.outcome is QueueOutcome.ANSWERED and result.agent_id == "1002"
    assert result.first_hangup == "caller"  # the caller hung up; the agent's phone got the BYE
    await line.acd.settle(call_id)
    async with db.session() as s:
        offers = (await s.execute(select(Offer).where(Offer.call_id == call_id).order_by(Offer.id))).scalars().all()
        [violation] = (await s.execute(select(Violation))).scalars().all()
    assert [(o.agent_pk, o.result) for o in offers] == [(line.pk("1001"), OfferResult.REJECTED),
                                                        (line.pk("1002"), OfferResult.ANSWERED)]
    assert violation.kind == "ring_rejected" and violation.agent_pk == line.pk("1001")
    slot = line.acd.roster.get(line.pk("1001"))
    assert slot.state is AgentState.NOT_READY and slot.reason == "拒接"
    assert line.acd.roster.get(line.pk("1002")).state is AgentState.WRAP_UP


async def test_caller_hanging_up_while_the_phone_rings_cancels_it(
        line: Line, asterisk: AsteriskInstance, asterisk_ports: PortAllocator, db: Database,
        tmp_path: Path) -> None:
    await make_ready(line, "1001")
    never = await start_sipp(SIPP_DIR / "uas_agent_noanswer.xml", asterisk_ports,
                             local_port=asterisk.agent_port("agent-1001"), timeout=60)
    async with never, await start_sipp(caller(tmp_path, "13800138000", 3000), asterisk_ports,
                                       remote=f"127.0.0.1:{asterisk.sip_port}",
                                       service=asterisk.inbound_extension, timeout=60) as phone:
        call_id, result = await line.result()
        never_result, phone_result = await never.wait(), await phone.wait()
    assert never_result.ok, never_result.describe()  # it got the CANCEL
    assert phone_result.ok, phone_result.describe()
    assert result.outcome is QueueOutcome.ABANDONED
    await line.acd.settle(call_id)
    async with db.session() as s:
        [offer] = (await s.execute(select(Offer).where(Offer.call_id == call_id))).scalars().all()
        violations = (await s.execute(select(Violation))).scalars().all()
    assert offer.result is OfferResult.CALLER_GONE and violations == []
    assert line.acd.roster.get(line.pk("1001")).state is AgentState.READY
