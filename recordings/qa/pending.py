"""QA before the transcript: score the timeline rules at hang-up, and say where transcription stands.

A fresh install has no speech model, and even with one a call waits for its transcription job. QA staff must
not see an empty list meanwhile: every ended, answered call gets a score from its timeline at once (answered
within 3 rings, apology due or not, who hung up first, hold time), the speech rules marked pending
(recordings/qa/rules.py `pending`). The worker later scores the whole call under the same rubric version and
the row is completed in place, so a review made in between stays attached.

TimelineScorer follows the call notifier's hang-ups (ARI calls) and sweeps for anything it missed (AGI calls,
calls that ended while the service was down). speech_state() is what the QA pages and /healthz show.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ivr.db import Database
from ivr.db.models import Call, JobStatus, QaScore, SpeechWorker, TranscriptionJob, TranscriptSegment, utcnow
from ivr.settings import Settings
from recordings.qa.model import QaResult
from recordings.qa.rubric import Rubric
from recordings.qa.scorer import score
from recordings.qa.store import load_call_facts, save_score
from recordings.worker import HEARTBEAT_EVERY

log = logging.getLogger(__name__)

SWEEP_DAYS = 7  # how far back the sweep looks for ended calls without a score
SWEEP_BATCH = 200


class HangupNotices(Protocol):
    """What TimelineScorer.follow reads: ivr.calls.notifier.Subscription (call ids of ended calls)."""

    async def get(self) -> object | None: ...


async def calls_without_a_score(db: Database, rubric_version: str, *, since: dt.datetime,
                                limit: int = SWEEP_BATCH) -> list[int]:
    """Ended calls an agent answered that have no score under this rubric version and no transcript (a call
    with one is the worker's and `qa rescore`'s), oldest first."""
    scored = select(QaScore.id).where(QaScore.call_id == Call.id, QaScore.rubric_version == rubric_version)
    transcribed = select(TranscriptionJob.id).where(TranscriptionJob.call_id == Call.id,
                                                    TranscriptionJob.status == JobStatus.DONE)
    has_text = select(TranscriptSegment.id).where(TranscriptSegment.call_id == Call.id)
    q = (select(Call.id).where(Call.answered_at.is_not(None), Call.ended_at.is_not(None), Call.started_at >= since,
                               ~scored.exists(), ~transcribed.exists(), ~has_text.exists())
         .order_by(Call.started_at, Call.id).limit(limit))
    async with db.session() as s:
        return list((await s.execute(q)).scalars())


async def score_from_timeline(db: Database, call_id: int, rubric: Rubric, settings: Settings) -> QaResult | None:
    """The call's timeline score, stored unless the call already has a score under this rubric version (a
    transcript-based one must never be replaced by less). None when nothing was stored."""
    async with db.session() as s:
        call = await s.get(Call, call_id)
        if call is None or call.answered_at is None or call.ended_at is None:
            return None
        facts = await load_call_facts(s, call_id)
    result = score(None, facts, rubric, settings)
    try:
        async with db.begin() as s:
            existing = (await s.execute(select(QaScore.id).where(
                QaScore.call_id == call_id, QaScore.rubric_version == result.rubric_version))).first()
            if existing is not None:
                return None
            await save_score(s, call_id, result)
    except IntegrityError:  # the worker stored its score in the meantime: that one stands
        return None
    return result


class TimelineScorer:
    """Scores ended calls from their timeline as they hang up, and sweeps for the ones it missed."""

    def __init__(self, db: Database, rubric: Rubric, settings: Settings, *,
                 on_scored: Callable[[int, QaResult], None] | None = None) -> None:
        self.db = db
        self.rubric = rubric
        self.settings = settings
        self.on_scored = on_scored

    async def score(self, call_id: int) -> QaResult | None:
        result = await score_from_timeline(self.db, call_id, self.rubric, self.settings)
        if result is not None and self.on_scored is not None:
            self.on_scored(call_id, result)
        return result

    async def sweep(self, now: dt.datetime | None = None) -> int:
        """Score every ended call of the last SWEEP_DAYS that has no score yet; returns how many."""
        since = (now or utcnow()) - dt.timedelta(days=SWEEP_DAYS)
        done = 0
        while True:
            ids = await calls_without_a_score(self.db, self.rubric.version, since=since)
            scored = 0
            for call_id in ids:
                scored += await self.score(call_id) is not None
            done += scored
            if len(ids) < SWEEP_BATCH or not scored:
                return done

    async def follow(self, notices: HangupNotices, call_id_of: Callable[[object], int | None]) -> None:
        """Score each call as its hang-up notice arrives, until the subscription ends."""
        while True:
            notice = await notices.get()
            if notice is None:
                return
            call_id = call_id_of(notice)
            if call_id is None:
                continue
            try:
                await self.score(call_id)
            except Exception:  # noqa: BLE001 - the next sweep tries again; the call itself is long over
                log.exception("qa: timeline score of call %s failed", call_id)


# --- where transcription stands ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SpeechState:
    """Where transcription stands. model: "ready" (a worker with its model loaded is running), "loading" (a
    worker is loading its model), "idle" (a model is configured here but no worker runs), "missing" (no
    worker and no usable model configured: a fresh install)."""

    model: str
    waiting: int  # transcription jobs not started yet
    running: int  # jobs a worker holds now
    failed: int  # jobs given up after their attempts
    workers: int = 0  # live workers

    def as_json(self) -> dict[str, object]:
        return {"model": self.model, "waiting": self.waiting, "running": self.running, "failed": self.failed,
                "workers": self.workers}


WORKER_GONE_AFTER = 3 * HEARTBEAT_EVERY  # a worker not seen for this long is taken for dead


def model_present(path: Path | None) -> bool:
    """A Vosk model directory (am/ inside, or a final.mdl): the check the recogniser makes before loading."""
    return path is not None and ((path / "am").is_dir() or (path / "final.mdl").exists())


async def speech_state(db: Database, model_path: Path | None, now: dt.datetime | None = None) -> SpeechState:
    """model_path: this host's [vosk] model_path (a worker elsewhere says for itself that it is there)."""
    present = await asyncio.to_thread(model_present, model_path)
    alive_since = (now or utcnow()) - dt.timedelta(seconds=WORKER_GONE_AFTER)
    async with db.session() as s:
        counts = dict((await s.execute(select(TranscriptionJob.status, func.count())
                                       .group_by(TranscriptionJob.status))).all())
        states = list((await s.execute(select(SpeechWorker.state).where(SpeechWorker.seen_at >= alive_since))
                       ).scalars())
    if "ready" in states:
        model = "ready"
    elif states:
        model = "loading"
    else:
        model = "idle" if present else "missing"
    return SpeechState(model=model, waiting=counts.get(JobStatus.PENDING, 0), running=counts.get(JobStatus.RUNNING, 0),
                       failed=counts.get(JobStatus.FAILED, 0), workers=len(states))
