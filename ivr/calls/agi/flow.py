"""The seam between the AGI server and whoever runs call flows (ivr/engine).

The server is constructed with a FlowRunner; for `agi://host/flow/<name>` it asks `knows(name)` before
touching the call (unknown names fall back to the dialplan) and then awaits `run(name, channel, context)`.
The runner may raise anything: the server logs it and hands the call back to the dialplan.

What `run` returns decides what happens next: a result with `outcome == "queue"` and a `queue` request
(queue, skill, priority, call_id; the engine's FlowResult) sends the caller to app_queue through the dialplan
(ivr/calls/agi/queue.py), because AGI cannot bridge. A runner must therefore not hand an AGI call to the ACD itself.
Anything else (None, another outcome) ends the session as before.

EngineRunner is that runner for the flow engine: ivr/app.py builds it over the FlowService's engine and flows,
because FlowService.run gives queue results to the ACD, which bridges through ARI.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ivr.channel import Channel


@dataclass(frozen=True)
class FlowContext:
    call_id: int | None  # the calls row (None when the database was unavailable)
    params: Mapping[str, str] = field(default_factory=dict)  # ?k=v of agi://host/flow/<name>?k=v
    args: Sequence[str] = ()  # AGI(agi://host/flow/x,arg1,arg2)
    dialplan: tuple[str, str, str] = ("", "", "")  # context, extension, priority AGI() ran at
    protocol: str = "agi"


@runtime_checkable
class FlowRunner(Protocol):
    def knows(self, name: str) -> bool: ...

    async def run(self, name: str, channel: Channel, context: FlowContext) -> object: ...


FlowFunc = Callable[[Channel, FlowContext], Awaitable[object]]


class FlowTable:
    """A FlowRunner over a fixed name -> coroutine function table (tests, small sites, the engine's adapter)."""

    def __init__(self, flows: Mapping[str, FlowFunc]) -> None:
        self._flows = dict(flows)

    def knows(self, name: str) -> bool:
        return name in self._flows

    async def run(self, name: str, channel: Channel, context: FlowContext) -> object:
        return await self._flows[name](channel, context)


class FlowEngineLike(Protocol):
    """ivr.engine.runner.FlowEngine as far as AGI needs it."""

    async def run(self, flow: Any, channel: Channel, *, call_id: int | None = None) -> object: ...


class EngineRunner:
    """The flow engine as a FlowRunner that returns its FlowResult, so the AGI server decides about queueing."""

    def __init__(self, engine: FlowEngineLike, flows: Mapping[str, Any]) -> None:
        self.engine = engine
        self.flows = flows  # the live mapping: flows the engine's service reloads are seen here too

    def knows(self, name: str) -> bool:
        return name in self.flows

    async def run(self, name: str, channel: Channel, context: FlowContext) -> object:
        return await self.engine.run(self.flows[name], channel, call_id=context.call_id)
