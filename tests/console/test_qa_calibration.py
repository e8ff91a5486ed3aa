"""The calibration report in real headless Chromium: a QA reviewer overrides rules on the call page, then the
report shows per rule and per reviewer which way the machine was corrected, with links back to the calls.
Screenshot: test-artifacts/qa-09-calibration.png."""

from __future__ import annotations

from typing import Any, Callable

import pytest
from playwright.async_api import expect

from tests.console.conftest import agent_page, shot
from tests.console.qa_helpers import seed_scored_calls

pytestmark = pytest.mark.browser


async def override(page: Any, rule: str, points: str, reason: str) -> None:
    row = page.locator(f"#rules tr[data-rule='{rule}']")
    await row.locator(".ov-open").click()
    await row.locator(".ov-points").fill(points)
    await row.locator(".ov-reason").fill(reason)
    await row.locator(".ov-save").click()
    await expect(row.locator(".pts")).to_contain_text(f"{points} / ")  # the page shows the reviewer's points


async def test_calibration_report_shows_where_reviewers_disagree(console: Callable[..., Any], browser: Any) -> None:
    c, server = await console()
    world = await seed_scored_calls(c.db, c.settings)
    calls = world.calls
    base = f"http://{server.host}:{server.port}"
    page = await agent_page(browser, server, "2001", f"/qa/calls/{calls['forbidden']}")
    await expect(page.locator("body")).to_have_attribute("data-ready", "1")
    await override(page, "forbidden_phrases", "20", "录音为“这个不归我们管辖”，识别错误")
    await expect(page.locator("#rules tr[data-rule='forbidden_phrases']")).to_have_attribute("data-passed", "1")
    await page.goto(f"{base}/qa/calls/{calls['good']}")
    await expect(page.locator("body")).to_have_attribute("data-ready", "1")
    await override(page, "courtesy", "5", "语气生硬")
    await expect(page.locator("#rules tr[data-rule='courtesy']")).to_have_attribute("data-passed", "0")

    await page.click("#nav-calibration")
    await expect(page.locator("#kpi-reviewed")).to_have_text("2")
    await expect(page.locator("#kpi-agreement")).to_have_text("0%")
    forbidden = page.locator("#calibration-rules tr[data-rule='forbidden_phrases']")
    await expect(forbidden.locator(".false-alarm")).to_have_text("1")
    await expect(forbidden.locator(".rate")).to_have_text("50%")
    courtesy = page.locator("#calibration-rules tr[data-rule='courtesy']")
    await expect(courtesy.locator(".miss")).to_have_text("1")
    reviewer = page.locator("#calibration-reviewers tbody tr")
    await expect(reviewer).to_have_count(1)
    await expect(reviewer.locator(".changed")).to_have_text("2")
    await expect(reviewer).to_contain_text("2001 孙质检")
    await shot(page, "qa-09-calibration")
    # The links lead back to the call where the machine was corrected.
    await forbidden.locator(f"a.call[data-call='{calls['forbidden']}']").click()
    await expect(page.locator("body")).to_have_attribute("data-ready", "1")
    await expect(page.locator("#rules tr[data-rule='forbidden_phrases'] .pts")).to_have_text("20 / 20")
    assert page.errors == []
