"""Recording rows: registered at start, completed (archive, mix, sha256, duration) once files are final."""

from __future__ import annotations

import hashlib
import math
import struct
import wave
from pathlib import Path

import pytest
from sqlalchemy import select

from recordings.store import RecordingStore
from ivr.calls.timeline import Timeline
from ivr.channel import Direction, RecordingHandle
from ivr.db import Database
from ivr.db.models import HangupSide, Recording


def _wav(path: Path, seconds: float, freq: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = int(8000 * seconds)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"".join(struct.pack("<h", int(6000 * math.sin(2 * math.pi * freq * i / 8000)))
                               for i in range(n)))


async def _call_with_recording(db: Database, spool: Path, *, agent: bool = True) -> tuple[int, RecordingHandle]:
    timeline = Timeline(db)
    call, _ = await timeline.open_call(channel_id="chan-rec-1", protocol="ari", caller_number="138")
    name = f"call-{call.uid}"
    handle = RecordingHandle(name=name, paths={d: str(spool / f"{name}-{d.value}.wav") for d in Direction})
    _wav(spool / f"{name}-caller.wav", 2.0, 440)
    if agent:
        _wav(spool / f"{name}-agent.wav", 1.5, 660)
    return call.id, handle


async def _rows(db: Database, call_id: int) -> dict[str, Recording]:
    async with db.session() as s:
        return {r.direction: r for r in (await s.execute(
            select(Recording).where(Recording.call_id == call_id))).scalars()}


async def test_pending_recordings_are_finalized_after_a_restart(db: Database, tmp_path: Path) -> None:
    spool, archive = tmp_path / "spool", tmp_path / "archive"
    store = RecordingStore(db, archive)
    call_id, handle = await _call_with_recording(db, spool)
    await store.register(call_id, handle)
    assert {r.sha256 for r in (await _rows(db, call_id)).values()} == {""}
    await Timeline(db).close_call(call_id, side=HangupSide.CALLER, cause="Normal Clearing")
    # (the service restarted here: only the rows remember the recording)
    assert await RecordingStore(db, archive).finalize_pending() == 1
    rows = await _rows(db, call_id)
    assert set(rows) == {"caller", "agent", "mixed"}
    for row in rows.values():
        path = Path(row.path)
        assert path.is_relative_to(archive) and row.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert rows["caller"].duration_seconds == 2.0 and rows["agent"].duration_seconds == 1.5
    assert rows["mixed"].duration_seconds == 2.0  # sox pads the shorter track
    assert not list(spool.iterdir())  # moved, not copied
    assert await RecordingStore(db, archive).finalize_pending() == 0  # nothing left


async def test_open_calls_are_not_finalized_early(db: Database, tmp_path: Path) -> None:
    store = RecordingStore(db, tmp_path / "archive")
    call_id, handle = await _call_with_recording(db, tmp_path / "spool")
    await store.register(call_id, handle)
    assert await store.finalize_pending() == 0


async def test_a_missing_track_still_stores_the_rest(db: Database, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    store = RecordingStore(db, tmp_path / "archive")
    call_id, handle = await _call_with_recording(db, tmp_path / "spool", agent=False)
    stored = await store.finalize(call_id, handle)
    assert sorted(s.direction.value for s in stored) == ["caller", "mixed"]
    assert "missing agent" in caplog.text


async def test_without_sox_there_is_no_mix_and_a_clear_error(db: Database, tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    store = RecordingStore(db, tmp_path / "archive", sox="/nonexistent/sox")
    call_id, handle = await _call_with_recording(db, tmp_path / "spool")
    stored = await store.finalize(call_id, handle)
    assert sorted(s.direction.value for s in stored) == ["agent", "caller"]
    assert "install the Debian package 'sox'" in caplog.text
