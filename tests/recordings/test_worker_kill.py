"""A worker process killed (SIGKILL) in the middle of a job: another worker redoes it once, nothing is lost.

Both workers are real `hotline worker` processes on the same database as the test (SQLite and PostgreSQL),
with the real Vosk model. B starts as soon as A is dead, while A's lease still holds: it loads its model
during the lease and must not take the job before the lease has run out.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ivr.db import Database
from ivr.db.models import JobStatus, QaScore, TranscriptionJob, TranscriptSegment
from recordings.store import RecordingStore

from tests.fakes.synth import SynthCall
from tests.recordings.helpers import Heard, finished_call

IMPORT_ARCHIVE = Path("var/recordings")  # import_files stores files where they are

pytestmark = pytest.mark.vosk
REPO = Path(__file__).resolve().parents[2]
# `hotline` as the console script runs it (python -m ivr.cli would load ivr.cli twice, as __main__ and as itself).
HOTLINE = [sys.executable, "-c", "import sys; from ivr.cli import main; sys.exit(main())"]
WAIT = 180.0  # generous upper bounds for a slow CI machine; the test never asserts on durations


def start_worker(name: str, db_url: str, model: Path, cwd: Path, *extra: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env.update(HOTLINE_DATABASE_URL=db_url, HOTLINE_VOSK_MODEL_PATH=str(model), PYTHONPATH=str(REPO))
    return subprocess.Popen([*HOTLINE, "worker", "--name", name, "--lease", "2",
                             "--poll", "0.1", *extra], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


async def job(db: Database, call_id: int) -> TranscriptionJob:
    async with db.session() as s:
        return (await s.execute(select(TranscriptionJob).where(TranscriptionJob.call_id == call_id))).scalar_one()


async def wait_for(check, what: str, proc: subprocess.Popen[str] | None = None) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not await check():
        if proc is not None and proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"worker exited ({proc.returncode}) before {what}:\n{out}")
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_killed_worker_job_is_redone_exactly_once(db: Database, db_url: str, model_path: Path,
                                                        heard: Heard, short_call: SynthCall,
                                                        tmp_path: Path) -> None:
    # A few seconds of speech per track: A spends seconds in recognition (the test sees it claim the job in
    # milliseconds), and every second more would only be decoded again by B and by the comparison.
    call = await finished_call(db, talk=short_call.duration)
    await RecordingStore(db, IMPORT_ARCHIVE).import_files(call.call_id, short_call.paths)

    a = start_worker("A", db_url, model_path, tmp_path)
    try:
        async def a_is_working() -> bool:
            j = await job(db, call.call_id)
            return j.status is JobStatus.RUNNING and j.worker == "A"
        await wait_for(a_is_working, "worker A to claim the job", a)
    finally:
        a.send_signal(signal.SIGKILL)  # no chance to clean up: mid-recognition
        a.wait()
        if a.stdout:
            a.stdout.close()
    assert a.returncode == -signal.SIGKILL

    dead = await job(db, call.call_id)
    assert (dead.status, dead.attempts, dead.worker) == (JobStatus.RUNNING, 1, "A")
    assert dead.lease_until is not None
    async with db.session() as s:
        assert (await s.execute(select(func.count()).where(TranscriptSegment.call_id == call.call_id))
                ).scalar_one() == 0, "a killed worker wrote nothing"

    # Started at once, as a standby worker would be running already: it waits out A's lease by itself.
    b = start_worker("B", db_url, model_path, tmp_path)
    try:
        async def b_is_done() -> bool:
            return (await job(db, call.call_id)).status is JobStatus.DONE
        await wait_for(b_is_done, "worker B to finish the job", b)
        b.send_signal(signal.SIGTERM)  # the way an operator stops a worker: it leaves after its current job
        out, _ = await asyncio.to_thread(b.communicate, timeout=WAIT)
    finally:
        if b.poll() is None:
            b.kill()
            b.wait()
    assert b.returncode == 0, out
    assert f"call {call.call_id}:" in out and "stopped after 1 job(s)" in out

    done = await job(db, call.call_id)
    assert (done.status, done.attempts, done.worker, done.error) == (JobStatus.DONE, 2, "B", "")
    assert done.started_at is not None and done.started_at > dead.lease_until, \
        "B took the job over only once A's lease had run out"
    async with db.session() as s:
        rows = [(r.speaker, r.start_seconds, r.text) for r in (await s.execute(
            select(TranscriptSegment).where(TranscriptSegment.call_id == call.call_id)
            .order_by(TranscriptSegment.start_seconds, TranscriptSegment.speaker))).scalars()]
        scores = (await s.execute(select(func.count()).where(QaScore.call_id == call.call_id))).scalar_one()
    # Exactly one full set: what transcribing the two tracks gives, nothing missing, nothing twice.
    expected = sorted(((g.speaker, g.rounded().start, g.text) for sp in ("caller", "agent")
                       for g in heard(short_call.paths[sp], sp)), key=lambda r: (r[1], r[0]))
    assert rows == expected and rows
    assert scores == 1
