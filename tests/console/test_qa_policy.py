"""The QA pages for what issue 16 adds, over real HTTP against a real database: calls with no verdict
(unscorable) listed and counted apart, the must-review queue saying why, the spot-check list, and QA before
a speech model is installed."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Callable

from sqlalchemy import update

from agent_console.qa.keys import QA_TIMELINE
from ivr.db.models import HangupSide, QaScore, TranscriptionJob, utcnow
from recordings.qa.rubric import load_rubric
from recordings.qa.store import score_call
from tests.console.conftest import Console, http, login
from tests.console.qa_helpers import FIXTURES, QaWorld, add_agents, seed_scored_calls
from tests.recordings.helpers import finished_call, store_segments


def listed(html: str) -> set[int]:
    return {int(x) for x in re.findall(r'<tr data-call="(\d+)"', html)}


async def started(console: Callable[..., Any], **sections: Any) -> tuple[Console, Any, QaWorld]:
    c, server = await console(**sections)
    return c, server, await seed_scored_calls(c.db, c.settings)


async def add_scored(c: Console, fixture: str, *, agent_id: str = "1024", hours: float = 1.0) -> int:
    fx = FIXTURES[fixture]
    made = await finished_call(c.db, agent_id=agent_id, talk=fx.facts.talk_seconds or 40.0,
                               started=utcnow() - dt.timedelta(hours=hours))
    await store_segments(c.db, made.call_id, fx.segments)
    await score_call(c.db, made.call_id, load_rubric(), c.settings)
    return made.call_id


async def test_unscorable_calls_are_listed_and_counted_apart(console: Callable[..., Any]) -> None:
    c, server, world = await started(console)
    short = await add_scored(c, "unscorable_caller_left_in_greeting")
    async with http(server) as qa, http(server) as boss:
        await login(qa, "2001")
        await login(boss, "3001")
        page = await (await qa.get("/qa")).text()
        assert short in listed(page)
        assert "共 5 通" in page and 'id="unscorable-count"' in page and "其中无法评分 1 通" in page
        row = re.search(rf'<tr data-call="{short}">.*?</tr>', page, re.S)
        assert row is not None and "无法评分" in row[0] and "通话过短（不足 10 秒）" in row[0]
        only = await (await qa.get("/qa", params={"result": "unscorable"})).text()
        assert listed(only) == {short}
        failed = await (await qa.get("/qa", params={"result": "fail"})).text()
        assert short not in listed(failed) and listed(failed) == {world.calls["forbidden"], world.calls["late"]}
        assert short not in listed(await (await qa.get("/qa/review")).text())
        detail = await (await qa.get(f"/api/qa/calls/{short}")).json()
        assert detail["score"]["unscorable"] == "short_talk"
        assert detail["score"]["unscorable_text"] == "通话过短（不足 10 秒）"
        trends = await (await boss.get("/qa/trends", params={"team": ""})).text()
        # Four calls with a verdict, two of them passing: the short call is only counted.
        assert 'id="kpi-calls">4<' in trends and 'id="kpi-pass-rate">50%<' in trends
        assert 'id="kpi-unscorable">1<' in trends
        qa.cookie_jar.update_cookies({"hotline_lang": "en"})
        english = await (await qa.get("/qa")).text()
        assert "of which 1 unscorable" in english


async def test_queue_says_why_and_the_spot_check_list(console: Callable[..., Any]) -> None:
    c, server, world = await started(console)
    eighty = await add_scored(c, "review_failed_between_70_and_85")
    # Which calls the sample draws is the scorer's (tests/recordings/test_rubric_file.py): here, the good one.
    async with c.db.begin() as s:
        await s.execute(update(QaScore).where(QaScore.call_id == world.calls["good"]).values(spot_check=True))
    async with http(server) as qa, http(server) as agent:
        csrf = await login(qa, "2001")
        await login(agent, "1024")
        queue = await (await qa.get("/qa/review")).text()
        assert eighty in listed(queue)
        row = re.search(rf'<tr data-call="{eighty}">.*?</tr>', queue, re.S)
        assert row is not None and "不合格：得分 80 低于合格线 85" in row[0]
        assert 'id="nav-spot"' in queue
        spot = await (await qa.get("/qa/spot-check")).text()
        assert listed(spot) == {world.calls["good"]} and "随机抽检" in spot
        r = await qa.post(f"/api/qa/calls/{world.calls['good']}/reviews", json={"comment": "抽检：评分属实"},
                          headers={"X-CSRF-Token": csrf})
        assert r.status == 200
        after = await (await qa.get("/qa/spot-check")).text()
        assert listed(after) == set() and 'id="spot-checks-empty"' in after
        assert (await agent.get("/qa/spot-check")).status == 403


async def test_qa_before_a_speech_model_is_installed(console: Callable[..., Any]) -> None:
    """A fresh install: answered, recorded calls and no Vosk model. The QA pages list them with the timeline
    rules scored, reviewers can review, and every page says that transcription waits for a model."""
    c, server = await console()
    await add_agents(c.db)
    fine = (await finished_call(c.db, agent_id="1024", started=utcnow() - dt.timedelta(hours=2))).call_id
    hung_up = (await finished_call(c.db, agent_id="2048", hangup=HangupSide.AGENT,
                                   started=utcnow() - dt.timedelta(hours=1))).call_id
    async with c.db.begin() as s:
        s.add_all([TranscriptionJob(call_id=fine), TranscriptionJob(call_id=hung_up)])
    assert await c.app[QA_TIMELINE].sweep() == 2
    async with http(server) as qa:
        csrf = await login(qa, "2001")
        page = await (await qa.get("/qa")).text()
        assert listed(page) == {fine, hung_up} and "共 2 通" in page
        assert 'id="speech-state"' in page and 'data-model="missing"' in page
        assert "尚未安装语音识别模型：2 通通话等待转写" in page
        row = re.search(rf'<tr data-call="{fine}">.*?</tr>', page, re.S)
        assert row is not None and "待转写" in row[0] and "不合格" not in row[0]
        queue = await (await qa.get("/qa/review")).text()
        assert listed(queue) == {hung_up} and "一票否决：客户先挂机（坐席先挂机）" in queue
        assert "尚未安装语音识别模型" in queue
        detail = await (await qa.get(f"/api/qa/calls/{fine}")).json()
        assert detail["score"]["verdict"] == "pending" and detail["score"]["speech_pending"]
        rules = {r["id"]: r for r in detail["rules"]}
        assert rules["answered_in_time"]["passed"] and not rules["answered_in_time"]["pending"]
        assert rules["greeting"]["pending"]
        r = await qa.post(f"/api/qa/calls/{hung_up}/reviews", json={"comment": "听录音：客户已道别，坐席挂机"},
                          headers={"X-CSRF-Token": csrf})
        assert r.status == 200
        assert listed(await (await qa.get("/qa/review")).text()) == set()


async def test_calibration_page_access_and_dates(console: Callable[..., Any]) -> None:
    c, server, world = await started(console)
    async with http(server) as qa, http(server) as agent:
        await login(qa, "2001")
        await login(agent, "1024")
        page = await (await qa.get("/qa/calibration")).text()
        assert 'id="calibration-empty"' in page and 'id="nav-calibration"' in page
        r = await qa.get("/qa/calibration", params={"since": "2026-02-30"})
        assert r.status == 400 and "日期请用" in await r.text()
        r = await qa.get("/qa/calibration", params={"since": "2026-03-02", "until": "2026-03-01"})
        assert r.status == 400
        assert (await agent.get("/qa/calibration")).status == 403
