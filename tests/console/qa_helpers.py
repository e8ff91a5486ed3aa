"""Scored calls for the QA page tests: the Chinese transcript fixtures of tests/recordings, stored as calls of
two agents with queues and categories, scored by the real scorer, with recordings where a test needs audio."""

from __future__ import annotations

import array
import datetime as dt
import random
import shutil
import subprocess
import wave
from dataclasses import dataclass, replace
from pathlib import Path

import bcrypt
from sqlalchemy import update

from ivr.db import Database
from ivr.db.models import Agent, Call, HangupSide, Role, utcnow
from ivr.settings import Settings
from recordings.qa.model import Segment
from recordings.qa.rubric import load_rubric
from recordings.qa.store import score_call
from recordings.store import RecordingStore

from tests.fakes.synth import Line, synthesize_call
from tests.acd.helpers import PASSWORD
from tests.recordings.fixture_calls import load_fixture_calls
from tests.recordings.helpers import finished_call, store_segments

IMPORT_ARCHIVE = Path("var/recordings")  # import_files stores files where they are

FIXTURES = {c.name: c for c in load_fixture_calls()}
PII_LINE = Segment("caller", 40.0, 44.0, "我的手机是13800138000，身份证11010519491231002X")
QA_AGENTS = (("1024", "陈晓燕", "一班"), ("2048", "刘志强", "二班"))
# name, fixture, agent, ring seconds, hours ago, queue, category
SPECS = (
    ("good", "gas_arrears_standard", "1024", 4.0, 5, "general", "账单缴费"),
    ("forbidden", "bu_gui_wo_guan", "1024", 4.0, 4, "general", "其他咨询"),
    ("late", "late_answer_no_apology", "2048", 25.0, 3, "general", "故障报修"),
    ("complaint", "complaint_12345", "2048", 4.0, 2, "complaint", "投诉"),
)


@dataclass
class QaWorld:
    calls: dict[str, int]
    agents: dict[str, int]  # 工号 -> pk, of the two agents whose calls are scored


async def add_agents(db: Database) -> dict[str, int]:
    """The agents of the fixture transcripts (their 工号 is in the greetings), able to log in."""
    pw = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    out: dict[str, int] = {}
    async with db.begin() as s:
        for agent_id, name, team in QA_AGENTS:
            a = Agent(agent_id=agent_id, name=name, password_hash=pw, role=Role.AGENT, team=team,
                      sip_endpoint=f"agent-{agent_id}")
            s.add(a)
            await s.flush()
            out[agent_id] = a.id
    return out


async def seed_scored_calls(db: Database, settings: Settings) -> QaWorld:
    agents = await add_agents(db)
    rubric = load_rubric()
    now = utcnow()
    calls: dict[str, int] = {}
    for name, fx, agent_id, ring, hours, queue, category in SPECS:
        talk = FIXTURES[fx].facts.talk_seconds or 40.0  # as long as the fixture says: no made-up silence
        made = await finished_call(db, agent_id=agent_id, ring=ring, hangup=HangupSide.CALLER, talk=talk,
                                   started=now - dt.timedelta(hours=hours))
        async with db.begin() as s:
            await s.execute(update(Call).where(Call.id == made.call_id).values(queue_name=queue, category=category))
        # The fixtures are written for 工号 1024; the other agent states their own number.
        segments = [replace(g, text=g.text.replace("1024", agent_id)) for g in FIXTURES[fx].segments]
        segments += [PII_LINE] if name == "good" else []
        await store_segments(db, made.call_id, segments)
        await score_call(db, made.call_id, rubric, settings)
        calls[name] = made.call_id
    return QaWorld(calls=calls, agents=agents)


def noise_wav(path: Path, seconds: float = 20.0, rate: int = 8000) -> Path:
    """A quiet 8 kHz mono WAV (the recording format), for tests about serving audio, not hearing it."""
    rng = random.Random(7)
    samples = array.array("h", (rng.randint(-200, 200) for _ in range(int(seconds * rate))))
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


def spoken_call(fixture: str, out_dir: Path) -> dict[str, Path]:
    """The fixture's transcript spoken by espeak-ng at its own times: caller and agent tracks plus their mix.
    Blocking (espeak-ng, sox)."""
    lines = [Line(g.speaker, g.text, start=g.start) for g in FIXTURES[fixture].segments]
    made = synthesize_call(lines, out_dir, name=fixture)
    mixed = out_dir / f"{fixture}-mixed.wav"
    sox = shutil.which("sox")
    assert sox, "sox is needed to mix the tracks (Debian package 'sox')"
    subprocess.run([sox, "-m", str(made.paths["caller"]), str(made.paths["agent"]), str(mixed)], check=True,
                   capture_output=True)
    return {"caller": made.paths["caller"], "agent": made.paths["agent"], "mixed": mixed}


async def add_recordings(db: Database, call_id: int, paths: dict[str, Path]) -> dict[str, int]:
    """Register finished files as the call's recordings (no transcription job: the transcript is given)."""
    rows = await RecordingStore(db, IMPORT_ARCHIVE).import_files(call_id, paths, enqueue=False)
    return {r.direction: r.id for r in rows}
