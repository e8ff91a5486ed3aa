"""RecordingStore: the one owner of recording rows, file facts (sha256, duration, size) and the archive layout.

Both adapters go through it: rows are written when a recording starts (path known, sha256 empty) and
completed when the files are final, so a restart between the two leaves rows that `finalize_pending`
completes later; nothing is silently lost. The caller and agent tracks come from the adapter (two snoops on
ARI, MixMonitor r()/t() on AGI); the mix for playback is made here with sox unless the adapter already wrote
one. `import_files` is the strict door for finished files from elsewhere (imports, `hotline transcribe`
fixtures): it validates every file before writing anything. Blocking file work runs in threads; sox runs
as a subprocess, never on the event loop.
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
from typing import Collection, Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ivr.channel import Direction, RecordingHandle
from ivr.db import Database
from ivr.db.models import Call, Recording
from recordings.exceptions import RecordingError
from recordings.jobs import enqueue_transcription

log = logging.getLogger(__name__)
TRACKS = (Direction.CALLER, Direction.AGENT)
DIRECTIONS = tuple(d.value for d in (*TRACKS, Direction.MIXED))
TRANSCRIBED = tuple(d.value for d in TRACKS)  # the mix is for listening; speakers come from the separate tracks


@dataclass(frozen=True)
class WavInfo:
    path: Path
    sha256: str
    duration_seconds: float
    size_bytes: int
    sample_rate: int = 0
    channels: int = 0
    sample_width: int = 0


@dataclass(frozen=True)
class StoredRecording:
    direction: Direction
    path: Path
    sha256: str
    duration_seconds: float
    size_bytes: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def wav_info(path: str | Path) -> WavInfo:
    """Hash and measure a PCM WAV file strictly (RecordingError names the file). Blocking."""
    p = Path(path)
    try:
        size = p.stat().st_size
        with wave.open(str(p), "rb") as w:
            rate, channels, width, frames = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            if w.getcomptype() != "NONE":
                raise RecordingError(f"{p}: compressed WAV ({w.getcompname()}); need PCM", path=str(p))
        sha = _sha256(p)
    except FileNotFoundError:
        raise RecordingError(f"{p}: file not found", path=str(p)) from None
    except (wave.Error, EOFError) as exc:
        raise RecordingError(f"{p}: not a readable WAV file ({exc})", path=str(p)) from None
    except OSError as exc:
        raise RecordingError(f"{p}: cannot read ({exc.strerror or exc})", path=str(p)) from None
    if rate <= 0:
        raise RecordingError(f"{p}: WAV header has sample rate {rate}", path=str(p))
    return WavInfo(path=p, sha256=sha, duration_seconds=round(frames / rate, 3), size_bytes=size,
                   sample_rate=rate, channels=channels, sample_width=width)


def file_facts(path: Path) -> tuple[str, float, int]:
    """sha256, duration and size of a track Asterisk wrote: a bad header costs the duration (0), never the
    file, because a recording of a real call is evidence even when its header is broken. Blocking."""
    try:
        info = wav_info(path)
        return info.sha256, info.duration_seconds, info.size_bytes
    except RecordingError as exc:
        if not path.is_file():
            raise
        log.warning("recording %s: %s; duration unknown", path, exc)
        return _sha256(path), 0.0, path.stat().st_size


def archive_path(archive_dir: Path, name: str, direction: Direction | str, started: dt.datetime) -> Path:
    """<dir>/YYYY/MM/DD/<name>-<direction>.wav; a call's name is call-<uid>."""
    value = direction.value if isinstance(direction, Direction) else direction
    return Path(archive_dir) / started.strftime("%Y/%m/%d") / f"{name}-{value}.wav"


def _move(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if src.resolve() != dest.resolve():
        shutil.move(str(src), str(dest))


class RecordingStore:
    def __init__(self, db: Database, archive_dir: Path, *, sox: str | None = None) -> None:
        self.db = db
        self.archive_dir = Path(archive_dir)
        self.sox = sox if sox is not None else (shutil.which("sox") or "")

    def archive_path(self, name: str, direction: Direction | str, started: dt.datetime) -> Path:
        return archive_path(self.archive_dir, name, direction, started)

    @staticmethod
    async def _rows(s: AsyncSession, call_id: int) -> dict[str, Recording]:
        return {r.direction: r for r in (await s.execute(
            select(Recording).where(Recording.call_id == call_id))).scalars()}

    @staticmethod
    def _row(s: AsyncSession, rows: dict[str, Recording], call_id: int, direction: str) -> Recording:
        """The call's row for a direction, created when missing: the only place Recording rows are made."""
        row = rows.get(direction)
        if row is None:
            row = Recording(call_id=call_id, direction=direction)
            s.add(row)
            rows[direction] = row
        return row

    async def register(self, call_id: int, handle: RecordingHandle, started_at: dt.datetime | None = None) -> None:
        """Rows for a recording that has just started (sha256 empty until finalize). `started_at`: when the
        tracks began; a re-registration (resync) keeps the first one."""
        async with self.db.begin() as s:
            rows = await self._rows(s, call_id)
            for direction, path in handle.paths.items():
                fresh = direction.value not in rows
                row = self._row(s, rows, call_id, direction.value)
                if fresh or not row.sha256:
                    row.path = str(path)
                    row.started_at = row.started_at or started_at

    async def finalize(self, call_id: int, handle: RecordingHandle) -> list[StoredRecording]:
        """Move the finished tracks into the archive, mix them, store sha256/duration/size, queue transcription."""
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
        async with self.db.begin() as s:
            rows = await self._rows(s, call_id)
            for rec in stored:
                row = self._row(s, rows, call_id, rec.direction.value)
                row.path, row.sha256 = str(rec.path), rec.sha256
                row.duration_seconds, row.size_bytes = rec.duration_seconds, rec.size_bytes
        if any(r.direction in TRACKS for r in stored):
            try:
                await enqueue_transcription(self.db, call_id)
            except Exception:  # noqa: BLE001 - `hotline qa rescore` / resync can queue it later; never lose the call
                log.exception("call %s: could not queue transcription", call_id)
        return stored

    async def import_files(self, call_id: int, paths_by_direction: Mapping[str, str | Path], *,
                           enqueue: bool = True, started_at: dt.datetime | None = None) -> list[Recording]:
        """Store (or refresh) the call's rows from finished files in place; enqueue transcription.

        Idempotent: the same call again updates the rows (unique per call and direction), and the job is
        created once. Raises RecordingError (nothing written) for an unknown direction or an unreadable file,
        LookupError for an unknown call.
        """
        bad = [d for d in paths_by_direction if d not in DIRECTIONS]
        if bad:
            raise RecordingError(f"unknown recording direction(s) {', '.join(map(repr, bad))}; use {DIRECTIONS}")
        if not paths_by_direction:
            raise RecordingError(f"call {call_id}: no recording files given")
        infos = {d: await asyncio.to_thread(wav_info, p) for d, p in paths_by_direction.items()}
        async with self.db.begin() as s:
            if await s.get(Call, call_id) is None:
                raise LookupError(f"no call {call_id}")
            rows = await self._rows(s, call_id)
            for direction, info in infos.items():
                row = self._row(s, rows, call_id, direction)
                row.path, row.sha256 = str(info.path), info.sha256
                row.duration_seconds, row.size_bytes = info.duration_seconds, info.size_bytes
                row.purged_at = None
                if started_at is not None:
                    row.started_at = started_at
            stored = list(rows.values())
        if enqueue and any(d in TRANSCRIBED for d in infos):
            await enqueue_transcription(self.db, call_id)
        return stored

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
