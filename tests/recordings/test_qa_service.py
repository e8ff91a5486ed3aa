"""The services behind the console's QA pages: list/filter, detail, reviews, queue, export, audio, access log."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, update

from ivr.db import Database
from ivr.db.models import Agent, Call, HangupSide, Recording, RecordingAccess, Role, utcnow
from ivr.settings import Settings
from recordings.privacy import Viewer
from recordings.qa.model import Segment
from recordings.qa.rubric import Rubric
from recordings.qa.service import QaService, ScoreFilter
from recordings.qa.store import score_call
from recordings.qa.trends import team_trends
from tests.recordings.fixture_calls import load_fixture_calls
from tests.recordings.helpers import agent, finished_call, store_segments
from recordings.qa.exceptions import (AccessDenied, CallNotFound, CommentRequired, EmptyReview, NotScored,
                                      PointsOutOfRange, ReasonRequired, RecordingPurged, ScoreNotFound,
                                      UnknownRule)

FIXTURES = {c.name: c for c in load_fixture_calls()}
PII_LINE = Segment("caller", 40.0, 44.0, "我的手机是13800138000，身份证11010519491231002X")


@dataclass
class World:
    svc: QaService
    calls: dict[str, int]
    agents: dict[str, int]
    qa: Viewer
    supervisor: Viewer
    admin: Viewer


@pytest.fixture
async def world(db: Database, settings: Settings, rubric: Rubric) -> World:
    now = utcnow()
    specs = [  # name, fixture, agent, ring, hang-up, hours ago
        ("good", "gas_arrears_standard", "1024", 4.0, HangupSide.CALLER, 5),
        ("forbidden", "bu_gui_wo_guan", "1024", 4.0, HangupSide.CALLER, 4),
        ("late", "late_answer_no_apology", "2048", 25.0, HangupSide.CALLER, 3),
        ("complaint", "complaint_12345", "2048", 4.0, HangupSide.CALLER, 2),
    ]
    calls: dict[str, int] = {}
    for name, fx, agent_id, ring, side, hours in specs:
        c = await finished_call(db, agent_id=agent_id, ring=ring, hangup=side,
                                started=now - dt.timedelta(hours=hours))
        segs = list(FIXTURES[fx].segments) + ([PII_LINE] if name == "good" else [])
        await store_segments(db, c.call_id, segs)
        await score_call(db, c.call_id, rubric, settings)
        calls[name] = c.call_id
    agents = {a: await agent(db, a) for a in ("1024", "2048")}
    qa = Viewer(await agent(db, "2001", Role.QA), Role.QA)
    sup = Viewer(await agent(db, "3001", Role.SUPERVISOR), Role.SUPERVISOR)
    adm = Viewer(await agent(db, "9001", Role.ADMIN), Role.ADMIN)
    return World(QaService(db, settings, rubric), calls, agents, qa, sup, adm)


async def access_log(db: Database) -> list[tuple[int | None, int | None, str]]:
    async with db.session() as s:
        return [(r.call_id, r.agent_pk, r.action) for r in (await s.execute(
            select(RecordingAccess).order_by(RecordingAccess.id))).scalars()]


async def test_list_and_filter(world: World) -> None:
    items, n = await world.svc.list_scores(world.qa)
    assert n == 4 and [i.call_id for i in items] == [world.calls[k] for k in ("complaint", "late", "forbidden", "good")]
    assert {i.caller_number for i in items} == {"138****8000"}
    failed, n = await world.svc.list_scores(world.qa, ScoreFilter(passed=False))
    assert {i.call_id for i in failed} == {world.calls["forbidden"], world.calls["late"]}
    by_agent, _ = await world.svc.list_scores(world.qa, ScoreFilter(agent_pk=world.agents["2048"]))
    assert {i.call_id for i in by_agent} == {world.calls["late"], world.calls["complaint"]}
    no_apology, _ = await world.svc.list_scores(world.qa, ScoreFilter(failed_rule="apology_when_late"))
    assert [i.call_id for i in no_apology] == [world.calls["late"]]
    page, n = await world.svc.list_scores(world.qa, ScoreFilter(limit=1, offset=1))
    assert n == 4 and [i.call_id for i in page] == [world.calls["late"]]
    mine, n = await world.svc.list_scores(Viewer(world.agents["1024"], Role.AGENT))
    assert n == 2 and {i.call_id for i in mine} == {world.calls["good"], world.calls["forbidden"]}
    sup_items, _ = await world.svc.list_scores(world.supervisor)
    assert {i.caller_number for i in sup_items} == {"13800138000"}


async def test_detail_masks_for_qa_and_logs_the_view(db: Database, world: World) -> None:
    d = await world.svc.call_detail(world.qa, world.calls["good"])
    pii = [g for g in d.segments if g["start"] == 40.0][0]
    assert pii["text"] == "我的手机是138****8000，身份证110***********002X" and d.masked
    assert d.call["caller_number"] == "138****8000"
    assert d.score is not None and d.score.total == 100 and d.score.passed
    assert [r["id"] for r in d.rules][:3] == ["greeting", "agent_id_stated", "answered_in_time"]
    greeting = d.rules[0]
    assert greeting["evidence"][0]["source"] == "agent" and greeting["evidence"][0]["start"] == 0.6
    full = await world.svc.call_detail(world.supervisor, world.calls["good"])
    assert [g for g in full.segments if g["start"] == 40.0][0]["text"] == PII_LINE.text and not full.masked
    log = await access_log(db)
    assert log == [(world.calls["good"], world.qa.agent_pk, "view_transcript"),
                   (world.calls["good"], world.supervisor.agent_pk, "view_transcript")]
    with pytest.raises(AccessDenied):
        await world.svc.call_detail(Viewer(world.agents["2048"], Role.AGENT), world.calls["good"])
    with pytest.raises(CallNotFound):
        await world.svc.call_detail(world.qa, 999999)


async def test_forbidden_phrase_evidence_points_at_the_words(world: World) -> None:
    d = await world.svc.call_detail(world.qa, world.calls["forbidden"])
    rule = next(r for r in d.rules if r["id"] == "forbidden_phrases")
    assert not rule["passed"] and rule["instant_fail"]
    ev = rule["evidence"][0]
    assert "不归我管" in ev["text"] and 10.5 <= ev["start"] < ev["end"] <= 13.0
    assert d.score is not None and d.score.instant_fail and not d.score.passed and d.score.must_review


async def test_review_queue_and_overrides(world: World) -> None:
    queue = await world.svc.review_queue(world.qa)
    # Every failed call (the late one fails with 75 points), instant fails and risk words (issue 16).
    assert [i.call_id for i in queue] == [world.calls["forbidden"], world.calls["late"], world.calls["complaint"]]
    reasons = {i.call_id: i.review_reasons for i in queue}
    assert any("一票否决" in r for r in reasons[world.calls["forbidden"]])
    assert reasons[world.calls["late"]] == ("不合格：得分 75 低于合格线 85",)
    assert any("12345" in r or "投诉" in r for r in reasons[world.calls["complaint"]])
    forbidden = queue[0]

    # The reviewer listens, finds the hit real and the courtesy worse than the words say.
    await world.svc.add_review(world.qa, forbidden.score_id, rule_id="courtesy", points=5, comment="语气生硬")
    item = (await world.svc.list_scores(world.qa, ScoreFilter(must_review=True)))[0][-1]
    assert item.call_id == world.calls["forbidden"]
    assert item.effective_total == pytest.approx(item.total - 5, abs=0.01)
    assert item.instant_fail and not item.passed

    # An instant-fail rule given full points lifts the instant fail.
    await world.svc.add_review(world.supervisor, forbidden.score_id, rule_id="forbidden_phrases", points=20,
                               comment="录音中是“这个不归我们管辖，我帮您转物业”，识别错误")
    after = [i for i in (await world.svc.list_scores(world.qa))[0] if i.call_id == world.calls["forbidden"]][0]
    assert not after.instant_fail and after.effective_total == 95 and after.passed
    assert "forbidden_phrases" not in after.failed_rules

    await world.svc.add_review(world.qa, forbidden.score_id, comment="已复核，识别错误")
    assert [i.call_id for i in await world.svc.review_queue(world.qa)] == [world.calls["late"],
                                                                           world.calls["complaint"]]
    detail = await world.svc.call_detail(world.qa, world.calls["forbidden"])
    assert [r["rule_id"] for r in detail.reviews] == ["courtesy", "forbidden_phrases", ""]
    assert next(r for r in detail.rules if r["id"] == "forbidden_phrases")["override"] == 20


async def test_bad_reviews_are_refused(world: World) -> None:
    items, _ = await world.svc.list_scores(world.qa)
    sid = items[0].score_id
    with pytest.raises(PointsOutOfRange) as out_of_range:
        await world.svc.add_review(world.qa, sid, rule_id="forbidden_phrases", points=25)
    assert out_of_range.value.details["max_points"] == "20"
    with pytest.raises(UnknownRule) as unknown:
        await world.svc.add_review(world.qa, sid, rule_id="no_such_rule", points=1)
    assert unknown.value.details["rule_id"] == "no_such_rule"
    with pytest.raises(CommentRequired):
        await world.svc.add_review(world.qa, sid, comment="   ")
    with pytest.raises(AccessDenied):
        await world.svc.add_review(Viewer(world.agents["1024"], Role.AGENT), sid, comment="我觉得没问题")
    with pytest.raises(AccessDenied):
        await world.svc.review_queue(Viewer(world.agents["1024"], Role.AGENT))
    with pytest.raises(ScoreNotFound):
        await world.svc.add_review(world.qa, 999999, comment="x")


async def test_export_csv_masks_unless_admin_and_logs(db: Database, world: World) -> None:
    out = io.StringIO()
    n = await world.svc.export_csv(world.supervisor, ScoreFilter(), out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert n == 4 and len(rows) == 5 and rows[0][0] == "通话ID"
    header = rows[0]
    by_call = {int(r[0]): dict(zip(header, r)) for r in rows[1:]}
    late = by_call[world.calls["late"]]
    assert late["来电号码"] == "138****8000" and late["合格"] == "否"
    assert "超过三声接听致歉" in late["未通过项"] and "客户排队等待 27.0 秒" in late["证据"]  # 2 s in the queue, then 25 s of ringing
    forbidden = by_call[world.calls["forbidden"]]
    assert forbidden["一票否决"] == "是" and "不归我管" in forbidden["证据"]
    admin_out = io.StringIO()
    await world.svc.export_csv(world.admin, ScoreFilter(passed=True), admin_out)
    admin_rows = list(csv.reader(io.StringIO(admin_out.getvalue())))
    assert {r[4] for r in admin_rows[1:]} == {"13800138000"} and len(admin_rows) == 3
    with pytest.raises(AccessDenied):
        await world.svc.export_csv(Viewer(world.agents["1024"], Role.AGENT), ScoreFilter(), io.StringIO())
    exports = [a for a in await access_log(db) if a[2] == "export"]
    assert len(exports) == 6


async def test_open_recording_checks_owner_purge_and_logs(db: Database, world: World, tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"RIFF")
    async with db.begin() as s:
        rec = Recording(call_id=world.calls["good"], direction="agent", path=str(wav))
        gone = Recording(call_id=world.calls["late"], direction="agent", path=str(wav), purged_at=utcnow())
        s.add_all([rec, gone])
        await s.flush()
        rec_id, gone_id = rec.id, gone.id
    owner = Viewer(world.agents["1024"], Role.AGENT)
    assert await world.svc.open_recording(owner, rec_id) == wav
    assert await world.svc.open_recording(world.qa, rec_id) == wav
    with pytest.raises(AccessDenied):
        await world.svc.open_recording(Viewer(world.agents["2048"], Role.AGENT), rec_id)
    with pytest.raises(RecordingPurged) as purged:
        await world.svc.open_recording(world.qa, gone_id)
    assert purged.value.error_id == "qa.recording_purged" and purged.value.details["purged_on"]
    plays = [a for a in await access_log(db) if a[2] == "play"]
    assert plays == [(world.calls["good"], owner.agent_pk, "play"), (world.calls["good"], world.qa.agent_pk, "play")]


async def test_queue_category_team_and_keyword_filters(db: Database, world: World) -> None:
    calls = world.calls
    async with db.begin() as s:
        for name, queue, category in (("good", "general", "账单缴费"), ("forbidden", "general", "其他咨询"),
                                      ("late", "repair", "故障报修"), ("complaint", "complaint", "投诉")):
            await s.execute(update(Call).where(Call.id == calls[name]).values(queue_name=queue, category=category))
        await s.execute(update(Agent).where(Agent.agent_id == "2048").values(team="二班"))

    async def ids(viewer: Viewer, **kw: object) -> set[int]:
        items, n = await world.svc.list_scores(viewer, ScoreFilter(**kw))  # type: ignore[arg-type]
        assert n == len(items)
        return {i.call_id for i in items}

    assert await ids(world.qa, queue="general") == {calls["good"], calls["forbidden"]}
    assert await ids(world.qa, category="投诉") == {calls["complaint"]}
    assert await ids(world.qa, team="二班") == {calls["late"], calls["complaint"]}
    assert await ids(world.qa, keyword="不归我管") == {calls["forbidden"]}
    assert await ids(world.qa, keyword="投诉", queue="general") == set()
    assert await ids(world.qa, keyword="12345") == {calls["complaint"]}  # spoken 幺二三四五
    assert await ids(world.qa, keyword="%") == set()
    # Digits are searched in the text as the viewer sees it: a masked number is not findable.
    assert await ids(world.qa, keyword="13800138000") == set()
    assert await ids(world.qa, keyword="8000") == {calls["good"]}  # the visible tail of the masked number
    assert await ids(world.supervisor, keyword="13800138000") == {calls["good"]}
    assert await ids(world.supervisor, keyword="身份证11010519491231002X") == {calls["good"]}
    assert await ids(Viewer(world.agents["1024"], Role.AGENT), keyword="不归我管") == {calls["forbidden"]}
    assert await ids(Viewer(world.agents["2048"], Role.AGENT), keyword="不归我管") == set()
    item = next(i for i in (await world.svc.list_scores(world.qa))[0] if i.call_id == calls["late"])
    assert (item.queue, item.category) == ("repair", "故障报修")
    everything = await world.svc.all_scores(world.qa, ScoreFilter(limit=1))
    assert len(everything) == 4


async def test_review_call_and_review_validation(db: Database, world: World) -> None:
    call = world.calls["forbidden"]
    with pytest.raises(ReasonRequired):
        await world.svc.review_call(world.qa, call, rule_id="courtesy", points=10)
    with pytest.raises(EmptyReview):
        await world.svc.review_call(world.qa, call, rule_id="courtesy", comment=" ")
    with pytest.raises(AccessDenied):
        await world.svc.review_call(Viewer(world.agents["1024"], Role.AGENT), call, comment="好")
    other = await finished_call(db, agent_id="1024")
    with pytest.raises(NotScored):
        await world.svc.review_call(world.qa, other.call_id, comment="x")
    rid = await world.svc.review_call(world.qa, call, rule_id="courtesy", comment="客户在场，语气可接受")
    d = await world.svc.call_detail(world.qa, call)
    [review] = d.reviews
    assert review["id"] == rid and review["points"] is None and review["reviewer_id"] == "2001"
    assert review["reviewer_name"] == "坐席2001"


async def test_open_recording_logs_seeks_separately(db: Database, world: World, tmp_path: Path) -> None:
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"RIFF")
    async with db.begin() as s:
        rec = Recording(call_id=world.calls["good"], direction="mixed", path=str(wav))
        s.add(rec)
        await s.flush()
        rec_id = rec.id
    await world.svc.open_recording(world.qa, rec_id)
    await world.svc.open_recording(world.qa, rec_id, action="seek")
    assert [a[2] for a in await access_log(db)] == ["play", "seek"]


async def test_team_trends(db: Database, world: World) -> None:
    now = utcnow()
    since, until = now - dt.timedelta(days=1), now + dt.timedelta(hours=1)
    t = await team_trends(world.svc, world.supervisor, since, until)
    items, _ = await world.svc.list_scores(world.supervisor)
    assert t.calls == 4 and t.average == round(sum(i.effective_total for i in items) / 4, 1)
    assert t.pass_rate == 50.0 and sum(d.calls for d in t.days) == 4
    by_agent = {b.key: b for b in t.agents}
    assert set(by_agent) == {"1024", "2048"} and by_agent["1024"].pass_rate == 50.0
    failed = {r.rule_id: r.failed for r in t.rules}
    assert failed["forbidden_phrases"] == 1 and failed["apology_when_late"] == 1
    assert [r.failed for r in t.rules] == sorted((r.failed for r in t.rules), reverse=True)
    # An override shows up in the trend at once.
    forbidden = next(i for i in items if i.call_id == world.calls["forbidden"])
    await world.svc.add_review(world.qa, forbidden.score_id, rule_id="forbidden_phrases", points=20, comment="误识别")
    after = await team_trends(world.svc, world.supervisor, since, until)
    assert "forbidden_phrases" not in {r.rule_id for r in after.rules} and after.pass_rate == 75.0
    mine = await team_trends(world.svc, Viewer(world.agents["2048"], Role.AGENT), since, until,
                             agent_pk=world.agents["2048"])
    assert mine.calls == 2 and {b.key for b in mine.agents} == {"2048"}
    with pytest.raises(AccessDenied):
        await team_trends(world.svc, Viewer(world.agents["2048"], Role.AGENT), since, until)
    empty = await team_trends(world.svc, world.qa, until, until + dt.timedelta(days=1))
    assert empty.calls == 0 and empty.average is None and empty.days == []


async def test_unscorable_calls_are_listed_apart(db: Database, world: World, settings: Settings,
                                                 rubric: Rubric) -> None:
    """A caller who hangs up in the greeting: listed with the reason, out of the pass rate, not in review."""
    c = await finished_call(db, agent_id="1024", talk=4.2, started=utcnow() - dt.timedelta(hours=1))
    await store_segments(db, c.call_id, FIXTURES["unscorable_caller_left_in_greeting"].segments)
    result = await score_call(db, c.call_id, rubric, settings)
    assert result.unscorable == "short_talk" and not result.passed and not result.must_review

    items, n = await world.svc.list_scores(world.qa)
    assert n == 5
    item = next(i for i in items if i.call_id == c.call_id)
    assert item.unscorable == "short_talk" and not item.passed
    only, n = await world.svc.list_scores(world.qa, ScoreFilter(unscorable=True))
    assert n == 1 and [i.call_id for i in only] == [c.call_id]
    failed, _ = await world.svc.list_scores(world.qa, ScoreFilter(passed=False))
    assert c.call_id not in {i.call_id for i in failed}, "no verdict is not a fail"
    assert c.call_id not in {i.call_id for i in await world.svc.review_queue(world.qa)}

    now = utcnow()
    t = await team_trends(world.svc, world.supervisor, now - dt.timedelta(days=1), now + dt.timedelta(hours=1))
    assert t.calls == 4 and t.unscorable == 1 and t.pass_rate == 50.0
    out = io.StringIO()
    await world.svc.export_csv(world.supervisor, ScoreFilter(unscorable=True), out)
    [header, row] = list(csv.reader(io.StringIO(out.getvalue())))
    assert dict(zip(header, row))["无法评分"] == "通话过短"


async def test_review_policy_queue_reasons_and_spot_checks(db: Database, settings: Settings, tmp_path: Path) -> None:
    """Every failed call and an unhappy caller reach the queue, each saying why; a drawn passing call goes to
    the spot-check list until someone gives it a whole-call review."""
    from tests.recordings.test_rubric_file import copy_rubric
    from recordings.qa.rubric import load_rubric

    everyone = load_rubric(copy_rubric(tmp_path, replace=("spot_check_percent: 5", "spot_check_percent: 100")))
    calls: dict[str, int] = {}
    for hours, (name, fx, satisfaction) in enumerate((("good", "gas_arrears_standard", 5),
                                                      ("eighty", "review_failed_between_70_and_85", None),
                                                      ("unhappy", "review_unhappy_caller", 2)), start=1):
        c = await finished_call(db, started=utcnow() - dt.timedelta(hours=10 - hours))
        async with db.begin() as s:
            await s.execute(update(Call).where(Call.id == c.call_id).values(satisfaction=satisfaction))
        await store_segments(db, c.call_id, FIXTURES[fx].segments)
        await score_call(db, c.call_id, everyone, settings)
        calls[name] = c.call_id
    svc = QaService(db, settings, everyone)
    qa = Viewer(await agent(db, "2001", Role.QA), Role.QA)
    queue = {i.call_id: i.review_reasons for i in await svc.review_queue(qa)}
    assert set(queue) == {calls["eighty"], calls["unhappy"]}
    assert queue[calls["eighty"]] == ("不合格：得分 80 低于合格线 85",)
    assert queue[calls["unhappy"]] == ("客户满意度评价 2 分（不满意）",)
    spot = await svc.spot_checks(qa)
    assert [i.call_id for i in spot] == [calls["good"]] and spot[0].spot_check and spot[0].passed
    await svc.review_call(qa, calls["good"], comment="抽检：评分属实")
    assert await svc.spot_checks(qa) == []
    with pytest.raises(AccessDenied):
        await svc.spot_checks(Viewer(await agent(db, "1024"), Role.AGENT))
