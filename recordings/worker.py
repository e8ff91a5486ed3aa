"""The transcription worker: claim a job, transcribe both tracks, score the call, write it all at once.

Run as many worker processes as there are cores to spare; they share the job table (see jobs.py). The model
is loaded once per process; recognition runs in a thread while the event loop keeps renewing the lease, so a
long call is not taken over from a live worker. Segments and the QA score are written in the transaction
that marks the job done: after a crash there is either nothing (the job is redone) or everything.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.db import Database
from ivr.db.models import QaScore, Recording, SpeechWorker, utcnow
from ivr.settings import Settings
from recordings.exceptions import RecordingError
from recordings.jobs import Claim, JobQueue, LeaseLost
from recordings.qa.model import QaResult, Segment
from recordings.qa.rubric import Rubric
from recordings.qa.scorer import score
from recordings.qa.store import (
    answer_offset,
    from_answer,
    load_call_facts,
    replace_segments,
    save_score,
)
from recordings.store import TRANSCRIBED
from recordings.transcribe import Transcriber

log = logging.getLogger(__name__)
HEARTBEAT_EVERY = 10.0  # seconds between a worker's "still here" rows (recordings/qa/pending.py reads them)


async def announce(db: Database, name: str, state: str, model: str = "") -> None:
    """Say what this worker is doing (loading its model / ready), so the QA pages can tell."""
    async with db.begin() as s:
        row = await s.get(SpeechWorker, name)
        now = utcnow()
        if row is None:
            s.add(SpeechWorker(name=name, state=state, model=model[:500], started_at=now, seen_at=now))
        else:
            row.state, row.seen_at = state, now
            if model:
                row.model = model[:500]


async def sign_off(db: Database, name: str) -> None:
    async with db.begin() as s:
        await s.execute(delete(SpeechWorker).where(SpeechWorker.name == name))


@dataclass(frozen=True)
class JobOutcome:
    job_id: int
    call_id: int
    segments: int
    audio_seconds: float
    score: QaResult | None
    note: str = ""


class TranscriptionWorker:
    def __init__(self, db: Database, settings: Settings, transcriber: Transcriber, *, rubric: Rubric | None = None,
                 name: str | None = None, lease_seconds: float = 120.0, max_attempts: int = 3,
                 poll_seconds: float = 1.0, on_done: Callable[[JobOutcome], None] | None = None) -> None:
        self.db = db
        self.settings = settings
        self.transcriber = transcriber
        self.rubric = rubric
        self.queue = JobQueue(db, worker=name, lease_seconds=lease_seconds, max_attempts=max_attempts)
        self.poll_seconds = poll_seconds
        self.on_done = on_done
        self._renew_every = max(0.2, lease_seconds / 3)

    @property
    def name(self) -> str:
        return self.queue.worker

    async def run(self, stop: asyncio.Event, *, once: bool = False) -> int:
        """Process jobs until stop is set (or, with once, until the queue is empty). Returns jobs done.

        The worker's row in transcription_workers says "ready" while it runs and goes when it stops."""
        done = 0
        beat = asyncio.get_running_loop().time()
        await announce(self.db, self.name, "ready")
        try:
            while not stop.is_set():
                now = asyncio.get_running_loop().time()
                if now - beat >= HEARTBEAT_EVERY:
                    await announce(self.db, self.name, "ready")
                    beat = now
                if await self.run_once():
                    done += 1
                    continue
                if once:
                    break
                try:
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)
                except TimeoutError:
                    pass
        finally:
            await sign_off(self.db, self.name)
        return done

    async def run_once(self) -> bool:
        """Claim and process one job; False when there was none."""
        claim = await self.queue.claim()
        if claim is None:
            return False
        log.info("%s: call %s (job %s, attempt %s)", self.name, claim.call_id, claim.job_id, claim.attempts)
        renewer = asyncio.create_task(self._keep_lease(claim))
        try:
            outcome = await self._process(claim)
        except RecordingError as exc:
            # The file itself is bad: retrying will not help, and the message tells an operator what to fix.
            await self.queue.fail(claim, str(exc), retry=False)
            log.error("%s: call %s: %s", self.name, claim.call_id, exc)
            return True
        except LeaseLost as exc:
            log.warning("%s: %s", self.name, exc)
            return True
        except Exception as exc:  # noqa: BLE001 - anything else may be transient: give it back
            await self.queue.fail(claim, f"{type(exc).__name__}: {exc}", retry=True)
            log.exception("%s: call %s failed", self.name, claim.call_id)
            return True
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
        if self.on_done is not None:
            self.on_done(outcome)
        return True

    async def _keep_lease(self, claim: Claim) -> None:
        # Recognition in its thread cannot be interrupted; a lost lease only means complete() will refuse.
        while True:
            await asyncio.sleep(self._renew_every)
            if not await self.queue.renew(claim):
                log.warning("%s: lost the lease on job %s; its result will be dropped", self.name, claim.job_id)
                return

    async def _process(self, claim: Claim) -> JobOutcome:
        async with self.db.session() as s:
            recs = [r for r in (await s.execute(select(Recording).where(Recording.call_id == claim.call_id))
                                ).scalars() if r.direction in TRANSCRIBED]
        live = [r for r in recs if r.purged_at is None]
        if not live:
            why = "purged by retention" if recs else "no caller/agent recording registered"
            raise RecordingError(f"call {claim.call_id}: nothing to transcribe ({why})")
        unfinished = [r.direction for r in live if not r.sha256]
        if unfinished:
            # Rows are written when recording starts and completed at hang-up (recordings/store.py):
            # a job enqueued too early is given back and retried after a back-off.
            raise RuntimeError(f"call {claim.call_id}: {', '.join(unfinished)} recording not finalized yet")
        segments: list[Segment] = []
        audio = 0.0
        for rec in sorted(live, key=lambda r: r.direction):
            found = await asyncio.to_thread(self.transcriber.transcribe, Path(rec.path), rec.direction)
            segments.extend(g.rounded() for g in found)
            audio += rec.duration_seconds
        result: QaResult | None = None
        note = ""
        if self.rubric is not None:
            try:
                async with self.db.session() as s:
                    facts = await load_call_facts(s, claim.call_id)
                    offset = await answer_offset(s, claim.call_id)
                # Stored on the recording's axis (the audio player's); scored from the agent's answer.
                on_answer = [g for g in (from_answer(g, offset) for g in segments) if g is not None]
                result = await asyncio.to_thread(score, on_answer, facts, self.rubric, self.settings)
            except Exception as exc:  # noqa: BLE001 - a scoring bug must not throw away a transcription
                note = f"transcribed; QA scoring failed: {type(exc).__name__}: {exc}"
                log.exception("%s: scoring call %s failed", self.name, claim.call_id)

        async def write(s: AsyncSession) -> str:
            nonlocal note, result
            await replace_segments(s, claim.call_id, segments)
            if result is None:
                return note
            existing = (await s.execute(select(QaScore.rubric_hash).where(
                QaScore.call_id == claim.call_id, QaScore.rubric_version == result.rubric_version))).scalar()
            if existing and existing != result.rubric_hash:
                note = (f"transcribed; not scored: rubric {result.rubric_version!r} content changed without a "
                        "new version")
                result = None
                return note
            await save_score(s, claim.call_id, result)
            return note

        await self.queue.complete(claim, write)
        return JobOutcome(claim.job_id, claim.call_id, len(segments), audio, result, note)
