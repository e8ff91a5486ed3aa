"""Call recordings once Asterisk has finished writing them: archive, mix, hash, measure, store.

Rows are written when a recording starts (path known, sha256 empty) and completed when the files are final,
so a restart between the two leaves rows that `finalize_pending` completes later; nothing is silently lost.
The caller and agent tracks come from the adapter (two snoops on ARI, MixMonitor r()/t() on AGI); the mix
for playback is made here with sox unless the adapter already wrote one. Blocking file work (hashing, wave
headers, moving files) runs in threads; sox runs as a subprocess, never on the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
import shutil
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Collection

from sqlalchemy import select

from ivr.channel import Direction, RecordingHandle
from ivr.db import Database
from ivr.db.models import Call, Recording

log = logging.getLogger(__name__)
TRACKS = (Direction.CALLER, Direction.AGENT)


@dataclass(frozen=True)
class StoredRecording:
    direction: Direction
    path: Path
    sha256: str
    duration_seconds: float
    size_bytes: int


def file_facts(path: Path) -> tuple[str, float, int]:
    """sha256, duration (from the WAV header; 0 when unreadable) and size of one file. Blocking."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    try:
        with wave.open(str(path), "rb") as w:
            rate = w.getframerate()
            duration = w.getnframes() / rate if rate else 0.0
    except (wave.Error, EOFError) as exc:
        log.warning("recording %s: not a readable WAV (%s); duration unknown", path, exc)
        duration = 0.0
    return digest.hexdigest(), round(duration, 3), path.stat().st_size


class CallRecordings:
    def __init__(self, db: Database, archive_dir: Path, *, sox: str | None = None) -> None:
        self.db = db
        self.archive_dir = Path(archive_dir)
        self.sox = sox if sox is not None else (shutil.which("sox") or "")

    def archive_path(self, name: str, direction: Direction, started: dt.datetime) -> Path:
        return self.archive_dir / started.strftime("%Y/%m/%d") / f"{name}-{direction.value}.wav"

    async def register(self, call_id: int, handle: RecordingHandle, started_at: dt.datetime | None = None) -> None:
        """Rows for a recording that has just started (sha256 empty until finalize). `started_at`: when the
        tracks began; a re-registration (resync) keeps the first one."""
        async with self.db.begin() as s:
            existing = {r.direction: r for r in (await s.execute(
                select(Recording).where(Recording.call_id == call_id))).scalars()}
            for direction, path in handle.paths.items():
                row = existing.get(direction.value)
                if row is None:
                    s.add(Recording(call_id=call_id, direction=direction.value, path=str(path),
                                    started_at=started_at))
                elif not row.sha256:
                    row.path = str(path)
                    row.started_at = row.started_at or started_at

    async def finalize(self, call_id: int, handle: RecordingHandle) -> list[StoredRecording]:
        """Move the finished tracks into the archive, mix them, store sha256/duration/size."""
        async with self.db.session() as s:
            call = await s.get(Call, call_id)
            started = call.started_at if call is not None else dt.datetime.now(dt.timezone.utc)
        final: dict[Direction, Path] = {}
        for direction in (*TRACKS, Direction.MIXED):
            src = Path(handle.paths.get(direction, ""))
            dest = self.archive_path(handle.name, direction, started)
            if src.is_file():
                await asyncio.to_thread(_move, src, dest)
            if dest.is_file():
                final[direction] = dest
        if Direction.MIXED not in final:
            mixed = await self._mix([final[d] for d in TRACKS if d in final],
                                    self.archive_path(handle.name, Direction.MIXED, started))
            if mixed is not None:
                final[Direction.MIXED] = mixed
        missing = [d.value for d in (*TRACKS, Direction.MIXED) if d not in final]
        if missing:
            log.error("call %s recording %s: missing %s file(s)", call_id, handle.name, ", ".join(missing))
        stored = []
        for direction, path in final.items():
            sha, duration, size = await asyncio.to_thread(file_facts, path)
            stored.append(StoredRecording(direction, path, sha, duration, size))
        await self._save(call_id, stored)
        if any(r.direction in TRACKS for r in stored):
            await self._queue_transcription(call_id)
        return stored

    async def _queue_transcription(self, call_id: int) -> None:
        from recordings.storage import enqueue_transcription

        try:
            await enqueue_transcription(self.db, call_id)
        except Exception:  # noqa: BLE001 - `hotline qa rescore` / resync can queue it later; never lose the call
            log.exception("call %s: could not queue transcription", call_id)

    async def _mix(self, tracks: list[Path], dest: Path) -> Path | None:
        if not tracks:
            return None
        if len(tracks) == 1:
            await asyncio.to_thread(shutil.copyfile, tracks[0], dest)
            return dest
        if not self.sox:
            log.error("sox is not installed: no mixed recording for %s (install the Debian package 'sox')", dest)
            return None
        try:
            proc = await asyncio.create_subprocess_exec(
                self.sox, "-m", *(str(t) for t in tracks), str(dest),
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            log.error("cannot run sox (%s) for %s: %s (install the Debian package 'sox')", self.sox, dest, exc)
            return None
        _, err = await proc.communicate()
        if proc.returncode != 0:
            log.error("mixing %s failed (sox exit %s): %s", dest, proc.returncode, err.decode(errors="replace")[-500:])
            return None
        return dest

    async def _save(self, call_id: int, stored: list[StoredRecording]) -> None:
        async with self.db.begin() as s:
            rows = {r.direction: r for r in (await s.execute(
                select(Recording).where(Recording.call_id == call_id))).scalars()}
            for rec in stored:
                row = rows.get(rec.direction.value)
                if row is None:
                    row = Recording(call_id=call_id, direction=rec.direction.value)
                    s.add(row)
                row.path = str(rec.path)
                row.sha256 = rec.sha256
                row.duration_seconds = rec.duration_seconds
                row.size_bytes = rec.size_bytes

    async def pending(self, exclude_calls: Collection[int] = (), *,
                      ended_before: dt.datetime | None = None) -> dict[int, RecordingHandle]:
        """Recordings of ended calls whose files were never finalized (we were down when they ended; or AGI
        calls, whose MixMonitor closes its files as the channel goes: `ended_before` leaves it that time)."""
        q = (select(Recording, Call).join(Call, Call.id == Recording.call_id)
             .where(Recording.sha256 == "", Call.ended_at.is_not(None)))
        if ended_before is not None:
            q = q.where(Call.ended_at < ended_before)
        async with self.db.session() as s:
            rows = (await s.execute(q)).all()
        out: dict[int, dict[Direction, str]] = {}
        names: dict[int, str] = {}
        for rec, call in rows:
            if call.id in exclude_calls:
                continue
            out.setdefault(call.id, {})[Direction(rec.direction)] = rec.path
            names[call.id] = f"call-{call.uid}"
        return {cid: RecordingHandle(name=names[cid], paths=paths) for cid, paths in out.items()}

    async def finalize_pending(self, exclude_calls: Collection[int] = (), *,
                               ended_before: dt.datetime | None = None) -> int:
        done = 0
        for call_id, handle in (await self.pending(exclude_calls, ended_before=ended_before)).items():
            try:
                await self.finalize(call_id, handle)
                done += 1
            except OSError as exc:
                log.error("finalizing recording %s of call %s: %s", handle.name, call_id, exc)
        return done


def _move(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.resolve() != dest.resolve():
        shutil.move(str(src), str(dest))
