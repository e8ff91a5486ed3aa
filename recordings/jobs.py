"""A transcription job queue in the database, shared by any number of worker processes.

Claims are leases: a worker sets status=running, its name, lease_until and attempts+1 with one
compare-and-set UPDATE (WHERE id=? AND attempts=? AND status=?), so two workers can never both win a job.
A worker that dies stops renewing; once the lease has expired another worker claims the job again. The
result is written in the same transaction as a second compare-and-set on (worker, attempts), so a worker
whose lease was taken over (paused, partitioned, slow) can finish its work but cannot write it: a job is
never done twice and never lost. On PostgreSQL candidates are picked with FOR UPDATE SKIP LOCKED so busy
workers do not queue up on the same row; on SQLite the compare-and-set alone is enough.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
from dataclasses import dataclass
from typing import Awaitable, Callable, TypeVar

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.db import Database
from ivr.db.models import Call, JobStatus, TranscriptionJob, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Claim:
    job_id: int
    call_id: int
    attempts: int
    worker: str
    lease_until: dt.datetime


class LeaseLost(Exception):
    """Another worker took the job over (our lease expired); our result was not written."""


class JobQueue:
    def __init__(self, db: Database, *, worker: str | None = None, lease_seconds: float = 120.0,
                 max_attempts: int = 3, clock: Callable[[], dt.datetime] = utcnow) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.db = db
        self.worker = worker or default_worker_name()
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.clock = clock

    def _claimable(self, now: dt.datetime) -> object:
        J = TranscriptionJob
        return or_(and_(J.status == JobStatus.PENDING, or_(J.lease_until.is_(None), J.lease_until <= now)),
                   and_(J.status == JobStatus.RUNNING, J.lease_until < now))

    async def claim(self) -> Claim | None:
        """Take the oldest claimable job, or None when there is nothing to do."""
        J = TranscriptionJob
        for _ in range(20):  # a candidate lost to another worker is followed by the next one
            now = self.clock()
            q = select(J.id, J.status, J.attempts).where(self._claimable(now)).order_by(J.id).limit(1)
            if self.db.is_sqlite:
                # Read, end the transaction, then write: a deferred SQLite transaction that read and then
                # writes fails with SQLITE_BUSY when another process wrote in between.
                async with self.db.session() as s:
                    row = (await s.execute(q)).first()
                if row is None:
                    return None
                job_id, status, attempts = row
                got = await _retry_locked(lambda: self._take_in_tx(job_id, status, attempts, now))
            else:
                async with self.db.begin() as s:
                    row = (await s.execute(q.with_for_update(skip_locked=True))).first()
                    if row is None:
                        return None
                    got = await self._take(s, row[0], row[1], row[2], now)
            if got is not None:
                return got
        return None

    async def _take_in_tx(self, job_id: int, status: JobStatus, attempts: int, now: dt.datetime) -> Claim | None:
        async with self.db.begin() as s:
            return await self._take(s, job_id, status, attempts, now)

    async def _take(self, s: AsyncSession, job_id: int, status: JobStatus, attempts: int,
                    now: dt.datetime) -> Claim | None:
        J = TranscriptionJob
        cas = and_(J.id == job_id, J.status == status, J.attempts == attempts, self._claimable(now))
        if attempts >= self.max_attempts:
            # Every attempt so far died holding the lease (a file that crashes the recogniser?): stop trying.
            res = await s.execute(update(J).where(cas).values(
                status=JobStatus.FAILED, finished_at=now, lease_until=None,
                error=f"gave up after {attempts} attempts: workers stopped before finishing (last lease expired)"))
            if res.rowcount == 1:  # type: ignore[attr-defined]
                log.error("transcription job %s failed after %s attempts", job_id, attempts)
            return None
        lease_until = now + self.lease
        res = await s.execute(update(J).where(cas).values(
            status=JobStatus.RUNNING, worker=self.worker, lease_until=lease_until, attempts=attempts + 1,
            started_at=now, error=""))
        if res.rowcount != 1:  # type: ignore[attr-defined]
            return None
        call_id = (await s.execute(select(J.call_id).where(J.id == job_id))).scalar_one()
        return Claim(job_id=job_id, call_id=call_id, attempts=attempts + 1, worker=self.worker,
                     lease_until=lease_until)

    def _mine(self, claim: Claim) -> object:
        J = TranscriptionJob
        return and_(J.id == claim.job_id, J.worker == claim.worker, J.attempts == claim.attempts,
                    J.status == JobStatus.RUNNING)

    async def renew(self, claim: Claim) -> bool:
        """Extend the lease; False when the job is no longer ours."""
        async def run() -> bool:
            async with self.db.begin() as s:
                res = await s.execute(update(TranscriptionJob).where(self._mine(claim)).values(
                    lease_until=self.clock() + self.lease))
                return res.rowcount == 1  # type: ignore[attr-defined, no-any-return]
        return await _retry_locked(run)

    async def complete(self, claim: Claim, write: Callable[[AsyncSession], Awaitable[str]]) -> None:
        """Mark the job done and write its results in one transaction; raises LeaseLost if not ours.

        write(session) stores the results and returns a note for the job row ("" when all went well).
        """
        async def run() -> None:
            async with self.db.begin() as s:
                # The compare-and-set comes first so it also takes the write lock before the results go in.
                res = await s.execute(update(TranscriptionJob).where(self._mine(claim)).values(
                    status=JobStatus.DONE, finished_at=self.clock(), lease_until=None, error=""))
                if res.rowcount != 1:  # type: ignore[attr-defined]
                    raise LeaseLost(f"job {claim.job_id} (call {claim.call_id}) was taken over; result dropped")
                note = await write(s)
                if note:
                    await s.execute(update(TranscriptionJob).where(TranscriptionJob.id == claim.job_id)
                                    .values(error=note[:2000]))
        await _retry_locked(run)

    async def fail(self, claim: Claim, error: str, *, retry: bool) -> bool:
        """Give the job back (retry, until max_attempts) or mark it failed; False if it was not ours."""
        async def run() -> bool:
            now = self.clock()
            final = not retry or claim.attempts >= self.max_attempts
            values: dict[str, object] = {"error": error[:2000], "lease_until": None}
            if final:
                values.update(status=JobStatus.FAILED, finished_at=now)
            else:
                # Back off a little so a transient problem (file still being written) can clear.
                values.update(status=JobStatus.PENDING, lease_until=now + dt.timedelta(seconds=5 * claim.attempts))
            async with self.db.begin() as s:
                res = await s.execute(update(TranscriptionJob).where(self._mine(claim)).values(**values))
                return res.rowcount == 1  # type: ignore[attr-defined, no-any-return]
        return await _retry_locked(run)

    async def counts(self) -> dict[str, int]:
        async with self.db.session() as s:
            rows = await s.execute(select(TranscriptionJob.status, func.count()).group_by(TranscriptionJob.status))
            out = {st.value: 0 for st in JobStatus}
            out.update({st.value if isinstance(st, JobStatus) else str(st): n for st, n in rows})
            return out


async def _retry_locked(fn: Callable[[], Awaitable[T]], attempts: int = 10) -> T:
    """Run fn again when SQLite reports a lock that outlived busy_timeout (many writers at once)."""
    for i in range(attempts):
        try:
            return await fn()
        except OperationalError as exc:
            if "locked" not in str(exc).lower() or i == attempts - 1:
                raise
            await asyncio.sleep(0.05 * (i + 1))
    raise AssertionError("unreachable")


async def enqueue_transcription(db: Database, call_id: int, *, requeue: bool = False) -> int:
    """Create the call's transcription job (once); requeue=True sends a finished or failed job round again.

    Returns the job id. Safe to call from several places at once: the job row is unique per call.
    """
    for _ in range(3):
        async with db.begin() as s:
            if await s.get(Call, call_id) is None:
                raise LookupError(f"no call {call_id}")
            job = (await s.execute(select(TranscriptionJob).where(TranscriptionJob.call_id == call_id))
                   ).scalar_one_or_none()
            if job is not None:
                if requeue and job.status in (JobStatus.DONE, JobStatus.FAILED):
                    job.status, job.worker, job.lease_until, job.error = JobStatus.PENDING, "", None, ""
                    job.attempts = 0
                return job.id
        try:
            async with db.begin() as s:
                job = TranscriptionJob(call_id=call_id, status=JobStatus.PENDING, created_at=utcnow())
                s.add(job)
                await s.flush()
                return job.id
        except IntegrityError:
            continue  # someone else created it between our read and write: read it again
    raise RuntimeError(f"could not enqueue transcription for call {call_id}")
