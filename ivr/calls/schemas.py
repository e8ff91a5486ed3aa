"""Wire shapes of the calls HTTP API (ivr.calls.http): what a live call and a timeline look like in JSON."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class LiveCallOut(_Out):
    call_id: int
    uid: str
    channel_id: str
    caller_number: str
    dialed: str
    state: str  # the channel's state in Asterisk (Ring, Up, ...)
    in_ivr: bool  # still in our Stasis application (False: in the dialplan fallback)
    bridged: bool
    hung_up: bool
    recording: bool
    agent_legs: list[str]


class TimelineEventOut(_Out):
    seq: int
    at: dt.datetime
    kind: str
    data: dict[str, Any]


class CallOut(_Out):
    call_id: int
    uid: str
    channel_id: str
    protocol: str
    caller_number: str
    dialed: str
    state: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    hangup_side: str | None
    hangup_cause: str
    outcome: str
    fallback_reason: str
    events: list[TimelineEventOut]


class FallbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = "sent to the fallback by a supervisor"
