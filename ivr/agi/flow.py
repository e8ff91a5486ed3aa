"""The seam between the AGI server and whoever runs call flows (ivr/engine).

The server is constructed with a FlowRunner; for `agi://host/flow/<name>` it asks `knows(name)` before
touching the call (unknown names fall back to the dialplan) and then awaits `run(name, channel, context)`.
The runner may raise anything: the server logs it and hands the call back to the dialplan.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

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

    async def run(self, name: str, channel: Channel, context: FlowContext) -> None: ...


FlowFunc = Callable[[Channel, FlowContext], Awaitable[None]]


class FlowTable:
    """A FlowRunner over a fixed name -> coroutine function table (tests, small sites, the engine's adapter)."""

    def __init__(self, flows: Mapping[str, FlowFunc]) -> None:
        self._flows = dict(flows)

    def knows(self, name: str) -> bool:
        return name in self._flows

    async def run(self, name: str, channel: Channel, context: FlowContext) -> None:
        await self._flows[name](channel, context)
