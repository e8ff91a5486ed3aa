"""Recording files: strict WAV facts (sha256, duration, size), registration after hang-up, the job enqueue.

ivr/calls/recording.py (the call layer) archives and mixes the tracks and writes Recording rows itself; after
that it only needs `enqueue_transcription`. `register_call_recordings` is for any other producer (AGI
MixMonitor files, imports, tests): it validates every file before writing anything, so a bad path leaves the
database untouched and says which file is wrong.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from sqlalchemy import select

from ivr.db import Database
from ivr.db.models import Call, JobStatus, Recording, TranscriptionJob, utcnow

DIRECTIONS = ("caller", "agent", "mixed")
TRANSCRIBED = ("caller", "agent")  # the mix is for listening; speakers come from the separate tracks


class RecordingError(Exception):
    """A recording file that cannot be used; str() names the file and the problem."""


@dataclass(frozen=True)
class WavInfo:
    path: Path
    sha256: str
    duration_seconds: float
    size_bytes: int
    sample_rate: int
    channels: int
    sample_width: int


def wav_info(path: str | Path) -> WavInfo:
    """Hash and measure a WAV file. Blocking: call through asyncio.to_thread from async code."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with wave.open(str(p), "rb") as w:
            rate, channels, width, frames = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            if w.getcomptype() != "NONE":
                raise RecordingError(f"{p}: compressed WAV ({w.getcompname()}); need PCM")
        digest = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 16), b""):
                digest.update(chunk)
    except FileNotFoundError:
        raise RecordingError(f"{p}: file not found") from None
    except (wave.Error, EOFError) as exc:
        raise RecordingError(f"{p}: not a readable WAV file ({exc})") from None
    except OSError as exc:
        raise RecordingError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if rate <= 0:
        raise RecordingError(f"{p}: WAV header has sample rate {rate}")
    return WavInfo(path=p, sha256=digest.hexdigest(), duration_seconds=round(frames / rate, 3), size_bytes=size,
                   sample_rate=rate, channels=channels, sample_width=width)


def recording_path(base_dir: Path, call_uid: str, direction: str, started: dt.datetime) -> Path:
    """Where a track is archived: <dir>/YYYY/MM/DD/call-<uid>-<direction>.wav (same layout as the call layer)."""
    return Path(base_dir) / started.strftime("%Y/%m/%d") / f"call-{call_uid}-{direction}.wav"


async def register_call_recordings(db: Database, call_id: int, paths_by_direction: Mapping[str, str | Path], *,
                                   enqueue: bool = True, started_at: dt.datetime | None = None) -> list[Recording]:
    """Store (or refresh) the call's Recording rows from finished files; enqueue transcription. `started_at`:
    when the tracks began, if before the agent's answer (see Recording.started_at).

    Idempotent: registering the same call again updates the rows (unique per call and direction), and the
    transcription job is created once. Raises RecordingError (nothing written) for an unknown direction or
    an unreadable file, LookupError for an unknown call.
    """
    bad = [d for d in paths_by_direction if d not in DIRECTIONS]
    if bad:
        raise RecordingError(f"unknown recording direction(s) {', '.join(map(repr, bad))}; use {DIRECTIONS}")
    if not paths_by_direction:
        raise RecordingError(f"call {call_id}: no recording files given")
    infos = {d: await asyncio.to_thread(wav_info, p) for d, p in paths_by_direction.items()}
    async with db.begin() as s:
        if await s.get(Call, call_id) is None:
            raise LookupError(f"no call {call_id}")
        rows = {r.direction: r for r in (await s.execute(
            select(Recording).where(Recording.call_id == call_id))).scalars()}
        for direction, info in infos.items():
            row = rows.get(direction)
            if row is None:
                row = Recording(call_id=call_id, direction=direction)
                s.add(row)
                rows[direction] = row
            row.path = str(info.path)
            row.sha256 = info.sha256
            row.duration_seconds = info.duration_seconds
            row.size_bytes = info.size_bytes
            row.purged_at = None
            if started_at is not None:
                row.started_at = started_at
        stored = list(rows.values())
    if enqueue and any(d in TRANSCRIBED for d in infos):
        await enqueue_transcription(db, call_id)
    return stored


async def enqueue_transcription(db: Database, call_id: int, *, requeue: bool = False) -> int:
    """Create the call's transcription job (once); requeue=True sends a finished or failed job round again.

    Returns the job id. Safe to call from several places at once: the job row is unique per call.
    """
    from sqlalchemy.exc import IntegrityError

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
