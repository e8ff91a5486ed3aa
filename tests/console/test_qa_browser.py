"""The QA pages in real headless Chromium against a real aiohttp server and database: QA staff filter, open a
call whose recording was spoken by espeak-ng from its transcript, jump to evidence in the audio, override a
rule, comment, export CSV; an agent sees only their own calls; a supervisor sees the trend charts.
Screenshots go to test-artifacts/qa-*.png."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Callable

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from ivr.db.models import QaReview, RecordingAccess
from tests.console.conftest import agent_page, shot
from tests.console.qa_helpers import add_recordings, seed_scored_calls, spoken_call

pytestmark = pytest.mark.browser
PLAYER = "document.getElementById('player')"


@pytest.fixture(scope="session")
def spoken_forbidden(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The bu_gui_wo_guan call spoken at its transcript's times (made once: espeak-ng takes a few seconds)."""
    return spoken_call("bu_gui_wo_guan", tmp_path_factory.mktemp("qa-audio"))


async def rows(page: Any, table: str) -> list[int]:
    return [int(x) for x in await page.locator(f"#{table} tbody tr").evaluate_all(
        "trs => trs.map(tr => tr.dataset.call)")]


async def paused_at(page: Any) -> float:
    """Pause the player and return where it stands once the transcript highlight has caught up with it."""
    await page.evaluate(f"() => {PLAYER}.pause()")
    await page.wait_for_function(f"""() => {{
        const t = {PLAYER}.currentTime;
        const now = [...document.querySelectorAll('#transcript li.seg.now')];
        return now.length > 0 && now.every(li => +li.dataset.start <= t && t < +li.dataset.end); }}""")
    return float(await page.evaluate(f"() => {PLAYER}.currentTime"))


async def test_qa_filters_listens_overrides_and_exports(console: Callable[..., Any], browser: Any,
                                                        spoken_forbidden: dict[str, Path]) -> None:
    c, server = await console()
    world = await seed_scored_calls(c.db, c.settings)
    calls = world.calls
    recs = await add_recordings(c.db, calls["forbidden"], spoken_forbidden)
    page = await agent_page(browser, server, "2001", "/qa")

    await expect(page.locator("#scores tbody tr")).to_have_count(4)
    assert set(await rows(page, "scores")) == set(calls.values())
    await expect(page.locator("#scores")).to_contain_text("138****8000")
    await expect(page.locator("#scores")).not_to_contain_text("13800138000")
    await shot(page, "qa-01-list")

    await page.fill("#f-keyword", "12345")  # the caller said 幺二三四五
    await page.click("#f-submit")
    await expect(page.locator("#scores tbody tr")).to_have_count(1)
    assert await rows(page, "scores") == [calls["complaint"]]
    await page.click("#f-reset")
    await expect(page.locator("#scores tbody tr")).to_have_count(4)
    await page.select_option("#f-agent", "1024")
    await page.select_option("#f-result", "fail")
    await page.click("#f-submit")
    await expect(page.locator("#scores tbody tr")).to_have_count(1)
    assert await rows(page, "scores") == [calls["forbidden"]]
    await expect(page.locator("#f-agent")).to_have_value("1024")  # the form keeps the filter
    await shot(page, "qa-02-filtered")

    await page.click("#nav-review")
    await expect(page.locator("#review-queue tbody tr")).to_have_count(3)  # every failed call, risk words
    await expect(page.locator(f"#review-queue tr[data-call='{calls['forbidden']}'] td.why")).to_contain_text("一票否决")
    await expect(page.locator(f"#review-queue tr[data-call='{calls['complaint']}'] td.why")).to_contain_text("12345")
    await shot(page, "qa-03-review-queue")

    await page.click(f"#review-queue tr[data-call='{calls['forbidden']}'] a.open")
    await expect(page.locator("body")).to_have_attribute("data-ready", "1")
    await expect(page.locator("#score-total")).to_have_text("80")
    await expect(page.locator("#masked-note")).to_be_visible()
    await expect(page.locator("#transcript li.seg.agent")).to_have_count(3)
    await expect(page.locator("#transcript li.seg.caller")).to_have_count(2)
    await expect(page.locator("#tracks button")).to_have_count(3)
    await page.wait_for_function(f"() => {PLAYER}.readyState >= 1 && {PLAYER}.duration > 15")
    assert await page.evaluate(f"() => {PLAYER}.currentTime") == 0
    assert (await page.evaluate(f"() => {PLAYER}.src")).endswith(f"/qa/recordings/{recs['mixed']}/audio")

    # Jump to the evidence of the forbidden phrase: the player moves there and the transcript follows.
    evidence = page.locator("#rules tr[data-rule='forbidden_phrases'] td.evidence button.ev").first
    await expect(evidence).to_contain_text("不归我管")
    target = float(await evidence.get_attribute("data-start") or "nan")
    assert 10.5 <= target < 13.0
    await evidence.click()
    assert await paused_at(page) >= target  # and the highlighted line is the one under the playhead
    said = page.locator("#transcript li.seg", has_text="不归我管")
    assert float(await said.get_attribute("data-start") or "nan") <= target < float(
        await said.get_attribute("data-end") or "nan")
    await shot(page, "qa-04-detail-evidence")

    # Clicking a line of the transcript seeks too (here: the caller's first words).
    caller_line = page.locator("#transcript li.seg.caller").first
    start = float(await caller_line.get_attribute("data-start") or "nan")
    await caller_line.click()
    at = await paused_at(page)
    assert start <= at and await page.evaluate(f"() => {PLAYER}.dataset.seek") == f"{start:g}"

    # Override: the instant fail was a recognition error.
    row = page.locator("#rules tr[data-rule='forbidden_phrases']")
    await expect(row).to_have_attribute("data-passed", "0")
    await row.locator(".ov-open").click()
    await row.locator(".ov-points").fill("20")
    await row.locator(".ov-reason").fill("录音为“这个不归我们管辖”，识别错误")
    await row.locator(".ov-save").click()
    await expect(page.locator("#score-total")).to_have_text("100")
    await expect(page.locator("#score-box")).to_have_attribute("data-passed", "1")
    await expect(page.locator("#score-auto")).to_contain_text("80")
    await expect(row.locator(".pts")).to_have_text("20 / 20")
    await expect(row).to_have_attribute("data-passed", "1")
    review_row = page.locator("#reviews tbody tr[data-rule='forbidden_phrases']")
    await expect(review_row.locator(".reviewer")).to_have_text("2001 孙质检")
    await expect(review_row.locator(".when")).not_to_be_empty()
    await expect(review_row.locator(".comment")).to_contain_text("识别错误")
    await page.fill("#review-comment", "已复核：识别错误，撤销一票否决")
    await page.click("#review-submit")
    await expect(page.locator("#review-result")).to_have_text("已保存")
    await expect(page.locator("#reviews tbody tr")).to_have_count(2)
    await shot(page, "qa-05-override")
    async with c.db.session() as s:
        reviews = (await s.execute(select(QaReview).order_by(QaReview.id))).scalars().all()
        listens = (await s.execute(select(RecordingAccess).where(RecordingAccess.recording_id == recs["mixed"]))
                   ).scalars().all()
    assert [(r.rule_id, r.points, r.reviewer_pk) for r in reviews] == [
        ("forbidden_phrases", 20, c.pk("2001")), ("", None, c.pk("2001"))]
    assert listens and {(a.agent_pk, a.call_id) for a in listens} == {(c.pk("2001"), calls["forbidden"])}
    assert "play" in {a.action for a in listens}

    await page.click("#nav-list")
    await expect(page.locator(f"#scores tr[data-call='{calls['forbidden']}'] .score")).to_have_text("100")
    async with page.expect_download() as info:
        await page.click("#export-csv")
    download = await info.value
    raw = Path(await download.path()).read_bytes()
    assert raw.startswith("\ufeff".encode())
    exported = {int(r["通话ID"]): r for r in csv.DictReader(io.StringIO(raw.decode("utf-8-sig")))}
    assert set(exported) == set(calls.values())
    assert {r["来电号码"] for r in exported.values()} == {"138****8000"} and b"13800138000" not in raw
    assert exported[calls["forbidden"]]["复核后得分"] == "100.0" and exported[calls["forbidden"]]["已复核"] == "是"
    assert page.errors == []


async def test_agent_sees_only_own_scores(console: Callable[..., Any], browser: Any,
                                          spoken_forbidden: dict[str, Path]) -> None:
    c, server = await console()
    world = await seed_scored_calls(c.db, c.settings)
    await add_recordings(c.db, world.calls["forbidden"], spoken_forbidden)
    page = await agent_page(browser, server, "2048", "/qa/mine")
    assert set(await rows(page, "my-scores")) == {world.calls["late"], world.calls["complaint"]}
    await expect(page.locator("#kpi-average")).to_have_text("90")
    await expect(page.locator("#nav-list")).to_have_count(0)
    await shot(page, "qa-06-agent-my-scores")

    await page.click(f"#my-scores tr[data-call='{world.calls['late']}'] a.open")
    await expect(page.locator("body")).to_have_attribute("data-ready", "1")
    await expect(page.locator("#rules tr[data-rule='apology_when_late']")).to_have_attribute("data-passed", "0")
    await expect(page.locator(".override, .ov-open")).to_have_count(0)
    await expect(page.locator("#review-form")).to_have_count(0)
    await expect(page.locator("#no-audio")).to_be_visible()
    assert page.errors == []

    response = await page.goto(f"http://{server.host}:{server.port}/qa/calls/{world.calls['forbidden']}")
    assert response is not None and response.status == 403
    await expect(page.locator("#qa-message")).to_have_text("您无权查看该通话")
    await expect(page.locator("body")).not_to_contain_text("不归我管")
    await shot(page, "qa-07-agent-refused")


async def test_supervisor_sees_team_trend_charts(console: Callable[..., Any], browser: Any) -> None:
    c, server = await console()
    await seed_scored_calls(c.db, c.settings)
    page = await agent_page(browser, server, "3001", "/qa/trends")
    await expect(page.locator("body")).to_have_attribute("data-ready", "1")
    await expect(page.locator("#kpi-calls")).to_have_text("4")
    charts = await page.evaluate("""() => ['chart-days', 'chart-agents', 'chart-rules'].map(id => {
        const ch = Chart.getChart(id); return ch ? ch.data.labels : null; })""")
    assert all(labels for labels in charts)
    assert sorted(charts[1]) == ["1024 陈晓燕", "2048 刘志强"]
    assert "服务禁用语" in charts[2] and "超过三声接听致歉" in charts[2]
    for canvas in ("#chart-days", "#chart-agents", "#chart-rules"):
        await expect(page.locator(canvas)).to_be_visible()
    await shot(page, "qa-08-trends")
    assert page.errors == []
