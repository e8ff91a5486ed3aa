"""End to end on the real Asterisk, in real Chromium: a sipp caller dials in and walks the gas IVR (keys 2, 3:
gas appliance repair), the call is queued, our ACD rings the agent's PJSIP endpoint (a sipp UAS playing the phone),
and the agent's browser shows the pop, the ring countdown, the greeting and the wrap-up.

Nothing here is faked: the call service is the ARI adapter, the IVR is the shipped gas flow, the phones are
SIP user agents, the console is the production aiohttp app on a TCP port. Screenshots: test-artifacts/.
"""

from __future__ import annotations

import asyncio
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import expect
from sqlalchemy import select

from agent_console import setup_console
from call_flows.loader import load_flow
from call_flows.prompts import build
from tests.builders import telephony_app
from ivr.acd.service import ACD
from ivr.calls.ari_engine import ARI
from ivr.acd.service import Acd
from ivr.asterisk.instance import AsteriskInstance
from ivr.asterisk.ports import PortAllocator
from ivr.db import Database
from ivr.db.models import AgentState, Call, Offer, OfferResult, Queue, Violation, WorkOrder
from ivr.settings import Settings, render_greeting
from tests.acd.helpers import Seeded, seed
from tests.console.conftest import agent_page, shot
from tests.flows.conftest import GAS
from tests.plugins.asterisk import SIPP_DIR, settings_for_asterisk, start_sipp, uac_scenario
from tests.plugins.database import run_isolated

pytestmark = [pytest.mark.asterisk, pytest.mark.browser]
CALLER = "13900139000"  # 李娜 in the seeded data
MARGIN = 4.0  # seconds into a menu prompt at which the caller presses its key
GAP_TAG = 7777


@pytest.fixture(scope="session")
def hotline_sounds(asterisk: AsteriskInstance) -> Path:
    """The gas flow's prompts, the Chinese number words and the ACD's announcements, rendered once."""
    report = run_isolated(lambda: build([load_flow(GAS)], asterisk.sounds_dir_host))
    assert report.failed == []  # type: ignore[attr-defined]
    return asterisk.sounds_dir_host


def prompt_seconds(sounds: Path, prompt: str) -> float:
    with wave.open(str(sounds / f"hotline/zh/gas/{prompt}.wav")) as w:
        return w.getnframes() / w.getframerate()


def caller_scenario(sounds: Path) -> str:
    """李娜 dials 95598, presses 2 (repairs) in the main menu and 3 (gas appliance) in the repair menu, then
    stays on the line until the far end hangs up (after the agent and the satisfaction survey).

    sipp replays the DTMF pcaps with their recorded RTP sequence numbers, which rise with the digit
    (1 < 2 < ... < 9): a lower digit after a higher one looks like an old packet and Asterisk drops it."""
    keys = [(prompt_seconds(sounds, "welcome") + MARGIN, "2"), (MARGIN, "3")]
    xml = uac_scenario("".join(k for _, k in keys), caller=CALLER, first_dtmf_ms=int(keys[0][0] * 1000),
                       dtmf_gap_ms=GAP_TAG, hangup="asterisk")
    assert f'<pause milliseconds="{GAP_TAG}"/>' in xml
    return xml.replace(f'<pause milliseconds="{GAP_TAG}"/>', f'<pause milliseconds="{int(keys[1][0] * 1000)}"/>')


@dataclass
class Hotline:
    app: web.Application
    server: TestServer
    settings: Settings
    db: Database
    seeded: Seeded
    asterisk: AsteriskInstance

    @property
    def acd(self) -> Acd:
        return self.app[ACD]

    def pk(self, agent_id: str) -> int:
        return self.seeded.agents[agent_id]


@pytest.fixture
async def hotline(asterisk: AsteriskInstance, settings: Settings, db: Database,
                  hotline_sounds: Path) -> AsyncIterator[Callable[..., Any]]:
    servers: list[TestServer] = []

    async def start(**ring: float) -> Hotline:
        s = settings_for_asterisk(asterisk, settings, ring=ring) if ring else settings_for_asterisk(asterisk, settings)
        seeded = await seed(db)
        async with db.begin() as session:
            session.add(Queue(name="repair", display_name="故障报修", skill="repair", weight=20,
                              max_wait_seconds=300, announce_every_seconds=30))
        # The production call side: the shipped flows (hotline.flow = gas) with the prompts rendered above.
        app = telephony_app(s, db, recordings_dir=asterisk.recordings_dir_host,
                            asterisk_path=asterisk.asterisk_path)
        setup_console(app)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        async with asyncio.timeout(30):  # a guard against a hang, not a speed assertion
            await app[ARI].session.resynced.wait()
        return Hotline(app, server, s, db, seeded, asterisk)

    try:
        yield start
    finally:
        for server in servers:
            await server.close()


async def ready(page: Any) -> None:
    await expect(page.locator("#conn")).to_have_text("已连接")
    await page.click("#btn-login")
    await expect(page.locator("#state-badge")).to_have_text("示忙")
    await page.click("#btn-ready")
    await expect(page.locator("#state-badge")).to_have_text("就绪")


async def wrap_up(page: Any, description: str) -> str:
    await expect(page.locator("#wrapup")).to_be_visible()
    await page.select_option("#wrapup-category", "故障报修")
    await page.fill("#wrapup-notes", "燃气表不走字，已登记报修")
    await page.check("#wrapup-create")
    await page.select_option("#order-type", "repair")
    await page.fill("#order-description", description)
    await page.click("#wrapup-submit")
    await expect(page.locator("#wrapup-result")).to_contain_text("已创建工单 GD")
    return str(await page.locator("#wrapup-result").get_attribute("data-work-order"))


async def test_sipp_call_pops_agent_answers_after_one_ring_and_wraps_up(
        hotline: Callable[..., Any], browser: Any, asterisk: AsteriskInstance, asterisk_ports: PortAllocator,
        hotline_sounds: Path, tmp_path: Path) -> None:
    h: Hotline = await hotline()
    page = await agent_page(browser, h.server, "1001")
    await ready(page)
    phone = await start_sipp(SIPP_DIR / "uas_agent_answer.xml", asterisk_ports,
                             local_port=asterisk.agent_port("agent-1001"), pause_ms=1000, timeout=120)
    scenario = tmp_path / "caller.xml"
    scenario.write_text(caller_scenario(hotline_sounds), encoding="iso-8859-1")
    async with phone, await start_sipp(scenario, asterisk_ports, remote=f"127.0.0.1:{asterisk.sip_port}",
                                       service=asterisk.inbound_extension, timeout=120) as caller:
        # The pop arrives while the phone rings: the customer found by the IVR, the keys pressed.
        try:
            await expect(page.locator("#cust-name")).to_have_text("李娜", timeout=60_000)
        except AssertionError:  # no pop at all: say what the SIP side and Asterisk saw
            print("CALLER", (await caller.kill()).describe())
            print("PHONE", (await phone.kill()).describe())
            print("ASTERISK", asterisk.log_tail(120))
            raise
        # The path as the agent reads it: the flow's Chinese labels and what the caller chose.
        await expect(page.locator("#ivr-path")).to_contain_text("主菜单：按2 故障报修")
        await expect(page.locator("#ivr-path")).to_contain_text("故障报修：按3 燃气具故障")
        await expect(page.locator("#call-queue")).to_have_text("故障报修")
        # The phone answers after one ring (1 s): connected, greeting without an apology.
        await expect(page.locator("#call-card")).to_have_attribute("data-phase", "talking", timeout=15_000)
        await expect(page.locator("#greeting")).to_have_text(render_greeting(h.settings, "1001", False))
        await expect(page.locator("#apology-note")).to_be_hidden()
        await shot(page, "e2e-01-talking-after-one-ring")
        await page.click("#btn-hangup")  # the agent ends the call from the console: BYE to the phone
        number = await wrap_up(page, "燃气表不走字，需上门检修（实呼测试）")
        await shot(page, "e2e-02-wrapup-done")
        phone_result = await phone.wait()
        caller_result = await caller.wait()  # survey (no answer), then the flow hangs up the caller
    assert phone_result.ok, phone_result.describe()
    assert caller_result.ok, caller_result.describe()
    async with h.db.session() as s:
        # The call we placed (the fallback intake may also have filed an earlier test's message from him).
        call = (await s.execute(select(Call).where(Call.caller_number == CALLER, Call.protocol == "ari"))).scalar_one()
        offers = (await s.execute(select(Offer).where(Offer.call_id == call.id))).scalars().all()
        violations = (await s.execute(select(Violation))).scalars().all()
        order = (await s.execute(select(WorkOrder).where(WorkOrder.number == number))).scalar_one()
    assert [o.result for o in offers] == [OfferResult.ANSWERED] and violations == []
    assert offers[0].answered_at is not None
    assert (offers[0].answered_at - offers[0].ring_started_at).total_seconds() < h.settings.ring.limit_seconds
    assert call.agent_pk == h.pk("1001") and call.queue_name == "repair" and call.category == "故障报修"
    assert order.call_id == call.id and order.contact_phone == CALLER and order.customer_id == call.customer_id
    assert h.acd.roster.get(h.pk("1001")).state is AgentState.READY
    assert page.errors == []


async def test_unanswered_phone_goes_to_the_next_agent_who_apologises(
        hotline: Callable[..., Any], browser: Any, asterisk: AsteriskInstance, asterisk_ports: PortAllocator,
        hotline_sounds: Path, tmp_path: Path) -> None:
    h: Hotline = await hotline(on_seconds=1.0, off_seconds=1.0, count=3)  # 3 rings = 6 s
    first = await agent_page(browser, h.server, "1001")
    await ready(first)
    second = await agent_page(browser, h.server, "1002")
    await ready(second)
    never = await start_sipp(SIPP_DIR / "uas_agent_noanswer.xml", asterisk_ports,
                             local_port=asterisk.agent_port("agent-1001"), timeout=120)
    answers = await start_sipp(SIPP_DIR / "uas_agent_answer.xml", asterisk_ports,
                               local_port=asterisk.agent_port("agent-1002"), pause_ms=1000, timeout=120)
    scenario = tmp_path / "caller.xml"
    scenario.write_text(caller_scenario(hotline_sounds), encoding="iso-8859-1")
    async with never, answers, await start_sipp(scenario, asterisk_ports, remote=f"127.0.0.1:{asterisk.sip_port}",
                                                service=asterisk.inbound_extension, timeout=120) as caller:
        await expect(first.locator("#cust-name")).to_have_text("李娜", timeout=60_000)
        await expect(first.locator("#ring-text")).to_contain_text("第 3 / 3 声", timeout=15_000)
        await shot(first, "e2e-03-first-agent-third-ring")
        # Nobody picks up phone 1001 within 3 rings: the ACD cancels it and rings 1002.
        await expect(first.locator("#ring-missed")).to_be_visible(timeout=15_000)
        await expect(first.locator("#state-reason")).to_have_text("未及时接听")
        await expect(second.locator("#cust-name")).to_have_text("李娜")
        await expect(second.locator("#call-card")).to_have_attribute("data-phase", "talking", timeout=15_000)
        await expect(second.locator("#greeting")).to_have_text(render_greeting(h.settings, "1002", True))
        await expect(second.locator("#apology-note")).to_be_visible()
        await shot(first, "e2e-04-first-agent-missed")
        await shot(second, "e2e-05-second-agent-apology")
        await second.click("#btn-hangup")
        await wrap_up(second, "燃气表故障（转接后受理）")
        never_result = await never.wait()
        answers_result = await answers.wait()
        caller_result = await caller.wait()
    assert never_result.ok, never_result.describe()  # it saw the CANCEL: the ring really was taken back
    assert answers_result.ok, answers_result.describe()
    assert caller_result.ok, caller_result.describe()
    async with h.db.session() as s:
        # The call we placed (the fallback intake may also have filed an earlier test's message from him).
        call = (await s.execute(select(Call).where(Call.caller_number == CALLER, Call.protocol == "ari"))).scalar_one()
        offers = (await s.execute(select(Offer).where(Offer.call_id == call.id).order_by(Offer.id))).scalars().all()
        [violation] = (await s.execute(select(Violation))).scalars().all()
    assert [(o.agent_pk, o.result) for o in offers] == [(h.pk("1001"), OfferResult.NO_ANSWER),
                                                        (h.pk("1002"), OfferResult.ANSWERED)]
    assert (violation.agent_pk, violation.call_id, violation.kind) == (h.pk("1001"), call.id, "ring_no_answer")
    assert call.ring_seconds_total > h.settings.ring.limit_seconds
    slot = h.acd.roster.get(h.pk("1001"))
    assert slot.state is AgentState.NOT_READY and slot.reason == "未及时接听"
    assert first.errors == [] and second.errors == []
