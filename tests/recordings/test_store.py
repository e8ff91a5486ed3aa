"""Call facts from the timeline, persisted scores, rescoring under a rubric version."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import Call, HangupSide, JobStatus, QaReview, QaScore, Recording, TranscriptionJob
from ivr.settings import Settings
from recordings.qa.rubric import Rubric, load_rubric
from recordings.qa.model import Segment, Word
from recordings.qa.store import RubricChanged, answer_offset, from_answer, load_call_facts, rescore, score_call
from tests.recordings.fixture_calls import load_fixture_calls
from tests.recordings.helpers import finished_call, store_segments

FIXTURES = {c.name: c for c in load_fixture_calls()}


async def test_facts_come_from_offers_and_events(db: Database) -> None:
    call = await finished_call(db, agent_id="1024", ring=6.5, earlier_ring=15.0, talk=50.0,
                               hangup=HangupSide.AGENT)
    tl = Timeline(db)
    await tl.add_event(call.call_id, "hold", {}, at=call.answered_at + dt.timedelta(seconds=10))
    await tl.add_event(call.call_id, "unhold", {}, at=call.answered_at + dt.timedelta(seconds=35))
    async with db.session() as s:
        facts = await load_call_facts(s, call.call_id)
    assert facts.agent_id == "1024"
    assert facts.answer_ring_seconds == pytest.approx(6.5)
    assert facts.ring_seconds_total == pytest.approx(21.5)
    assert facts.hangup_side == "agent"
    assert facts.talk_seconds == pytest.approx(50.0)
    assert facts.holds == ((10.0, 35.0),)
    with pytest.raises(LookupError):
        async with db.session() as s:
            await load_call_facts(s, 987654)


async def test_score_is_stored_once_per_version_and_keeps_reviews(db: Database, settings: Settings,
                                                                  rubric: Rubric) -> None:
    fx = FIXTURES["late_answer_no_apology"]
    call = await finished_call(db, ring=25.0, talk=20.0)
    await store_segments(db, call.call_id, fx.segments)
    first = await score_call(db, call.call_id, rubric, settings)
    assert first.total == 80 and not first.rule("apology_when_late").passed
    async with db.begin() as s:
        row = (await s.execute(select(QaScore))).scalar_one()
        s.add(QaReview(score_id=row.id, rule_id="", comment="已与坐席沟通"))
    again = await score_call(db, call.call_id, rubric, settings)
    assert again.results_json() == first.results_json()
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(QaScore))).scalar_one() == 1
        assert (await s.execute(select(func.count()).select_from(QaReview))).scalar_one() == 1
        row = (await s.execute(select(QaScore))).scalar_one()
    assert row.rubric_hash == first.rubric_hash and row.review_reasons == list(first.review_reasons)


async def test_changed_rubric_under_the_same_version_is_refused(db: Database, settings: Settings, rubric: Rubric,
                                                                tmp_path: Path) -> None:
    fx = FIXTURES["gas_arrears_standard"]
    call = await finished_call(db)
    await store_segments(db, call.call_id, fx.segments)
    await score_call(db, call.call_id, rubric, settings)
    src = Path(rubric.path or "")
    (tmp_path / "forbidden_phrases.yaml").write_text((src.parent / "forbidden_phrases.yaml").read_text("utf-8"),
                                                     encoding="utf-8")
    edited = src.read_text("utf-8").replace("pass_score: 85", "pass_score: 90")
    (tmp_path / "rubric.yaml").write_text(edited, encoding="utf-8")
    changed = load_rubric(tmp_path / "rubric.yaml")
    with pytest.raises(RubricChanged, match="new version"):
        await score_call(db, call.call_id, changed, settings)
    # Same content, new version: a second score row next to the first.
    (tmp_path / "rubric.yaml").write_text(edited.replace(f'version: "{rubric.version}"', 'version: "next"'),
                                          encoding="utf-8")
    await score_call(db, call.call_id, load_rubric(tmp_path / "rubric.yaml"), settings)
    async with db.session() as s:
        versions = sorted((await s.execute(select(QaScore.rubric_version))).scalars())
    assert versions == sorted([rubric.version, "next"])


async def test_rescore_since_a_date(db: Database, settings: Settings, rubric: Rubric) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    old = await finished_call(db, started=now - dt.timedelta(days=10))
    recent = await finished_call(db, started=now - dt.timedelta(days=1))
    silent = await finished_call(db, started=now - dt.timedelta(hours=5))
    untranscribed = await finished_call(db, started=now - dt.timedelta(hours=2))
    for c in (old, recent):
        await store_segments(db, c.call_id, FIXTURES["gas_arrears_standard"].segments)
    async with db.begin() as s:  # transcribed, but nobody said anything
        s.add(TranscriptionJob(call_id=silent.call_id, status=JobStatus.DONE))
    ticks: list[int] = []
    report = await rescore(db, rubric, settings, now - dt.timedelta(days=3), progress=ticks.append)
    assert (report.scored, report.skipped_no_transcript, report.errors) == (2, 1, [])
    # The silent call has a score row, but no verdict: nothing of the agent's to judge, nothing to review.
    assert report.must_review == 0 and report.passed == 1 and report.unscorable == 1
    assert sum(ticks) == 3
    async with db.session() as s:
        scored = sorted((await s.execute(select(QaScore.call_id))).scalars())
    assert scored == sorted([recent.call_id, silent.call_id])
    assert untranscribed.call_id not in scored and old.call_id not in scored


async def test_scores_count_from_the_agents_answer_not_from_the_start_of_the_recording(
        db: Database, settings: Settings, rubric: Rubric) -> None:
    """Real calls are recorded from the IVR's answer: prompts, the caller's menu answers and the queue come
    before the agent. QA must score the conversation on the answer axis and ignore what came before it,
    exactly as for a recording that began at the answer."""
    fx = FIXTURES["gas_arrears_standard"]
    plain = await finished_call(db, caller="13800138001")
    await store_segments(db, plain.call_id, fx.segments)
    expected = await score_call(db, plain.call_id, rubric, settings)
    assert expected.passed

    call = await finished_call(db, caller="13800138002")
    async with db.begin() as s:
        row = await s.get(Call, call.call_id)
        assert row is not None and row.answered_at is not None
        started = row.started_at
        offset = (row.answered_at - started).total_seconds()
        for direction in ("caller", "agent", "mixed"):
            s.add(Recording(call_id=call.call_id, direction=direction, path=f"/nowhere/{direction}.wav",
                            sha256="0" * 64, started_at=started))
    before = [Segment("agent", 0.5, 6.0, "您好，燃气集团24小时服务热线。通话可能会被录音。"),  # IVR prompt
              Segment("caller", 8.0, 9.0, "人工服务"),  # the caller's spoken menu answer
              Segment("agent", 10.0, offset + 0.3, "正在为您转接人工服务，请稍候")]  # ends just after the answer
    shifted = [Segment(g.speaker, g.start + offset, g.end + offset, g.text) for g in fx.segments]
    await store_segments(db, call.call_id, before + shifted)
    async with db.session() as s:
        assert await answer_offset(s, call.call_id) == pytest.approx(offset)
        assert await answer_offset(s, plain.call_id) == 0.0  # no recording rows: the transcript is the talk
    result = await score_call(db, call.call_id, rubric, settings)
    assert result.results_json() == expected.results_json()
    assert (result.total, result.passed) == (expected.total, expected.passed)


def test_a_segment_straddling_the_answer_keeps_only_the_words_after_it() -> None:
    words = (Word("请", 9.0, 9.5), Word("稍候", 9.6, 10.2), Word("您好", 10.4, 11.0))
    g = Segment("agent", 9.0, 11.0, "请稍候您好", words)
    cut = from_answer(g, 10.3)
    assert cut is not None and cut.text == "您好" and [w.word for w in cut.words] == ["您好"]
    assert (cut.start, cut.end) == (0.0, pytest.approx(0.7))
    assert from_answer(g, 11.0) is None  # said entirely before the answer
    assert from_answer(g, 0.0) is g
