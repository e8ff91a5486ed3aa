"""FlowService: the loaded flows plus the engine, in the two shapes the adapters call.

- ARI: `service.handle_call` is a CallHandler (ivr/calls/handler.py); `service.resume_call` the resume one.
- AGI: the service itself is a FlowRunner (ivr/calls/agi/flow.py): knows(name) + run(name, channel, context), which
  returns the FlowResult; a queue result goes to app_queue through the dialplan (AGI cannot bridge).
On ARI a flow that ends in a queue node is handed to the ACD (`acd.enqueue(call_id, channel, QueueRequest)`);
when the agent hangs up first the caller gets the flow's `survey` entry, then the call is hung up. FlowFailed
(and anything else) propagates so the adapter sends the call to the dialplan fallback.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any, Mapping, Protocol

from aiohttp import web

from call_flows.issues import Issue
from call_flows.loader import check_file
from call_flows.schema import Flow
from ivr.channel import Channel, ChannelError
from ivr.engine.context import FlowFailed, FlowResult, Outcome, QueueRequest
from ivr.engine.runner import FlowEngine

log = logging.getLogger(__name__)
FLOWS_DIR = Path(__file__).resolve().parents[2] / "call_flows"


def load_flows(directory: Path = FLOWS_DIR) -> tuple[dict[str, Flow], list[Issue]]:
    """Every *.yaml flow in the directory that checks clean, by flow name, and the problems of the others."""
    flows: dict[str, Flow] = {}
    problems: list[Issue] = []
    for path in sorted(directory.glob("*.yaml")):
        flow, issues = check_file(path)
        problems += [i for i in issues if i.severity == "error"]
        if flow is None:
            continue
        if flow.name in flows:
            problems.append(Issue(str(path), flow.header_line("flow"),
                                  f"flow name '{flow.name}' is also used by {flows[flow.name].path}"))
            continue
        flows[flow.name] = flow
    return flows, problems


class QueuedCall(Protocol):
    """What the ACD says when a queued call leaves it: who hung up first (the survey follows an agent's)."""

    @property
    def first_hangup(self) -> str: ...


class QueueTaker(Protocol):
    """Where a flow's queue node hands the caller (on ARI: ivr.acd.service.Acd)."""

    async def enqueue(self, call_id: int, channel: Channel, request: QueueRequest) -> QueuedCall: ...


class FlowService:
    def __init__(self, engine: FlowEngine, flows: Mapping[str, Flow], *, default_flow: str,
                 acd: QueueTaker | None = None) -> None:
        if default_flow not in flows:
            raise ValueError(f"default flow {default_flow!r} is not loaded (have: {', '.join(flows) or 'none'})")
        self.engine = engine
        self.flows = dict(flows)
        self.default_flow = default_flow
        self.acd = acd

    async def reload(self, directory: Path = FLOWS_DIR) -> list[Issue]:
        """Re-read the flow files after an operator changed them. A file that no longer checks clean keeps
        its previous, running version (a typo must not take a hotline down); calls in progress finish on the
        flow they started with. The mapping is updated in place: the AGI runner shares it."""
        fresh, problems = await asyncio.to_thread(load_flows, directory)  # file reads and parsing
        self.flows.update(fresh)
        log.info("flows reloaded: %s%s", ", ".join(sorted(fresh)) or "none",
                 f"; {len(problems)} problem(s), previous versions kept" if problems else "")
        return problems

    # --- AGI FlowRunner -----------------------------------------------------------------------------------

    def knows(self, name: str) -> bool:
        return name in self.flows

    async def run(self, name: str, channel: Channel, context: Any) -> FlowResult:
        """AGI cannot bridge, so a queue result is returned for the AGI server to send to app_queue
        (ivr/calls/agi/queue.py) instead of going to the ACD."""
        return await self.engine.run(self.flows[name], channel, call_id=getattr(context, "call_id", None))

    # --- ARI CallHandler ----------------------------------------------------------------------------------

    async def handle_call(self, channel: Channel, ctx: Any) -> None:
        await self.serve(self.flow_for(ctx), channel, call_id=ctx.call_id)

    async def resume_call(self, channel: Channel, ctx: Any) -> None:
        """A call re-adopted after our restart: its IVR state is lost, so it goes straight to a person."""
        flow = self.flow_for(ctx)
        await self.serve(flow, channel, call_id=ctx.call_id, start=flow.header.zero_out, answer=False)

    def flow_for(self, ctx: Any) -> Flow:
        name = (getattr(ctx, "extra", None) or {}).get("flow", self.default_flow)
        return self.flows.get(name, self.flows[self.default_flow])

    # --- the common path ----------------------------------------------------------------------------------

    async def serve(self, flow: Flow, channel: Channel, *, call_id: int | None, start: str | None = None,
                    answer: bool = True) -> FlowResult:
        result = await self.engine.run(flow, channel, call_id=call_id, start=start, answer=answer)
        if result.outcome is Outcome.QUEUE and result.queue is not None:
            if self.acd is None:
                raise FlowFailed(f"flow {flow.name} queued the call to {result.queue.queue} but no ACD is running",
                                 path=result.path)
            handed = await self.acd.enqueue(result.queue.call_id, channel, result.queue)
            if handed.first_hangup == "agent" and not channel.hung_up:
                await self.survey(flow, channel, result.queue.call_id)
        return result

    async def survey(self, flow: Flow, channel: Channel, call_id: int) -> None:
        """After the agent hung up: the flow's `survey` entry (if any), then hang up (the caller heard 再见)."""
        entry = flow.header.entries.get("survey")
        if entry is not None:
            await self.engine.run(flow, channel, call_id=call_id, start=entry, answer=False)
        if not channel.hung_up:
            try:
                await channel.hangup()
            except ChannelError as exc:
                log.info("call %s: hang-up after the survey: %s", call_id, exc)


FLOWS: web.AppKey[FlowService] = web.AppKey("flows", FlowService)
