"""One call's life inside the ACD, from entering the queue to the end of the conversation."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
from dataclasses import dataclass, field

from ivr.acd.model import QueueConfig, Waiting
from ivr.channel import Channel


class AcdError(Exception):
    """The ACD could not handle the call; the caller should continue in the dialplan (fallback queue)."""


class QueueOutcome(enum.StrEnum):
    ANSWERED = "answered"  # talked to an agent; see QueueResult.first_hangup
    ABANDONED = "abandoned"  # the caller hung up while waiting or ringing
    CALLBACK = "callback"  # the caller chose a callback on overflow; a work order was created


@dataclass(frozen=True)
class QueueResult:
    outcome: QueueOutcome
    agent_id: str | None = None
    # "agent": the agent hung up first and the caller's channel is still up (the flow may run a
    # satisfaction survey, then must hang up); "caller": the caller is gone.
    first_hangup: str = ""
    work_order: str | None = None
    waited_seconds: float = 0.0


class EntryState(enum.StrEnum):
    WAITING = "waiting"
    OFFERING = "offering"
    TALKING = "talking"
    DONE = "done"


@dataclass(frozen=True)
class Command:
    kind: str  # hangup / transfer
    queue: str = ""
    by_agent: int | None = None


@dataclass(eq=False)
class Entry:
    call_id: int
    uid: str
    caller_number: str
    customer_id: int | None
    channel: Channel
    queue: QueueConfig
    waiting: Waiting
    priority: int
    queued_at: dt.datetime  # wall time of the latest queue entry (a transfer starts a new wait)
    queued_mono: float
    first_queued_at: dt.datetime
    result: asyncio.Future[QueueResult]
    state: EntryState = EntryState.WAITING
    attempts: int = 0
    ring_seconds_total: float = 0.0
    agent_pk: int | None = None  # agent ringing or talking now
    left: asyncio.Event = field(default_factory=asyncio.Event)  # caller hung up or took a callback
    left_outcome: QueueOutcome = QueueOutcome.ABANDONED
    work_order: str | None = None
    control: asyncio.Queue[Command] = field(default_factory=asyncio.Queue)
    media_task: asyncio.Task[None] | None = None
    held: bool = False
    db_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # keeps this call's rows in event order

    def waited(self, now_mono: float) -> float:
        return max(0.0, now_mono - self.queued_mono)
