"""The seams where other components plug into the call engine.

- `CallHandler`: runs one inbound call (the flow engine). Called once the call row exists, with the Channel and
  a CallContext. Returning means "done with this call" (a caller still in our app and not bridged is then hung
  up normally); raising (anything but ChannelHungUp) sends the caller to the dialplan fallback. After the
  caller hangs up, Channel operations raise ChannelHungUp and the handler has 30 s to finish its own work
  before it is cancelled. `ctx.resumed` is True when the call is re-adopted after a restart of our service
  (only the resume handler sees that; without one, such calls go to the fallback).
- `AgentLegHandler`: a channel we originated to an agent phone entered Stasis with args `agent,<call uid>[,...]`
  (the ACD). It is never a new call; the call service only uses it to tell who hung up first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable

from ivr.channel import Channel

if TYPE_CHECKING:
    from ivr.calls.notifier import CallNotifier
    from ivr.calls.timeline import Timeline


@dataclass(frozen=True)
class CallContext:
    call_id: int
    uid: str
    dialed: str
    args: tuple[str, ...]  # Stasis arguments after the route word ("inbound")
    timeline: "Timeline"
    notifier: "CallNotifier"
    resumed: bool = False
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentLegContext:
    call_uid: str
    call_id: int | None  # None when the call it names is unknown (then the leg is hung up unless handled)
    args: tuple[str, ...]  # everything after "agent,<uid>"
    caller: Channel | None  # the caller's channel when the call is live in this process
    resumed: bool = False


CallHandler = Callable[[Channel, CallContext], Awaitable[None]]
AgentLegHandler = Callable[[Channel, AgentLegContext], Awaitable[None]]
