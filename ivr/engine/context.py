"""What the engine knows about a call while it runs a flow, and what it hands back when the flow ends."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from call_flows.schema import Flow
from ivr.callers import AccountView, CustomerView
from ivr.channel import Channel


class Outcome(enum.StrEnum):
    QUEUE = "queue"  # FlowResult.queue says where; the ACD takes over
    TRANSFERRED = "transferred"  # the call continues in the dialplan at the transfer target
    HANGUP = "hangup"  # the flow hung up (after a goodbye, a message, the survey)
    CALLER_HANGUP = "caller_hangup"  # the caller left during the flow


class FlowFailed(Exception):
    """Our side failed (a bug, a dead database at the start): the caller must go to the dialplan fallback."""

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.path = path


class Jump(Exception):
    """Leave the current node for another one at once (emergency keyword, zero-out)."""

    def __init__(self, target: str, reason: str) -> None:
        super().__init__(target)
        self.target = target
        self.reason = reason


@dataclass(frozen=True)
class QueueRequest:
    """The end of an IVR flow that wants a person: the ACD queues the call with these values."""

    call_id: int
    queue: str
    skill: str
    priority: int
    flow: str
    node: str
    customer_id: int | None = None
    account_id: int | None = None
    verified: bool = False
    emergency: bool = False
    category: str = ""
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FlowResult:
    outcome: Outcome
    call_id: int | None
    path: tuple[str, ...]
    queue: QueueRequest | None = None


@dataclass
class CallContext:
    call_id: int
    channel: Channel
    flow: Flow
    caller_number: str
    customer: CustomerView | None = None
    account: AccountView | None = None
    verified: bool = False
    emergency: bool = False
    priority: int = 0
    skill: str = ""
    category: str = ""
    flags: set[str] = field(default_factory=set)
    vars: dict[str, str] = field(default_factory=dict)
    path: list[str] = field(default_factory=list)
    speech_ok: bool = True  # turned off for the rest of the call when the channel cannot record
    recordings: int = 0

    def next_recording_name(self, what: str) -> str:
        self.recordings += 1
        return f"ivr-{self.call_id}-{what}-{self.recordings}"
