"""Between the database and the pure scorer: call facts and segments in, QaScore rows out.

One QaScore per call and rubric version. A rescore under the same version updates the row in place (its
reviews stay attached) and only if the rubric content and scoring settings are unchanged; otherwise it stops
and asks for a new version, because two different rubrics must not share a version name.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.db import Database
from ivr.db.models import (
    Agent,
    Call,
    CallEvent,
    JobStatus,
    Offer,
    QaScore,
    Recording,
    TranscriptionJob,
    TranscriptSegment,
    utcnow,
)
from ivr.settings import Settings
from recordings.qa.model import CallFacts, QaResult, Segment, Word
from recordings.qa.rubric import Rubric
from recordings.qa.scorer import score
from recordings.qa.text import join_words


class RubricChanged(Exception):
    """Scores exist for this rubric version but were made with different rubric content or settings."""


def _seconds(a: dt.datetime | None, b: dt.datetime | None) -> float | None:
    return None if a is None or b is None else (b - a).total_seconds()


async def load_call_facts(s: AsyncSession, call_id: int) -> CallFacts:
    call = await s.get(Call, call_id)
    if call is None:
        raise LookupError(f"no call {call_id}")
    agent_id = ""
    if call.agent_pk is not None:
        agent = await s.get(Agent, call.agent_pk)
        agent_id = agent.agent_id if agent is not None else ""
    offers = list((await s.execute(select(Offer).where(Offer.call_id == call_id).order_by(Offer.ring_started_at))
                   ).scalars())
    answered = [o for o in offers if o.answered_at is not None
                and (call.agent_pk is None or o.agent_pk == call.agent_pk)]
    answer_ring = _seconds(answered[0].ring_started_at, answered[0].answered_at) if answered else None
    ring_total = call.ring_seconds_total
    if not ring_total and offers:
        ring_total = sum(max(0.0, _seconds(o.ring_started_at, o.answered_at or o.ended_at) or 0.0) for o in offers)
    holds: list[tuple[float, float]] = []
    if call.answered_at is not None:
        events = (await s.execute(select(CallEvent).where(CallEvent.call_id == call_id,
                                                          CallEvent.kind.in_(("hold", "unhold")))
                                  .order_by(CallEvent.seq))).scalars()
        began: float | None = None
        for ev in events:
            t = (ev.at - call.answered_at).total_seconds()
            if ev.kind == "hold" and began is None:
                began = t
            elif ev.kind == "unhold" and began is not None:
                holds.append((began, t))
                began = None
        if began is not None:
            end = _seconds(call.answered_at, call.ended_at)
            holds.append((began, end if end is not None else began))
    surveyed = (await s.execute(select(CallEvent.id).where(CallEvent.call_id == call_id,
                                                          CallEvent.kind == "ivr.survey").limit(1))).first()
    return CallFacts(call_id=call_id, agent_id=agent_id, answer_ring_seconds=answer_ring,
                     ring_seconds_total=ring_total or 0.0,
                     queue_wait_seconds=max(0.0, _seconds(call.queued_at, call.answered_at) or 0.0),
                     hangup_side=call.hangup_side.value if call.hangup_side is not None else None,
                     talk_seconds=_seconds(call.answered_at, call.ended_at), holds=tuple(holds),
                     handed_to_survey=surveyed is not None, satisfaction=call.satisfaction)


async def answer_offset(s: AsyncSession, call_id: int) -> float:
    """Seconds into the recording at which the agent answered: the tracks start when the IVR answers, QA
    counts from the agent's answer. 0 when the recording began at the answer (or either time is unknown)."""
    call = await s.get(Call, call_id)
    if call is None or call.answered_at is None:
        return 0.0
    starts = (await s.execute(select(Recording.started_at).where(
        Recording.call_id == call_id, Recording.direction.in_(("caller", "agent")),
        Recording.started_at.is_not(None)))).scalars().all()
    return max(0.0, (call.answered_at - min(starts)).total_seconds()) if starts else 0.0


def from_answer(segment: Segment, offset: float) -> Segment | None:
    """A recording-axis segment on the answer axis; None for speech that ended before the agent answered
    (IVR prompts, the caller's menu answers, queue announcements: not the agent's conversation)."""
    if offset <= 0:
        return segment
    if segment.end <= offset:
        return None
    if not segment.words and (segment.start + segment.end) / 2 < offset:
        return None  # no word times to cut it by: mostly before the answer, so mostly not the agent's call
    words = tuple(Word(w.word, w.start - offset, w.end - offset, w.conf) for w in segment.words if w.end > offset)
    text = segment.text
    if len(words) != len(segment.words):  # it straddles the answer: keep the words said after it
        text = join_words([w.word for w in words])[0]
        if not text:
            return None
    return Segment(segment.speaker, max(0.0, segment.start - offset), segment.end - offset, text, words,
                   segment.confidence)


async def load_segments(s: AsyncSession, call_id: int, *, offset: float = 0.0) -> list[Segment]:
    """The stored transcript (times from the start of the recording); with `offset` (answer_offset), on the
    answer axis and without what was said before the answer."""
    rows = (await s.execute(select(TranscriptSegment).where(TranscriptSegment.call_id == call_id)
                            .order_by(TranscriptSegment.start_seconds, TranscriptSegment.id))).scalars()
    segments = (from_answer(Segment.from_row(r.speaker, r.start_seconds, r.end_seconds, r.text, r.words,
                                             r.confidence), offset) for r in rows)
    return [g for g in segments if g is not None]


async def replace_segments(s: AsyncSession, call_id: int, segments: list[Segment]) -> None:
    """Delete and insert in the caller's transaction: a redone job leaves exactly one set of segments."""
    await s.execute(delete(TranscriptSegment).where(TranscriptSegment.call_id == call_id))
    stored = [g.rounded() for g in segments]
    s.add_all(TranscriptSegment(call_id=call_id, speaker=g.speaker, start_seconds=g.start, end_seconds=g.end,
                                text=g.text, confidence=g.confidence, words=g.words_json())
              for g in sorted(stored, key=lambda g: (g.start, g.speaker)))


async def save_score(s: AsyncSession, call_id: int, result: QaResult) -> QaScore:
    row = (await s.execute(select(QaScore).where(QaScore.call_id == call_id,
                                                 QaScore.rubric_version == result.rubric_version))
           ).scalar_one_or_none()
    if row is None:
        row = QaScore(call_id=call_id, rubric_version=result.rubric_version)
        s.add(row)
    elif row.rubric_hash and row.rubric_hash != result.rubric_hash:
        raise RubricChanged(
            f"call {call_id} already has a score under rubric version {result.rubric_version!r} made with "
            "different rubric content or scoring settings (greeting, company name, ring limit); "
            "give the changed rubric a new version")
    row.total, row.max_total, row.passed = result.total, result.max_total, result.passed
    row.instant_fail, row.must_review = result.instant_fail, result.must_review
    row.results, row.review_reasons = result.results_json(), list(result.review_reasons)
    row.rubric_hash, row.created_at = result.rubric_hash, utcnow()
    row.unscorable, row.spot_check, row.speech_pending = result.unscorable, result.spot_check, result.speech_pending
    await s.flush()
    return row


async def compute_score(db: Database, call_id: int, rubric: Rubric, settings: Settings) -> QaResult:
    async with db.session() as s:
        facts = await load_call_facts(s, call_id)
        segments = await load_segments(s, call_id, offset=await answer_offset(s, call_id))
    return await asyncio.to_thread(score, segments, facts, rubric, settings)


async def score_call(db: Database, call_id: int, rubric: Rubric, settings: Settings) -> QaResult:
    """Score one call from its stored transcript and timeline; store the QaScore."""
    result = await compute_score(db, call_id, rubric, settings)
    async with db.begin() as s:
        await save_score(s, call_id, result)
    return result


@dataclass
class RescoreReport:
    scored: int = 0
    skipped_no_transcript: int = 0
    errors: list[str] = field(default_factory=list)
    passed: int = 0
    must_review: int = 0
    unscorable: int = 0  # scored calls with nothing to judge (in scored, not in passed)


async def calls_to_rescore(db: Database, since: dt.datetime, until: dt.datetime | None = None) -> list[int]:
    """Ended calls that were answered by an agent in [since, until), oldest first."""
    q = select(Call.id).where(Call.started_at >= since, Call.answered_at.is_not(None), Call.ended_at.is_not(None))
    if until is not None:
        q = q.where(Call.started_at < until)
    async with db.session() as s:
        return list((await s.execute(q.order_by(Call.started_at, Call.id))).scalars())


async def rescore(db: Database, rubric: Rubric, settings: Settings, since: dt.datetime,
                  until: dt.datetime | None = None, *, progress: Callable[[int], None] | None = None) -> RescoreReport:
    report = RescoreReport()
    for call_id in await calls_to_rescore(db, since, until):
        async with db.session() as s:
            # A finished transcription with no speech at all is still scored (unscorable: no agent speech, so
            # listed with its reason); a call never transcribed is not.
            job_done = (await s.execute(select(TranscriptionJob.id).where(
                TranscriptionJob.call_id == call_id, TranscriptionJob.status == JobStatus.DONE))).first()
            has_text = job_done is not None or (await s.execute(
                select(TranscriptSegment.id).where(TranscriptSegment.call_id == call_id).limit(1))).first() is not None
        if not has_text:
            report.skipped_no_transcript += 1
        else:
            try:
                result = await score_call(db, call_id, rubric, settings)
                report.scored += 1
                report.passed += result.passed
                report.must_review += result.must_review
                report.unscorable += bool(result.unscorable)
            except RubricChanged as exc:
                report.errors.append(str(exc))
                if progress is not None:
                    progress(1)
                break  # every later call would fail the same way; stop and say so once
        if progress is not None:
            progress(1)
    return report
