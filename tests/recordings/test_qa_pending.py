"""QA before a speech model is installed (issue 16): the timeline rules scored at hang-up, the speech rules
pending, the worker completing the same score later, and where transcription stands."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from sqlalchemy import select, update

from ivr.calls.notifier import CallNotice, CallNotifier
from ivr.db import Database
from ivr.db.models import (Call, CallEvent, HangupSide, JobStatus, QaReview, QaScore, Role, SpeechWorker,
                           TranscriptionJob, utcnow)
from ivr.settings import Settings
from recordings.privacy import Viewer
from recordings.qa.model import CallFacts, QaResult
from recordings.qa.pending import TimelineScorer, calls_without_a_score, speech_state
from recordings.qa.rubric import Rubric
from recordings.qa.scorer import score
from recordings.qa.service import QaService, ScoreFilter
from recordings.qa.store import score_call
from recordings.worker import announce, sign_off
from tests.recordings.fixture_calls import load_fixture_calls
from tests.recordings.helpers import agent, finished_call, store_segments

FIXTURES = {c.name: c for c in load_fixture_calls()}
SPEECH_RULES = {"greeting", "agent_id_stated", "forbidden_phrases", "courtesy", "no_interruption",
                "closing_question", "farewell", "complaint_watch"}


def facts(**kw: object) -> CallFacts:
    base: dict[str, object] = {"call_id": 7, "agent_id": "1024", "answer_ring_seconds": 4.0,
                               "ring_seconds_total": 4.0, "hangup_side": "caller", "talk_seconds": 95.0}
    return CallFacts(**{**base, **kw})  # type: ignore[arg-type]


def test_without_a_transcript_the_timeline_rules_are_decided(rubric: Rubric, settings: Settings) -> None:
    r = score(None, facts(), rubric, settings)
    by_id = {x.rule_id: x for x in r.rules}
    assert {k for k, x in by_id.items() if x.pending} == SPEECH_RULES | {"silence"}
    assert all(x.passed and x.points == 0 and "待转写" in x.detail for x in r.rules if x.pending)
    assert by_id["answered_in_time"].passed and by_id["answered_in_time"].points == 10
    assert not by_id["apology_when_late"].applicable  # no apology was due: nothing to hear
    assert by_id["caller_hung_up_first"].passed
    assert r.speech_pending and not r.passed and not r.must_review and not r.unscorable and not r.spot_check
    assert r.total == 25


def test_the_timeline_can_fail_a_call_before_its_transcript(rubric: Rubric, settings: Settings) -> None:
    hung_up = score(None, facts(hangup_side="agent"), rubric, settings)
    assert hung_up.instant_fail and hung_up.must_review and hung_up.speech_pending
    assert hung_up.review_reasons == ("一票否决：客户先挂机（坐席先挂机）",)
    # Late, an apology due (pending: it may have been said), and a 2-minute hold: 15 points lost for sure.
    late = score(None, facts(answer_ring_seconds=25.0, ring_seconds_total=25.0, holds=((20.0, 140.0),)),
                 rubric, settings)
    by_id = {x.rule_id: x for x in late.rules}
    assert not by_id["answered_in_time"].passed and not by_id["silence"].passed
    assert by_id["apology_when_late"].pending and "需致歉" in by_id["apology_when_late"].detail
    assert late.speech_pending and not late.must_review, "85 is still reachable"
    worse = score(None, facts(answer_ring_seconds=25.0, ring_seconds_total=25.0, holds=((20.0, 140.0),),
                              satisfaction=1), rubric, settings)
    assert worse.review_reasons == ("客户满意度评价 1 分（非常不满意）",)
    short = score(None, facts(talk_seconds=5.0), rubric, settings)
    assert short.unscorable == "short_talk" and not short.must_review


async def ended_call(db: Database, **kw: object) -> int:
    return (await finished_call(db, started=utcnow() - dt.timedelta(hours=2), **kw)).call_id  # type: ignore[arg-type]


async def test_sweep_scores_ended_calls_and_the_worker_completes_them(db: Database, settings: Settings,
                                                                      rubric: Rubric) -> None:
    waiting = await ended_call(db)
    agent_hung_up = await ended_call(db, hangup=HangupSide.AGENT)
    transcribed = await ended_call(db)
    await store_segments(db, transcribed, FIXTURES["gas_arrears_standard"].segments)
    async with db.begin() as s:  # a job that waits for a model forever
        s.add(TranscriptionJob(call_id=waiting, status=JobStatus.PENDING))
    scored: list[int] = []
    scorer = TimelineScorer(db, rubric, settings, on_scored=lambda cid, _: scored.append(cid))
    assert await scorer.sweep() == 2 and sorted(scored) == sorted([waiting, agent_hung_up])
    assert await scorer.sweep() == 0, "a call is scored once"
    # A call with a transcript is the worker's (and `qa rescore`'s): never scored from its timeline alone.
    assert await calls_without_a_score(db, rubric.version, since=utcnow() - dt.timedelta(days=1)) == []
    async with db.session() as s:
        assert (await s.execute(select(QaScore).where(QaScore.call_id == transcribed))).first() is None

    svc = QaService(db, settings, rubric)
    qa = Viewer(await agent(db, "2001", Role.QA), Role.QA)
    items = {i.call_id: i for i in (await svc.list_scores(qa))[0]}
    assert items[waiting].verdict == "pending" and items[waiting].speech_pending
    assert items[agent_hung_up].verdict == "fail" and items[agent_hung_up].instant_fail
    assert [i.call_id for i in await svc.review_queue(qa)] == [agent_hung_up]
    pending_only, n = await svc.list_scores(qa, ScoreFilter(speech_pending=True))
    assert n == 2
    # Reviewers can review now (no 404 for want of a transcript) ...
    await svc.review_call(qa, waiting, rule_id="greeting", points=15, comment="听录音：问候语规范")
    # ... and the transcript's score completes the same row, the review still on it.
    await store_segments(db, waiting, FIXTURES["gas_arrears_standard"].segments)
    full = await score_call(db, waiting, rubric, settings)
    assert not full.speech_pending and full.passed
    async with db.session() as s:
        rows = list((await s.execute(select(QaScore).where(QaScore.call_id == waiting))).scalars())
        reviews = list((await s.execute(select(QaReview).where(QaReview.score_id == rows[0].id))).scalars())
    assert len(rows) == 1 and not rows[0].speech_pending and [r.rule_id for r in reviews] == ["greeting"]
    # A later sweep does not replace it with less.
    assert await scorer.sweep() == 0


async def test_hangups_are_scored_as_they_come(db: Database, settings: Settings, rubric: Rubric) -> None:
    call_id = await ended_call(db)
    notifier = CallNotifier(16)
    hangups = notifier.subscribe(accept=lambda n: n.kind == "hangup")
    done: asyncio.Queue[tuple[int, QaResult]] = asyncio.Queue()
    scorer = TimelineScorer(db, rubric, settings, on_scored=lambda cid, r: done.put_nowait((cid, r)))
    task = asyncio.create_task(scorer.follow(hangups, lambda n: getattr(n, "call_id", None)))
    notifier.publish(CallNotice("dtmf", call_id, "uid"))
    notifier.publish(CallNotice("hangup", call_id, "uid", {"side": "caller"}))
    got, result = await done.get()
    assert got == call_id and result.speech_pending
    hangups.close()
    await task


async def test_surveyed_call_facts_and_satisfaction_come_from_the_timeline(db: Database, settings: Settings,
                                                                           rubric: Rubric) -> None:
    call_id = await ended_call(db, hangup=HangupSide.AGENT)
    async with db.begin() as s:
        await s.execute(update(Call).where(Call.id == call_id).values(satisfaction=2))
        s.add(CallEvent(call_id=call_id, seq=1, kind="ivr.survey", data={"satisfaction": 2}))
    result = await TimelineScorer(db, rubric, settings).score(call_id)
    assert result is not None and not result.instant_fail, "handed to the survey, not hung up on"
    assert result.review_reasons == ("客户满意度评价 2 分（不满意）",)


async def test_speech_state(db: Database, tmp_path: Path) -> None:
    assert (await speech_state(db, None)).model == "missing"
    model = tmp_path / "vosk-model-small-cn-0.22"
    (model / "am").mkdir(parents=True)
    assert (await speech_state(db, model)).model == "idle", "a model here, but no worker running"
    call_id = await ended_call(db)
    async with db.begin() as s:
        s.add(TranscriptionJob(call_id=call_id, status=JobStatus.PENDING))
    await announce(db, "host:1", "loading", str(model))
    state = await speech_state(db, None)
    assert (state.model, state.waiting, state.running, state.workers) == ("loading", 1, 0, 1)
    await announce(db, "host:1", "ready")
    assert (await speech_state(db, None)).model == "ready"
    # A worker that stopped answering is gone, whatever its last word was.
    async with db.begin() as s:
        await s.execute(update(SpeechWorker).values(seen_at=utcnow() - dt.timedelta(minutes=5)))
    assert (await speech_state(db, None)).model == "missing"
    await sign_off(db, "host:1")
    async with db.session() as s:
        assert (await s.execute(select(SpeechWorker))).first() is None


async def test_a_running_worker_says_so_and_leaves_no_row(db: Database, settings: Settings) -> None:
    from recordings.worker import TranscriptionWorker

    seen: list[str] = []

    class Watch(TranscriptionWorker):
        async def run_once(self) -> bool:  # what the pages see while the worker polls
            seen.append((await speech_state(self.db, None)).model)
            return False

    never_used = object()  # no job is waiting: the transcriber is never called
    worker = Watch(db, settings, never_used, name="host:2", poll_seconds=0.01)  # type: ignore[arg-type]
    assert await worker.run(asyncio.Event(), once=True) == 0
    assert seen == ["ready"]
    assert (await speech_state(db, None)).model == "missing"
