"""The database job queue: exclusive claims, lease take-over, idempotent results (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.db import Database
from ivr.db.models import JobStatus, TranscriptionJob, TranscriptSegment
from recordings.jobs import JobQueue, LeaseLost
from recordings.qa.model import Segment
from recordings.qa.store import replace_segments
from recordings.jobs import enqueue_transcription
from tests.recordings.helpers import finished_call


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


async def job_row(db: Database, job_id: int) -> TranscriptionJob:
    async with db.session() as s:
        job = await s.get(TranscriptionJob, job_id)
        assert job is not None
        return job


def writer(call_id: int, text: str) -> "object":
    async def write(s: AsyncSession) -> str:
        await replace_segments(s, call_id, [Segment("agent", 0.5, 2.0, text), Segment("caller", 2.5, 3.0, "好")])
        return ""
    return write


async def test_enqueue_is_idempotent(db: Database) -> None:
    call = await finished_call(db)
    first = await enqueue_transcription(db, call.call_id)
    again = await asyncio.gather(*(enqueue_transcription(db, call.call_id) for _ in range(4)))
    assert set(again) == {first}
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(TranscriptionJob))).scalar_one() == 1
    with pytest.raises(LookupError):
        await enqueue_transcription(db, 424242)


async def test_only_one_of_many_workers_claims_a_job(db: Database) -> None:
    call = await finished_call(db)
    job_id = await enqueue_transcription(db, call.call_id)
    queues = [JobQueue(db, worker=f"w{i}") for i in range(5)]
    claims = await asyncio.gather(*(q.claim() for q in queues))
    won = [c for c in claims if c is not None]
    assert len(won) == 1
    assert won[0].job_id == job_id and won[0].attempts == 1
    row = await job_row(db, job_id)
    assert row.status is JobStatus.RUNNING and row.worker == won[0].worker and row.attempts == 1
    assert [c for c in await asyncio.gather(*(q.claim() for q in queues)) if c is not None] == []


async def test_several_jobs_spread_over_workers(db: Database) -> None:
    ids = []
    for _ in range(6):
        call = await finished_call(db)
        ids.append(await enqueue_transcription(db, call.call_id))
    queues = [JobQueue(db, worker=f"w{i}") for i in range(3)]

    async def drain(q: JobQueue) -> list[int]:
        got = []
        while (c := await q.claim()) is not None:
            await q.complete(c, writer(c.call_id, f"job {c.job_id}"))  # type: ignore[arg-type]
            got.append(c.job_id)
        return got

    done = await asyncio.gather(*(drain(q) for q in queues))
    flat = [j for part in done for j in part]
    assert sorted(flat) == sorted(ids), "every job done exactly once"
    assert (await queues[0].counts())["done"] == 6


async def test_expired_lease_is_taken_over_and_the_old_worker_cannot_write(db: Database) -> None:
    clock = Clock()
    call = await finished_call(db)
    job_id = await enqueue_transcription(db, call.call_id)
    a = JobQueue(db, worker="A", lease_seconds=30, clock=clock)
    b = JobQueue(db, worker="B", lease_seconds=30, clock=clock)
    ca = await a.claim()
    assert ca is not None
    assert await b.claim() is None, "a live lease is not taken"
    clock.advance(20)
    assert await a.renew(ca)
    clock.advance(20)
    assert await b.claim() is None, "renewed lease still live"
    clock.advance(31)  # A stopped renewing (paused, or dead)
    cb = await b.claim()
    assert cb is not None and cb.attempts == 2
    assert not await a.renew(ca)
    with pytest.raises(LeaseLost):
        await a.complete(ca, writer(call.call_id, "from A"))  # type: ignore[arg-type]
    await b.complete(cb, writer(call.call_id, "from B"))  # type: ignore[arg-type]
    row = await job_row(db, job_id)
    assert (row.status, row.worker, row.attempts) == (JobStatus.DONE, "B", 2)
    async with db.session() as s:
        texts = list((await s.execute(select(TranscriptSegment.text).where(
            TranscriptSegment.call_id == call.call_id))).scalars())
    assert sorted(texts) == ["from B", "好"]


async def test_redo_replaces_segments_instead_of_adding(db: Database) -> None:
    call = await finished_call(db)
    await enqueue_transcription(db, call.call_id)
    q = JobQueue(db, worker="w")
    c = await q.claim()
    assert c is not None
    await q.complete(c, writer(call.call_id, "first"))  # type: ignore[arg-type]
    await enqueue_transcription(db, call.call_id, requeue=True)
    c2 = await q.claim()
    assert c2 is not None
    await q.complete(c2, writer(call.call_id, "second"))  # type: ignore[arg-type]
    async with db.session() as s:
        texts = sorted((await s.execute(select(TranscriptSegment.text).where(
            TranscriptSegment.call_id == call.call_id))).scalars())
    assert texts == ["second", "好"]


async def test_failed_write_rolls_back_the_done_mark(db: Database) -> None:
    call = await finished_call(db)
    job_id = await enqueue_transcription(db, call.call_id)
    q = JobQueue(db, worker="w")
    c = await q.claim()
    assert c is not None

    async def broken(s: AsyncSession) -> str:
        await replace_segments(s, call.call_id, [Segment("agent", 0.0, 1.0, "half")])
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        await q.complete(c, broken)
    row = await job_row(db, job_id)
    assert row.status is JobStatus.RUNNING, "not marked done when the results were not written"
    async with db.session() as s:
        assert (await s.execute(select(func.count()).where(TranscriptSegment.call_id == call.call_id))
                ).scalar_one() == 0


async def test_retry_then_give_up(db: Database) -> None:
    clock = Clock()
    call = await finished_call(db)
    job_id = await enqueue_transcription(db, call.call_id)
    q = JobQueue(db, worker="w", max_attempts=2, clock=clock)
    c1 = await q.claim()
    assert c1 is not None
    assert await q.fail(c1, "database hiccup", retry=True)
    row = await job_row(db, job_id)
    assert row.status is JobStatus.PENDING and row.error == "database hiccup"
    assert await q.claim() is None, "retry waits for its back-off"
    clock.advance(6)
    c2 = await q.claim()
    assert c2 is not None and c2.attempts == 2
    assert await q.fail(c2, "again", retry=True)
    row = await job_row(db, job_id)
    assert row.status is JobStatus.FAILED and row.attempts == 2 and row.error == "again"


async def test_job_whose_workers_keep_dying_is_failed_not_looped(db: Database) -> None:
    clock = Clock()
    call = await finished_call(db)
    job_id = await enqueue_transcription(db, call.call_id)
    q = JobQueue(db, worker="w", lease_seconds=10, max_attempts=2, clock=clock)
    for _ in range(2):
        assert await q.claim() is not None
        clock.advance(11)  # the worker died holding the lease
    assert await q.claim() is None
    row = await job_row(db, job_id)
    assert row.status is JobStatus.FAILED and "2 attempts" in row.error
