"""The console in real headless Chromium against a real aiohttp server, real database, real ACD; the phones are
the in-memory dialer (the same pages against the real Asterisk: test_e2e_asterisk.py). Screenshots go to
test-artifacts/."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from tests.fakes.acd import FakeChannel
from ivr.db.models import Violation, WorkOrder, WorkOrderType
from ivr.settings import render_greeting
from tests.acd.helpers import Request
from tests.console.conftest import agent_page, rich_call, shot

pytestmark = pytest.mark.browser


async def ready(page: Any) -> None:
    await expect(page.locator("#conn")).to_have_text("已连接")
    await page.click("#btn-login")
    await expect(page.locator("#state-badge")).to_have_text("示忙")
    await page.click("#btn-ready")
    await expect(page.locator("#state-badge")).to_have_text("就绪")


async def test_pop_answer_in_time_and_wrap_up(console: Callable[..., Any], browser: Any) -> None:
    c, server = await console()
    page = await agent_page(browser, server, "1001")
    await ready(page)
    call_id = await rich_call(c.db, c.seeded)
    task = asyncio.create_task(c.acd.enqueue(call_id, FakeChannel(f"ch-{call_id}"), Request()))
    leg = await c.dialer.next_ring()

    await expect(page.locator("#call-card")).to_be_visible()
    await expect(page.locator("#state-badge")).to_have_text("振铃中")
    await expect(page.locator("#ring-text")).to_contain_text("第 1 / 3 声")
    await expect(page.locator("#caller-number")).to_have_text("13800138000")
    await expect(page.locator("#cust-name")).to_have_text("张伟")
    await expect(page.locator("#cust-id")).to_have_text("110***********1234")
    await expect(page.locator("#verified")).to_have_text("已通过身份验证")
    await expect(page.locator("#special")).to_be_visible()
    await expect(page.locator("#ivr-path")).to_contain_text("main_menu：2")
    await expect(page.locator("#ivr-path")).to_contain_text("verify_id：110***********1234，通过")
    await expect(page.locator("#orders")).to_contain_text("GD2026010100001")
    await expect(page.locator("#recent-calls")).to_contain_text("故障报修")
    await expect(page.locator("#outages")).to_contain_text("管网改造")
    await shot(page, "console-01-pop-ringing")

    leg.answer()  # within the first ring
    await expect(page.locator("#call-card")).to_have_attribute("data-phase", "talking")
    await expect(page.locator("#greeting")).to_have_text(render_greeting(c.settings, "1001", waited_too_long=False))
    await expect(page.locator("#apology-note")).to_be_hidden()
    await expect(page.locator("#closing")).to_have_text(c.settings.hotline.closing)
    await expect(page.locator("#forbidden")).to_contain_text("不归我管")
    await page.click("#btn-hold")
    await expect(page.locator("#held")).to_be_visible()
    await page.click("#btn-hold")
    await expect(page.locator("#held")).to_be_hidden()
    await shot(page, "console-02-talking-greeting")

    leg.hang_up()
    await task
    await expect(page.locator("#wrapup")).to_be_visible()
    await expect(page.locator("#state-badge")).to_have_text("话后处理")
    await page.select_option("#wrapup-category", "故障报修")
    await page.fill("#wrapup-notes", "客户反映燃气灶打不着火")
    await page.check("#wrapup-create")
    await page.select_option("#order-type", "repair")
    await page.fill("#order-description", "燃气灶打不着火，需上门检修")
    await shot(page, "console-03-wrapup-form")
    await page.click("#wrapup-submit")
    await expect(page.locator("#wrapup-result")).to_contain_text("已创建工单 GD")
    await expect(page.locator("#state-badge")).to_have_text("就绪")
    number = await page.locator("#wrapup-result").get_attribute("data-work-order")
    async with c.db.session() as s:
        order = (await s.execute(select(WorkOrder).where(WorkOrder.number == number))).scalar_one()
    assert order.type is WorkOrderType.REPAIR and order.call_id == call_id
    assert order.description == "燃气灶打不着火，需上门检修"
    await shot(page, "console-04-wrapup-done")
    assert page.errors == []


async def test_no_answer_goes_to_the_next_agent_who_apologises(console: Callable[..., Any], browser: Any) -> None:
    c, server = await console(ring={"on_seconds": 0.5, "off_seconds": 0.5, "count": 3})  # 3 rings = 3 s
    first = await agent_page(browser, server, "1001")
    await ready(first)
    second = await agent_page(browser, server, "1002")
    await ready(second)
    call_id = await rich_call(c.db, c.seeded, customer="李娜", verified=False)
    task = asyncio.create_task(c.acd.enqueue(call_id, FakeChannel(f"ch-{call_id}"), Request()))
    leg1 = await c.dialer.next_ring()
    assert leg1.endpoint == "agent-1001"
    await expect(first.locator("#cust-name")).to_have_text("李娜")
    await expect(first.locator("#verified")).to_have_text("未验证身份")
    await expect(second.locator("#idle")).to_be_visible()
    await expect(first.locator("#ring-text")).to_contain_text("第 3 / 3 声")
    await shot(first, "console-05-third-ring")

    leg2 = await c.dialer.next_ring()  # the deadline passed: the next agent's phone rings
    assert leg2.endpoint == "agent-1002" and leg1.cancelled
    await expect(first.locator("#ring-missed")).to_be_visible()
    await expect(first.locator("#state-badge")).to_have_text("示忙")
    await expect(first.locator("#state-reason")).to_have_text("未及时接听")
    await expect(first.locator("#pop")).to_be_hidden()  # the caller's data left with the call
    await expect(second.locator("#cust-name")).to_have_text("李娜")
    await shot(first, "console-06-missed")
    leg2.answer()
    await expect(second.locator("#greeting")).to_have_text(render_greeting(c.settings, "1002", waited_too_long=True))
    await expect(second.locator("#greeting")).to_contain_text("对不起，让您久等了")
    await expect(second.locator("#apology-note")).to_be_visible()
    await shot(second, "console-07-apology-greeting")
    leg2.hang_up()
    await task
    async with c.db.session() as s:
        [v] = (await s.execute(select(Violation))).scalars().all()
    assert v.agent_pk == c.pk("1001") and v.kind == "ring_no_answer" and v.call_id == call_id
    assert first.errors == [] and second.errors == []


async def test_wallboard_live_states_queues_and_charts(console: Callable[..., Any], browser: Any) -> None:
    c, server = await console()
    board = await agent_page(browser, server, "3001", "/wallboard")
    await expect(board.locator("body")).to_have_attribute("data-ready", "1")
    await c.acd.login(c.pk("1001"))
    await c.acd.set_ready(c.pk("1001"))
    await expect(board.locator("#agents tr[data-agent='1001']")).to_have_attribute("data-state", "ready")
    # One call answered by 1001, one waiting in line: the board shows both.
    call_id = await rich_call(c.db, c.seeded)
    task = asyncio.create_task(c.acd.enqueue(call_id, FakeChannel(f"ch-{call_id}"), Request()))
    leg = await c.dialer.next_ring()
    leg.answer()
    await expect(board.locator("#agents tr[data-agent='1001']")).to_have_attribute("data-state", "talking")
    waiting_id = await rich_call(c.db, c.seeded, customer="李娜")
    waiting = asyncio.create_task(c.acd.enqueue(waiting_id, FakeChannel(f"ch-{waiting_id}"), Request()))
    await expect(board.locator("#queues tr[data-queue='general'] td.waiting")).to_have_text("1")
    await expect(board.locator("#kpi-waiting")).to_have_text("1")
    await expect(board.locator("#kpi-answered")).to_have_text("1")
    await expect(board.locator("#compliance tr[data-agent='1001'] td.compliance")).to_have_text("100.0%")
    charts = await board.evaluate(
        "() => ['chart-queues', 'chart-compliance', 'chart-hours'].map(id => !!Chart.getChart(id))")
    assert charts == [True, True, True]
    await shot(board, "console-08-wallboard")
    waiting.cancel()
    leg.hang_up()
    await task
    await asyncio.gather(waiting, return_exceptions=True)
    assert board.errors == []


async def test_reconnect_resumes_and_anonymous_is_refused(console: Callable[..., Any], browser: Any) -> None:
    c, server = await console()
    page = await agent_page(browser, server, "1001")
    await ready(page)
    await page.evaluate("() => window.hotlineLive.drop()")
    await expect(page.locator("body")).to_have_attribute("data-connected", "0")
    await c.acd.set_not_ready(c.pk("1001"), "用餐")
    await expect(page.locator("body")).to_have_attribute("data-connected", "1")
    await expect(page.locator("#state-reason")).to_have_text("用餐")
    kinds = await page.evaluate("() => window.hotlineLog.map(m => m.type)")
    assert kinds.count("snapshot") == 1 and "resumed" in kinds  # resumed from its sequence number, no reload

    anon = await (await browser.new_context()).new_page()
    await anon.goto(f"http://{server.host}:{server.port}/agent")
    await expect(anon.locator("#login-form")).to_be_visible()
    opened = await anon.evaluate("""() => new Promise(done => {
        const ws = new WebSocket(`ws://${location.host}/ws`);
        ws.onopen = () => done('open'); ws.onclose = () => done('refused'); })""")
    assert opened == "refused"
    await anon.click("#lang-switch")
    await expect(anon.locator("#login-submit")).to_have_text("Log in")
    await shot(anon, "console-09-login-english")
