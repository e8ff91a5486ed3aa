"""Recording registration: strict WAV facts, all-or-nothing rows, the transcription job."""

from __future__ import annotations

import hashlib
import wave
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.db import Database
from ivr.db.models import JobStatus, Recording, TranscriptionJob
from recordings.exceptions import RecordingError
from recordings.store import RecordingStore, wav_info

from tests.recordings.helpers import finished_call

IMPORT_ARCHIVE = Path("var/recordings")  # import_files stores files where they are


def write_wav(path: Path, seconds: float, rate: int = 8000, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x01\x00" * int(seconds * rate) * channels)
    return path


def test_wav_info_measures_and_hashes(tmp_path: Path) -> None:
    p = write_wav(tmp_path / "a.wav", 2.5)
    info = wav_info(p)
    assert info.duration_seconds == 2.5
    assert info.size_bytes == p.stat().st_size
    assert info.sha256 == hashlib.sha256(p.read_bytes()).hexdigest()
    assert (info.sample_rate, info.channels, info.sample_width) == (8000, 1, 2)


def test_wav_info_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="missing.wav: file not found"):
        wav_info(tmp_path / "missing.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"this is not audio")
    with pytest.raises(RecordingError, match="bad.wav: not a readable WAV"):
        wav_info(bad)


async def test_register_stores_rows_and_enqueues_once(db: Database, tmp_path: Path) -> None:
    call = await finished_call(db)
    paths = {"caller": write_wav(tmp_path / "c.wav", 3.0), "agent": write_wav(tmp_path / "a.wav", 3.0),
             "mixed": write_wav(tmp_path / "m.wav", 3.0)}
    rows = await RecordingStore(db, IMPORT_ARCHIVE).import_files(call.call_id, paths)
    assert {r.direction for r in rows} == {"caller", "agent", "mixed"}
    # Registering again (after a restart) refreshes instead of duplicating.
    write_wav(paths["agent"], 4.0)
    await RecordingStore(db, IMPORT_ARCHIVE).import_files(call.call_id, {"agent": paths["agent"]})
    async with db.session() as s:
        recs = {r.direction: r for r in (await s.execute(select(Recording).where(
            Recording.call_id == call.call_id))).scalars()}
        jobs = list((await s.execute(select(TranscriptionJob).where(
            TranscriptionJob.call_id == call.call_id))).scalars())
    assert len(recs) == 3
    assert recs["agent"].duration_seconds == 4.0
    assert recs["caller"].sha256 == hashlib.sha256(paths["caller"].read_bytes()).hexdigest()
    assert len(jobs) == 1 and jobs[0].status is JobStatus.PENDING


async def test_register_with_a_bad_file_writes_nothing(db: Database, tmp_path: Path) -> None:
    call = await finished_call(db)
    good = write_wav(tmp_path / "c.wav", 1.0)
    with pytest.raises(RecordingError, match="nope.wav"):
        await RecordingStore(db, IMPORT_ARCHIVE).import_files(call.call_id, {"caller": good, "agent": tmp_path / "nope.wav"})
    with pytest.raises(RecordingError, match="unknown recording direction"):
        await RecordingStore(db, IMPORT_ARCHIVE).import_files(call.call_id, {"left": good})
    with pytest.raises(LookupError):
        await RecordingStore(db, IMPORT_ARCHIVE).import_files(999999, {"caller": good})
    async with db.session() as s:
        assert list((await s.execute(select(Recording))).scalars()) == []
        assert list((await s.execute(select(TranscriptionJob))).scalars()) == []
