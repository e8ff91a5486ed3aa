"""Retention: recordings and transcripts are kept settings.recordings.retention_days (365 by default, 002:
records kept one year), then deleted, each deletion written to purge_log.

Per call: the audio files are deleted first, then in one transaction the Recording rows are marked purged,
the transcript segments deleted, the transcript excerpts in QA evidence blanked (scores, points and times
stay for statistics) and the log rows written. Deleting files before the database commit means a crash in
between leaves a file already gone, which the next run logs as missing and finishes; the opposite order
could leave audio on disk that the database says is gone.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, AsyncIterator, Callable

from sqlalchemy import delete, func, or_, select

from ivr.db import Database
from ivr.db.models import Call, PurgeLog, QaScore, Recording, TranscriptSegment, utcnow
from ivr.settings import Settings

if TYPE_CHECKING:
    from aiohttp import web

log = logging.getLogger(__name__)


@dataclass
class PurgeReport:
    cutoff: dt.datetime
    calls: int = 0
    files_deleted: int = 0
    files_missing: int = 0
    segments_deleted: int = 0
    scores_scrubbed: int = 0
    errors: list[str] = field(default_factory=list)


def _delete_file(path: Path) -> str:
    try:
        path.unlink()
        return "deleted"
    except FileNotFoundError:
        return "missing"


async def calls_due(db: Database, cutoff: dt.datetime) -> list[int]:
    """Calls older than the cutoff that still hold audio or transcript text."""
    has_audio = select(Recording.call_id).where(Recording.purged_at.is_(None))
    has_text = select(TranscriptSegment.call_id)
    q = (select(Call.id).where(Call.started_at < cutoff, or_(Call.id.in_(has_audio), Call.id.in_(has_text)))
         .order_by(Call.started_at, Call.id))
    async with db.session() as s:
        return list((await s.execute(q)).scalars())


async def purge(db: Database, settings: Settings, *, now: dt.datetime | None = None, dry_run: bool = False,
                progress: Callable[[int], None] | None = None) -> PurgeReport:
    now = now or utcnow()
    cutoff = now - dt.timedelta(days=settings.recordings.retention_days)
    report = PurgeReport(cutoff=cutoff)
    for call_id in await calls_due(db, cutoff):
        report.calls += 1
        if dry_run:
            async with db.session() as s:
                recs = (await s.execute(select(Recording).where(Recording.call_id == call_id,
                                                                Recording.purged_at.is_(None)))).scalars().all()
                report.files_deleted += len(recs)
                report.segments_deleted += (await s.execute(select(func.count()).where(
                    TranscriptSegment.call_id == call_id))).scalar_one()
        else:
            try:
                await _purge_call(db, call_id, now, report)
            except OSError as exc:
                report.errors.append(f"call {call_id}: {exc}")
        if progress is not None:
            progress(1)
    return report


async def _purge_call(db: Database, call_id: int, now: dt.datetime, report: PurgeReport) -> None:
    async with db.session() as s:
        recs = list((await s.execute(select(Recording).where(Recording.call_id == call_id,
                                                             Recording.purged_at.is_(None)))).scalars())
    logs: list[PurgeLog] = []
    for rec in recs:
        outcome = await asyncio.to_thread(_delete_file, Path(rec.path))
        if outcome == "deleted":
            report.files_deleted += 1
        else:
            report.files_missing += 1
        logs.append(PurgeLog(call_id=call_id, at=now,
                             what=f"recording {rec.direction} {outcome}: {Path(rec.path).name} "
                                  f"sha256={rec.sha256[:16]}"[:200]))
    async with db.begin() as s:
        for rec in recs:
            row = await s.get(Recording, rec.id)
            if row is not None:
                row.purged_at = now
        n = (await s.execute(select(func.count()).where(TranscriptSegment.call_id == call_id))).scalar_one()
        if n:
            await s.execute(delete(TranscriptSegment).where(TranscriptSegment.call_id == call_id))
            logs.append(PurgeLog(call_id=call_id, at=now, what=f"transcript deleted: {n} segments"))
            report.segments_deleted += n
        scores = (await s.execute(select(QaScore).where(QaScore.call_id == call_id))).scalars()
        for sc in scores:
            scrubbed = _scrub(sc.results)
            if scrubbed != sc.results:
                sc.results = scrubbed
                report.scores_scrubbed += 1
                logs.append(PurgeLog(call_id=call_id, at=now,
                                     what=f"qa evidence text blanked: rubric {sc.rubric_version}"))
        s.add_all(logs)


def _scrub(results: list[object]) -> list[object]:
    out: list[object] = []
    for r in results:
        if isinstance(r, dict) and r.get("evidence"):
            ev = [{**e, "text": "" if e.get("source") in ("caller", "agent") else e.get("text", ""),
                   "purged": e.get("source") in ("caller", "agent")} for e in r["evidence"]]
            out.append({**r, "evidence": ev})
        else:
            out.append(r)
    return out


PURGE_EVERY = 6 * 3600.0  # the period is in days: a few passes a day keep within it by hours
PURGE_FIRST_AFTER = 60.0  # not in the middle of start-up and resync


async def retention_ctx(app: "web.Application") -> AsyncIterator[None]:
    """The service applies the retention period by itself (`hotline recordings purge` does the same by hand);
    each purge is in purge_log."""
    from ivr import keys
    from ivr.periodic import in_background, repeat

    db, settings = app[keys.DB], app[keys.SETTINGS]

    async def apply() -> None:
        report = await purge(db, settings)
        if report.calls or report.errors:
            log.info("retention: %d call(s) past %d days purged (%d file(s) deleted), %d error(s)",
                     report.calls, settings.recordings.retention_days, report.files_deleted, len(report.errors))

    async with in_background(repeat(apply, every=PURGE_EVERY, what="retention purge",
                                    first_after=PURGE_FIRST_AFTER), "retention"):
        yield
