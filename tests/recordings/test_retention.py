"""Retention purge: old audio and transcripts deleted, each deletion logged, recent calls untouched."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from sqlalchemy import func, select

from ivr.db import Database
from ivr.db.models import PurgeLog, QaScore, Recording, TranscriptSegment
from ivr.settings import Settings
from recordings.qa.rubric import Rubric
from recordings.qa.store import score_call
from recordings.retention import purge
from recordings.store import RecordingStore

from tests.recordings.fixture_calls import load_fixture_calls
from tests.recordings.helpers import finished_call, store_segments
from tests.recordings.test_storage import write_wav

IMPORT_ARCHIVE = Path("var/recordings")  # import_files stores files where they are

SEGMENTS = {c.name: c for c in load_fixture_calls()}["bu_gui_wo_guan"].segments


async def make(db: Database, settings: Settings, rubric: Rubric, tmp: Path, name: str, age_days: float) -> int:
    now = dt.datetime.now(dt.timezone.utc)
    call = await finished_call(db, started=now - dt.timedelta(days=age_days))
    paths = {d: write_wav(tmp / f"{name}-{d}.wav", 1.0) for d in ("caller", "agent", "mixed")}
    await RecordingStore(db, IMPORT_ARCHIVE).import_files(call.call_id, paths, enqueue=False)
    await store_segments(db, call.call_id, SEGMENTS)
    await score_call(db, call.call_id, rubric, settings)
    return call.call_id


async def counts(db: Database, call_id: int) -> tuple[int, int, int]:
    async with db.session() as s:
        live = (await s.execute(select(func.count()).where(Recording.call_id == call_id,
                                                           Recording.purged_at.is_(None)))).scalar_one()
        segs = (await s.execute(select(func.count()).where(TranscriptSegment.call_id == call_id))).scalar_one()
        logs = (await s.execute(select(func.count()).where(PurgeLog.call_id == call_id))).scalar_one()
    return live, segs, logs


async def test_purge_old_calls_only(db: Database, settings: Settings, rubric: Rubric, tmp_path: Path) -> None:
    assert settings.recordings.retention_days == 365
    old = await make(db, settings, rubric, tmp_path, "old", 400)
    recent = await make(db, settings, rubric, tmp_path, "recent", 300)
    (tmp_path / "old-mixed.wav").unlink()  # someone removed it by hand already

    dry = await purge(db, settings, dry_run=True)
    assert (dry.calls, dry.files_deleted, dry.segments_deleted) == (1, 3, len(SEGMENTS))
    assert await counts(db, old) == (3, len(SEGMENTS), 0), "a dry run changes nothing"

    report = await purge(db, settings)
    assert (report.calls, report.files_deleted, report.files_missing, report.segments_deleted,
            report.scores_scrubbed, report.errors) == (1, 2, 1, len(SEGMENTS), 1, [])
    assert not (tmp_path / "old-caller.wav").exists() and not (tmp_path / "old-agent.wav").exists()
    assert (tmp_path / "recent-caller.wav").exists()
    assert await counts(db, old) == (0, 0, 5)
    assert await counts(db, recent) == (3, len(SEGMENTS), 0)
    async with db.session() as s:
        logs = sorted((await s.execute(select(PurgeLog.what).where(PurgeLog.call_id == old))).scalars())
        score = (await s.execute(select(QaScore).where(QaScore.call_id == old))).scalar_one()
    assert any(w.startswith("recording mixed missing") for w in logs)
    assert any(w.startswith("recording caller deleted") for w in logs)
    assert f"transcript deleted: {len(SEGMENTS)} segments" in logs
    # The score stays for statistics; the words said on the call do not.
    assert score.total < 100 and score.instant_fail
    spoken = [e for r in score.results for e in r["evidence"] if e["source"] in ("caller", "agent")]
    assert spoken and all(e["text"] == "" and e["purged"] for e in spoken)
    assert all(e["start"] <= e["end"] for e in spoken)

    again = await purge(db, settings)
    assert again.calls == 0, "nothing left to purge: idempotent"


async def test_retention_period_is_configurable(db: Database, settings: Settings, rubric: Rubric,
                                                tmp_path: Path) -> None:
    short = settings.model_copy(update={"recordings": settings.recordings.model_copy(update={"retention_days": 30})})
    call = await make(db, settings, rubric, tmp_path, "c", 45)
    assert (await purge(db, settings)).calls == 0
    report = await purge(db, short)
    assert report.calls == 1 and await counts(db, call) == (0, 0, 5)
    # A catch-up run "as of" an earlier date purges only what was due then.
    later = await make(db, settings, rubric, tmp_path, "d", 20)
    as_of = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=5)
    assert (await purge(db, short, now=as_of)).calls == 0
    assert await counts(db, later) == (3, len(SEGMENTS), 0)


async def test_the_service_purges_by_itself(db: Database, settings: Settings, rubric: Rubric, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """build_app runs the retention purge: an operator who never set up cron still keeps to the period."""
    from aiohttp import web

    from ivr import keys
    from ivr.app import build_app
    from tests.fakes.acd import MemoryDialer
    from recordings import retention

    assert retention.retention_ctx in build_app(settings, dialer=MemoryDialer()).cleanup_ctx
    old = await make(db, settings, rubric, tmp_path, "old", 400)
    monkeypatch.setattr(retention, "PURGE_FIRST_AFTER", 0.0)
    app = web.Application()
    app[keys.DB], app[keys.SETTINGS] = db, settings
    app.cleanup_ctx.append(retention.retention_ctx)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        async with asyncio.timeout(30):  # a guard against a hang, not a speed assertion
            while (await counts(db, old))[0]:
                await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    assert await counts(db, old) == (0, 0, 5)
