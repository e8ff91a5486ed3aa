"""The ACD's two seams: how an agent's phone is rung (AgentDialer) and who hears about it (AcdEvent).

The ARI-backed dialer lives in ivr.acd.ari_dialer; tests use tests.fakes.acd.MemoryDialer. The caller side
(music on hold, announcements, digits) goes through ivr.channel.Channel.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Callable, Protocol

from ivr.channel import Channel
from ivr.db.models import AgentState, OfferResult


class DialError(Exception):
    """The agent's phone could not be rung at all (endpoint unknown, not registered, Asterisk refused)."""


class LegOutcome(enum.StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"  # the agent (or the phone) declined
    FAILED = "failed"  # unreachable / congestion / gone before answering
    NO_ANSWER = "no_answer"  # the phone side gave up ringing before our own deadline


class AgentLeg(Protocol):
    """One ringing (then talking) call leg to an agent's endpoint."""

    @property
    def id(self) -> str: ...

    async def wait_answered(self) -> LegOutcome:
        """Return ANSWERED once the agent picks up, or the reason the leg ended without an answer."""
        ...

    async def wait_ended(self) -> str:
        """Return the hang-up cause once the leg is gone (after an answer: the agent hung up)."""
        ...


class AgentDialer(Protocol):
    async def ring(self, endpoint: str, *, call_uid: str, caller_id: str, timeout: float) -> AgentLeg:
        """Start ringing; returns as soon as the request is accepted (not when answered). Raises DialError."""
        ...

    async def cancel(self, leg: AgentLeg) -> None:
        """Stop ringing / hang up the agent leg; a leg that is already gone is not an error."""
        ...

    async def bridge(self, caller: Channel, leg: AgentLeg) -> str:
        """Connect caller and agent; returns a bridge id for unbridge()."""
        ...

    async def unbridge(self, bridge_id: str) -> None:
        """Tear the bridge down, leaving both channels up (transfer) or whichever is still there."""
        ...


# --- events the ACD publishes (console, wallboard, benchmarks subscribe) -------------------------------


@dataclass(frozen=True)
class AgentStateChanged:
    agent_pk: int
    agent_id: str
    state: AgentState
    reason: str
    since: dt.datetime
    call_id: int | None = None
    kind: str = field(default="agent.state", init=False)


@dataclass(frozen=True)
class CallQueued:
    call_id: int
    queue: str
    priority: int
    at: dt.datetime
    requeued: bool = False  # back in line after a no-answer or a transfer
    kind: str = field(default="call.queued", init=False)


@dataclass(frozen=True)
class CallOffered:
    """Emitted before the agent's phone is rung, so the screen pop races the first ring and wins."""

    call_id: int
    offer_key: str
    agent_pk: int
    agent_id: str
    ring_started_at: dt.datetime
    deadline_at: dt.datetime
    limit_seconds: float
    ring_on_seconds: float
    ring_off_seconds: float
    ring_count: int
    attempt: int  # 1 for the first agent, 2 after one no-answer, ...
    caller_number: str = ""
    queue: str = ""
    kind: str = field(default="call.offered", init=False)


@dataclass(frozen=True)
class OfferEnded:
    call_id: int
    offer_key: str
    agent_pk: int
    result: OfferResult
    ring_seconds: float
    kind: str = field(default="offer.ended", init=False)


@dataclass(frozen=True)
class CallAnswered:
    call_id: int
    agent_pk: int
    agent_id: str
    waited_seconds: float
    apology: bool
    greeting: str
    closing: str
    kind: str = field(default="call.answered", init=False)


@dataclass(frozen=True)
class CallLeftQueue:
    """The call is out of the ACD: talk ended, caller gone, callback taken, or an error."""

    call_id: int
    outcome: str  # answered / abandoned / callback / failed
    agent_pk: int | None
    first_hangup: str = ""  # agent / caller, for answered calls
    kind: str = field(default="call.left", init=False)


@dataclass(frozen=True)
class CallHold:
    call_id: int
    agent_pk: int
    held: bool
    kind: str = field(default="call.hold", init=False)


AcdEvent = AgentStateChanged | CallQueued | CallOffered | OfferEnded | CallAnswered | CallLeftQueue | CallHold
AcdListener = Callable[[AcdEvent], None]
