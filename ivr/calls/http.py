"""HTTP for the call engine: live calls, a call's timeline, and handing a live call to the fallback.

Mounted by whoever owns authentication (the console): `add_routes(app, guard=require(Role.SUPERVISOR, ...))`.
The guard wraps every handler; this module never decides who may see calls.
"""

from __future__ import annotations

import json
from typing import Awaitable, Callable

from aiohttp import web
from pydantic import ValidationError

from ivr import keys
from ivr.calls.schemas import CallOut, FallbackIn, LiveCallOut, TimelineEventOut
from ivr.calls.services import CALLS, CallService
from ivr.calls.timeline import Timeline

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Guard = Callable[[Handler], Handler]


def _service(request: web.Request) -> CallService:
    service = request.app.get(CALLS)
    if not isinstance(service, CallService):
        raise web.HTTPServiceUnavailable(text=json.dumps({"error": "the ARI call engine is not running"}),
                                         content_type="application/json")
    return service


def _call_id(request: web.Request) -> int:
    try:
        return int(request.match_info["call_id"])
    except ValueError:
        raise web.HTTPBadRequest(text=json.dumps({"error": "call id must be a number"}),
                                 content_type="application/json") from None


async def live_calls(request: web.Request) -> web.Response:
    service = _service(request)
    out = [LiveCallOut(call_id=live.call_id, uid=live.uid, channel_id=live.channel.id,
                       caller_number=live.channel.info.caller_number, dialed=live.dialed, state=live.channel.state,
                       in_ivr=live.channel.in_app, bridged=bool(live.channel.bridges),
                       hung_up=live.channel.hung_up, recording=live.recording is not None,
                       agent_legs=sorted(live.legs)).model_dump(mode="json")
           for live in service.calls.values() if live.call_id]
    return web.json_response(sorted(out, key=lambda c: c["call_id"]))


async def call_timeline(request: web.Request) -> web.Response:
    call_id = _call_id(request)
    timeline = Timeline(request.app[keys.DB])
    call = await timeline.get(call_id)
    if call is None:
        raise web.HTTPNotFound(text=json.dumps({"error": f"no call {call_id}"}), content_type="application/json")
    events = [TimelineEventOut(seq=e.seq, at=e.at, kind=e.kind, data=e.data) for e in await timeline.events(call_id)]
    out = CallOut(call_id=call.id, uid=call.uid, channel_id=call.channel_id, protocol=call.protocol,
                  caller_number=call.caller_number, dialed=call.dialed, state=call.state.value,
                  started_at=call.started_at, ended_at=call.ended_at,
                  hangup_side=call.hangup_side.value if call.hangup_side else None,
                  hangup_cause=call.hangup_cause, outcome=call.outcome, fallback_reason=call.fallback_reason,
                  events=events)
    return web.json_response(out.model_dump(mode="json"))


async def send_to_fallback(request: web.Request) -> web.Response:
    service = _service(request)
    call_id = _call_id(request)
    try:
        body = FallbackIn.model_validate(await request.json() if request.can_read_body else {})
    except (ValidationError, ValueError) as exc:
        raise web.HTTPBadRequest(text=json.dumps({"error": f"bad request body: {exc}"}),
                                 content_type="application/json") from None
    live = next((c for c in service.calls.values() if c.call_id == call_id), None)
    if live is None or not live.channel.in_app or live.channel.hung_up:
        raise web.HTTPConflict(text=json.dumps({"error": f"call {call_id} is not in the IVR"}),
                               content_type="application/json")
    if live.handler_task is not None and not live.handler_task.done():
        live.handler_task.cancel()
    await service.fallback(live, body.reason)
    return web.json_response({"call_id": call_id, "fallback": True})


def add_routes(app: web.Application, *, guard: Guard, prefix: str = "/api/calls") -> None:
    app.router.add_get(f"{prefix}/live", guard(live_calls))
    app.router.add_get(f"{prefix}/{{call_id}}", guard(call_timeline))
    app.router.add_post(f"{prefix}/{{call_id}}/fallback", guard(send_to_fallback))
