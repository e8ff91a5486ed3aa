"""The QA pages over real HTTP (real aiohttp server, real database): who may open what, masking, filters,
overrides with CSRF, the CSV export, and the audio route with Range requests and its access log."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any, Callable

import aiohttp
from sqlalchemy import select, update

from agent_console.qa.i18n import clashes
from ivr.db.models import QaReview, Recording, RecordingAccess, utcnow
from tests.console.conftest import Console, http, login
from tests.console.qa_helpers import QaWorld, add_recordings, noise_wav, seed_scored_calls

PAGES = ("/qa", "/qa/review", "/qa/mine", "/qa/trends", "/qa/calls/1", "/qa/export.csv")


async def started(console: Callable[..., Any], **sections: Any) -> tuple[Console, Any, QaWorld]:
    c, server = await console(**sections)
    world = await seed_scored_calls(c.db, c.settings)
    return c, server, world


def listed(html: str) -> set[int]:
    """The call ids in a score table."""
    return {int(x) for x in re.findall(r'<tr data-call="(\d+)"', html)}


async def access_log(c: Console) -> list[tuple[int | None, int | None, int | None, str]]:
    async with c.db.session() as s:
        # The reads that were served (refused ones are logged too: tests/security/test_pii_access.py).
        return [(r.call_id, r.recording_id, r.agent_pk, r.action) for r in (await s.execute(
            select(RecordingAccess).where(RecordingAccess.allowed.is_(True)).order_by(RecordingAccess.id))).scalars()]


async def test_anonymous_gets_the_login_page_or_401(console: Callable[..., Any]) -> None:
    c, server, world = await started(console)
    async with http(server) as anon:
        for path in PAGES:
            r = await anon.get(path, allow_redirects=False)
            assert r.status == 302 and r.headers["Location"] == f"/login?next={path}", path
        call = world.calls["good"]
        for method, path in (("GET", f"/api/qa/calls/{call}"), ("POST", f"/api/qa/calls/{call}/reviews"),
                             ("GET", "/qa/recordings/1/audio")):
            r = await anon.request(method, path, json={})
            assert r.status == 401 and (await r.json())["error"] == "请先登录", path
    assert await access_log(c) == []


async def test_agent_sees_only_own_calls(console: Callable[..., Any], tmp_path: Path) -> None:
    c, server, world = await started(console)
    mine = await add_recordings(c.db, world.calls["late"], {"mixed": noise_wav(tmp_path / "late.wav")})
    others = await add_recordings(c.db, world.calls["good"], {"mixed": noise_wav(tmp_path / "good.wav")})
    async with http(server) as agent:
        csrf = await login(agent, "2048")
        r = await agent.get("/qa", allow_redirects=False)
        assert r.status == 302 and r.headers["Location"] == "/qa/mine"
        page = await (await agent.get("/qa/mine")).text()
        assert listed(page) == {world.calls["late"], world.calls["complaint"]}
        assert 'id="kpi-calls">2<' in page and 'id="kpi-average">90<' in page and 'id="kpi-pass-rate">50%<' in page
        own = await agent.get(f"/api/qa/calls/{world.calls['late']}")
        assert own.status == 200 and (await own.json())["call"]["agent_id"] == "2048"
        assert (await agent.get(f"/qa/calls/{world.calls['late']}")).status == 200
        # A direct URL to another agent's call: refused, and nothing of it is sent.
        for path in (f"/qa/calls/{world.calls['good']}", f"/api/qa/calls/{world.calls['good']}",
                     f"/qa/recordings/{others['mixed']}/audio"):
            r = await agent.get(path)
            body = await r.text()
            assert r.status == 403, path
            assert "13800138000" not in body and "燃气表好像没气了" not in body
        assert (await agent.get(f"/qa/recordings/{mine['mixed']}/audio")).status == 200
        for path in ("/qa/review", "/qa/trends", "/qa/export.csv"):
            assert (await agent.get(path)).status == 403, path
        r = await agent.post(f"/api/qa/calls/{world.calls['late']}/reviews", json={"comment": "我觉得没问题"},
                             headers={"X-CSRF-Token": csrf})
        assert r.status == 403
    log = await access_log(c)
    assert (world.calls["good"], None, world.agents["2048"], "view_transcript") not in log
    assert (world.calls["late"], mine["mixed"], world.agents["2048"], "play") in log


async def test_qa_sees_masked_numbers_supervisor_does_not(console: Callable[..., Any]) -> None:
    c, server, world = await started(console)
    async with http(server) as qa, http(server) as boss:
        await login(qa, "2001")
        await login(boss, "3001")
        page = await (await qa.get("/qa")).text()
        assert listed(page) == set(world.calls.values())
        assert "138****8000" in page and "13800138000" not in page
        d = await (await qa.get(f"/api/qa/calls/{world.calls['good']}")).json()
        pii = next(g for g in d["segments"] if g["start"] == 40.0)
        assert pii["text"] == "我的手机是138****8000，身份证110***********002X" and d["masked"]
        assert d["call"]["caller_number"] == "138****8000"
        assert "13800138000" not in str(d) and "11010519491231002X" not in str(d)
        full = await (await boss.get(f"/api/qa/calls/{world.calls['good']}")).json()
        assert next(g for g in full["segments"] if g["start"] == 40.0)["text"].endswith("11010519491231002X")
        assert not full["masked"]
    views = [a for a in await access_log(c) if a[3] == "view_transcript"]
    assert [(v[0], v[2]) for v in views] == [(world.calls["good"], c.pk("2001")), (world.calls["good"], c.pk("3001"))]


async def test_filters(console: Callable[..., Any]) -> None:
    c, server, world = await started(console)
    calls = world.calls
    async with http(server) as qa, http(server) as boss:
        await login(qa, "2001")
        await login(boss, "3001")

        async def ids(client: aiohttp.ClientSession, **query: str) -> set[int]:
            r = await client.get("/qa", params=query)
            assert r.status == 200
            return listed(await r.text())

        assert await ids(qa, queue="complaint") == {calls["complaint"]}
        assert await ids(qa, category="故障报修") == {calls["late"]}
        assert await ids(qa, agent="1024", result="fail") == {calls["forbidden"]}
        assert await ids(qa, failed_rule="apology_when_late") == {calls["late"]}
        assert await ids(qa, min="90") == {calls["good"], calls["complaint"]}
        assert await ids(qa, max="85", result="fail") == {calls["late"], calls["forbidden"]}
        # Every failed call is reviewed (the 80-point late call too), and risk words (issue 16).
        assert await ids(qa, must_review="1") == {calls["forbidden"], calls["late"], calls["complaint"]}
        assert await ids(qa, team="二班") == {calls["late"], calls["complaint"]}
        assert await ids(qa, keyword="投诉") == {calls["complaint"]}
        assert await ids(qa, keyword="不归我管") == {calls["forbidden"]}
        assert await ids(qa, keyword="12345") == {calls["complaint"]}  # spoken: 幺二三四五
        # A masked number cannot be searched for by who may not see it; a supervisor finds it.
        assert await ids(qa, keyword="13800138000") == set()
        assert await ids(boss, keyword="13800138000") == {calls["good"]}
        assert await ids(qa, keyword="100%_") == set()  # LIKE wildcards are plain characters
        r = await qa.get("/qa", params={"since": "2026-13-01", "min": "abc", "agent": "7777"})
        page = await r.text()
        assert r.status == 200 and listed(page) == set()
        assert "不是有效日期" in page and "最低分“abc”不是有效分数" in page and "没有工号为“7777”的坐席" in page
        assert 'value="abc"' in page  # the form comes back as typed
        assert (await qa.get("/qa/export.csv", params={"min": "abc"})).status == 400


async def test_reviews_need_csrf_validate_and_record_who(console: Callable[..., Any]) -> None:
    c, server, world = await started(console)
    call = world.calls["forbidden"]
    url = f"/api/qa/calls/{call}/reviews"
    async with http(server) as qa:
        csrf = await login(qa, "2001")
        before = (await (await qa.get(f"/api/qa/calls/{call}")).json())["score"]
        assert before["instant_fail"] and not before["passed"]
        assert (await qa.post(url, json={"rule_id": "forbidden_phrases", "points": 20, "comment": "x"})).status == 403
        r = await qa.post(url, json={"rule_id": "forbidden_phrases", "points": 20, "comment": "x"},
                          headers={"X-CSRF-Token": csrf, "Origin": "http://evil.example"})
        assert r.status == 403
        h = {"X-CSRF-Token": csrf}
        for body, message in (({"rule_id": "forbidden_phrases", "points": 25, "comment": "x"}, "0 到 20"),
                              ({"rule_id": "forbidden_phrases", "points": 20}, "需要填写理由"),
                              ({"rule_id": "forbidden_phrases", "points": "abc", "comment": "x"}, "分数必须是数字"),
                              ({"rule_id": "forbidden_phrases", "points": True, "comment": "x"}, "分数必须是数字"),
                              ({"rule_id": "no_such_rule", "points": 1, "comment": "x"}, "不在评分表"),
                              ({"rule_id": "courtesy"}, "请填写分数或复核意见"),
                              ({"rule_id": "", "comment": "  "}, "需要填写复核意见"),
                              ({"comment": "x" * 2001}, "不能超过")):
            r = await qa.post(url, json=body, headers=h)
            assert r.status == 400 and message in (await r.json())["error"], body
        assert (await qa.post(url, data="not json", headers=h)).status == 400
        r = await qa.post(url, json={"rule_id": "forbidden_phrases", "points": "20", "comment": "录音是“不归我们管辖”，识别错误"},
                          headers=h)
        assert r.status == 200
        after = (await r.json())["detail"]
        assert after["score"]["effective_total"] == before["effective_total"] + 20
        assert not after["score"]["instant_fail"] and after["score"]["passed"]
        [review] = after["reviews"]
        assert (review["reviewer_id"], review["reviewer_name"], review["points"]) == ("2001", "孙质检", 20)
        r = await qa.post(url, json={"rule_id": "", "comment": "已复核：识别错误，撤销一票否决"}, headers=h)
        assert r.status == 200
        queue = await (await qa.get("/qa/review")).text()
        assert listed(queue) == {world.calls["late"], world.calls["complaint"]}
        assert (await qa.post(f"/api/qa/calls/{world.calls['good'] + 1000}/reviews", json={"comment": "x"},
                              headers=h)).status == 404
    async with c.db.session() as s:
        rows = (await s.execute(select(QaReview).order_by(QaReview.id))).scalars().all()
    assert [(r.rule_id, r.points, r.reviewer_pk) for r in rows] == [("forbidden_phrases", 20, c.pk("2001")),
                                                                    ("", None, c.pk("2001"))]
    assert all(r.at is not None for r in rows)


async def test_csv_export_masks_for_qa_not_for_admin(console: Callable[..., Any]) -> None:
    c, server, world = await started(console)
    async with http(server) as qa, http(server) as admin:
        await login(qa, "2001")
        await login(admin, "9001")
        r = await qa.get("/qa/export.csv", params={"queue": "general"})
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/csv")
        assert r.headers["Content-Disposition"].startswith('attachment; filename="qa-')
        raw = await r.read()
        assert raw.startswith("\ufeff".encode())
        rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        assert {int(x["通话ID"]) for x in rows} == {world.calls[k] for k in ("good", "forbidden", "late")}
        assert {x["来电号码"] for x in rows} == {"138****8000"} and b"13800138000" not in raw
        assert {x["队列"] for x in rows} == {"general"}
        full = await (await admin.get("/qa/export.csv")).text()
        assert "13800138000" in full
    exports = [a for a in await access_log(c) if a[3] == "export"]
    assert len(exports) == 3 + 4


async def test_audio_range_requests_are_checked_and_logged(console: Callable[..., Any], tmp_path: Path) -> None:
    c, server, world = await started(console)
    wav = noise_wav(tmp_path / "a.wav", seconds=5)
    rec = (await add_recordings(c.db, world.calls["good"], {"mixed": wav}))["mixed"]
    size = wav.stat().st_size
    async with http(server) as qa:
        await login(qa, "2001")
        r = await qa.get(f"/qa/recordings/{rec}/audio", headers={"Range": "bytes=0-"})
        assert r.status == 206 and r.headers["Accept-Ranges"] == "bytes"
        assert r.headers["Content-Type"] == "audio/wav" and "no-store" in r.headers["Cache-Control"]
        assert await r.read() == wav.read_bytes()
        r = await qa.get(f"/qa/recordings/{rec}/audio", headers={"Range": "bytes=1000-1999"})
        assert r.status == 206 and r.headers["Content-Range"] == f"bytes 1000-1999/{size}"
        assert await r.read() == wav.read_bytes()[1000:2000]
        assert (await qa.get("/qa/recordings/999999/audio")).status == 404
        async with c.db.begin() as s:
            await s.execute(update(Recording).where(Recording.id == rec).values(purged_at=utcnow()))
        r = await qa.get(f"/qa/recordings/{rec}/audio")
        assert r.status == 404 and "按保存期限删除" in (await r.json())["error"]
        async with c.db.begin() as s:
            await s.execute(update(Recording).where(Recording.id == rec).values(purged_at=None))
        wav.unlink()
        r = await qa.get(f"/qa/recordings/{rec}/audio")
        assert r.status == 404 and "录音文件缺失" in (await r.json())["error"]
    plays = [a for a in await access_log(c) if a[1] == rec]
    assert [a[3] for a in plays] == ["play", "seek"]  # a missing file sent nothing: not a play
    assert {(a[0], a[2]) for a in plays} == {(world.calls["good"], c.pk("2001"))}


async def test_trends_for_supervisors(console: Callable[..., Any]) -> None:
    c, server, world = await started(console)
    async with http(server) as boss:
        await login(boss, "3001")
        page = await (await boss.get("/qa/trends")).text()
        assert 'id="kpi-calls">4<' in page and 'id="chart-days"' in page and 'id="chart-agents"' in page
        assert re.search(r'<tr data-agent="2048"><td>2048 刘志强</td><td>2</td><td>90</td><td>50%</td>', page)
        assert '<tr data-rule="forbidden_phrases">' in page and '<tr data-rule="apology_when_late">' in page
        team = await (await boss.get("/qa/trends", params={"team": "一班"})).text()
        assert 'id="kpi-calls">2<' in team and 'data-agent="2048"' not in team
        r = await boss.get("/qa/trends", params={"since": "2026-03-05", "until": "2026-03-01"})
        assert r.status == 400 and "开始不晚于结束" in await r.text()


async def test_without_a_rubric_the_qa_pages_say_so_and_the_console_runs(console: Callable[..., Any],
                                                                          tmp_path: Path) -> None:
    c, server = await console(qa={"rubric": tmp_path / "missing.yaml"})
    async with http(server) as qa, http(server) as agent:
        await login(qa, "2001")
        await login(agent, "1001")
        r = await qa.get("/qa")
        assert r.status == 503 and "质检评分表加载失败" in await r.text()
        assert (await qa.get("/api/qa/calls/1")).status == 503
        assert (await agent.get("/agent")).status == 200


async def test_english_and_no_message_clashes(console: Callable[..., Any]) -> None:
    assert clashes() == set()
    c, server, world = await started(console)
    async with http(server) as qa:
        await login(qa, "2001")
        assert "必检队列" in await (await qa.get("/qa")).text()
        qa.cookie_jar.update_cookies({"hotline_lang": "en"})
        page = await (await qa.get("/qa")).text()
        assert "Must review" in page and "Export CSV" in page
