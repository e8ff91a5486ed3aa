"""`hotline transcribe | qa rescore | qa rubric | recordings purge | recordings requeue` as a user runs them.

Each command family runs at least once as a real `hotline` process (exit code, stdout and stderr of the entry
point); the other invocations call the same `main()` in this process, which saves a Python start-up and the
imports per command and checks the same exit code and output.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Protocol

import pytest
from sqlalchemy import func, select

from ivr.cli import main
from ivr.db import Database
from ivr.db.models import JobStatus, PurgeLog, QaScore, TranscriptionJob
from tests.fakes.synth import SynthCall
from tests.recordings.fixture_calls import load_fixture_calls
from tests.recordings.helpers import finished_call, store_segments

REPO = Path(__file__).resolve().parents[2]
# `hotline` as the console script runs it (python -m ivr.cli would load ivr.cli twice, as __main__ and as itself).
HOTLINE = [sys.executable, "-c", "import sys; from ivr.cli import main; sys.exit(main())"]
SEGMENTS = {c.name: c for c in load_fixture_calls()}["gas_arrears_standard"].segments


def hotline(*args: str, cwd: Path, db_url: str = "", model: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    env["PYTHONPATH"] = str(REPO)
    if db_url:
        env["HOTLINE_DATABASE_URL"] = db_url
    if model is not None:
        env["HOTLINE_VOSK_MODEL_PATH"] = str(model)
    return subprocess.run([*HOTLINE, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


class Hotline(Protocol):
    def __call__(self, *args: str, cwd: Path, db_url: str = "",
                 model: Path | None = None) -> subprocess.CompletedProcess[str]: ...


@pytest.fixture
def hotline_here(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Hotline:
    """hotline() without the process: the same environment, working directory and arguments for `main()`.

    main() runs its command with asyncio.run, so async tests call this in a thread (asyncio.to_thread)."""
    def run(*args: str, cwd: Path, db_url: str = "", model: Path | None = None) -> subprocess.CompletedProcess[str]:
        with monkeypatch.context() as m:
            for key in [k for k in os.environ if k.startswith("HOTLINE_")]:
                m.delenv(key)
            if db_url:
                m.setenv("HOTLINE_DATABASE_URL", db_url)
            if model is not None:
                m.setenv("HOTLINE_VOSK_MODEL_PATH", str(model))
            m.chdir(cwd)
            capsys.readouterr()  # only this command's output
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's own errors, as the process would exit
                code = exc.code if isinstance(exc.code, int) else 1
            out = capsys.readouterr()
        return subprocess.CompletedProcess(["hotline", *args], code, out.out, out.err)
    return run


async def test_rescore_purge_and_requeue(db: Database, db_url: str, tmp_path: Path, hotline_here: Hotline) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    recent = await finished_call(db, started=now - dt.timedelta(days=2))
    old = await finished_call(db, started=now - dt.timedelta(days=400))
    for c in (recent, old):
        await store_segments(db, c.call_id, SEGMENTS)

    since = (now - dt.timedelta(days=7)).date().isoformat()
    r = hotline("qa", "rescore", "--since", since, cwd=tmp_path, db_url=db_url)
    assert r.returncode == 0, r.stderr
    assert "rubric 2026.2: 1 call(s) scored, 1 passed, 0 to review" in r.stdout
    assert "评分 2026.2" in r.stderr, "progress bar on stderr"
    async with db.session() as s:
        assert list((await s.execute(select(QaScore.call_id))).scalars()) == [recent.call_id]

    r = await asyncio.to_thread(hotline_here, "recordings", "purge", "--dry-run", cwd=tmp_path, db_url=db_url)
    assert r.returncode == 0, r.stderr
    assert "1 call(s), would delete 0 file(s)" in r.stdout and f"{len(SEGMENTS)} transcript segment(s)" in r.stdout
    r = hotline("recordings", "purge", cwd=tmp_path, db_url=db_url)
    assert r.returncode == 0 and "1 call(s), deleted" in r.stdout
    async with db.session() as s:
        assert (await s.execute(select(func.count()).where(PurgeLog.call_id == old.call_id))).scalar_one() == 1

    r = await asyncio.to_thread(hotline_here, "recordings", "requeue", str(recent.call_id), cwd=tmp_path,
                                db_url=db_url)
    assert r.returncode == 0 and "pending" in r.stdout
    async with db.session() as s:
        job = (await s.execute(select(TranscriptionJob))).scalar_one()
    assert job.call_id == recent.call_id and job.status is JobStatus.PENDING
    r = await asyncio.to_thread(hotline_here, "recordings", "requeue", "777777", cwd=tmp_path, db_url=db_url)
    assert r.returncode == 2 and "no call 777777" in r.stderr


@pytest.mark.parametrize("args, message", [
    (["qa", "rescore", "--since", "last tuesday"], "not a date: 'last tuesday'"),
    (["qa", "rubric", "missing.yaml"], "missing.yaml: file not found"),
    (["transcribe", "nothing.wav"], "nothing.wav: file not found"),
    (["worker", "--once"], "no Vosk model"),
])
def test_user_errors_are_one_line(tmp_path: Path, args: list[str], message: str, hotline_here: Hotline) -> None:
    r = hotline_here(*args, cwd=tmp_path, db_url=f"sqlite+aiosqlite:///{tmp_path}/x.db")
    assert r.returncode == 2
    assert message in r.stderr and "Traceback" not in r.stderr


def test_rubric_listing(tmp_path: Path, hotline_here: Hotline) -> None:
    r = hotline_here("qa", "rubric", cwd=tmp_path)
    assert r.returncode == 0
    assert "version 2026.2, 12 rules" in r.stdout and "服务禁用语  一票否决" in r.stdout


@pytest.mark.vosk
def test_transcribe_files(tmp_path: Path, model_path: Path, short_call: SynthCall, hotline_here: Hotline) -> None:
    # A short call: what is checked is the command's output, not what the model makes of a long call.
    paths = short_call.paths
    r = hotline("transcribe", "--json", "--speaker", "caller", str(paths["caller"]), cwd=tmp_path,
                model=model_path)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["file"] == str(paths["caller"]) and out["segments"]
    assert all(g["speaker"] == "caller" and g["words"] for g in out["segments"])
    assert "转写" in r.stderr and "100%" in r.stderr and "Warning" not in r.stderr
    r = hotline_here("transcribe", str(paths["agent"]), str(paths["caller"]), cwd=tmp_path, model=model_path)
    assert r.returncode == 0 and r.stdout.count("# ") == 2 and "[" in r.stdout
    # Both tracks of a call in one go, each with its speaker.
    r = hotline_here("transcribe", "--json", f"agent={paths['agent']}", f"caller={paths['caller']}",
                     cwd=tmp_path, model=model_path)
    assert r.returncode == 0, r.stderr
    both = json.loads(r.stdout)
    assert [item["file"] for item in both] == [str(paths["agent"]), str(paths["caller"])]
    assert [{g["speaker"] for g in item["segments"]} for item in both] == [{"agent"}, {"caller"}]


def test_transcribe_speaker_comes_from_the_argument_or_the_archive_name() -> None:
    from recordings.cli import _track

    assert _track("caller=/a/x.wav", None) == (Path("/a/x.wav"), "caller")
    assert _track("/a/call-1-caller.wav", None) == (Path("/a/call-1-caller.wav"), "caller")
    assert _track("/a/call-1-agent.wav", None) == (Path("/a/call-1-agent.wav"), "agent")
    assert _track("/a/call-1-caller.wav", "agent") == (Path("/a/call-1-caller.wav"), "agent")  # --speaker wins
    assert _track("/a/other.wav", None) == (Path("/a/other.wav"), "agent")
    assert _track("weird=name.wav", None) == (Path("weird=name.wav"), "agent")
