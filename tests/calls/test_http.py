"""The calls HTTP API, mounted with a guard the way the console mounts it."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from ivr.calls.ari_engine import ARI
from ivr.calls.http import Handler, add_routes
from ivr.db import Database
from ivr.settings import Settings
from tests.plugins.fake_ari import Gate, guard, until
from tests.builders import telephony_app
from tests.fakes.ari import FakeAri


async def test_live_calls_timeline_and_supervisor_fallback(db: Database, fake: FakeAri, ari_settings: Settings,
                                                           aiohttp_client: Any) -> None:
    # db and fake come first: torn down after the client, whose app cleanup still writes to the database.
    seen: list[str] = []

    def guard_(handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            seen.append(request.path)
            if request.headers.get("X-Role") != "supervisor":
                raise web.HTTPForbidden()
            return await handler(request)
        return wrapped

    gate = Gate()
    app = telephony_app(ari_settings, db, handler=gate, recordings_dir=fake.recording_dir)
    add_routes(app, guard=guard_)
    client: TestClient = await aiohttp_client(app)
    await guard(app[ARI].session.resynced.wait())
    cid = await fake.inbound_call(caller="13611112222")
    _, ctx = await guard(gate.entered.get())
    h = {"X-Role": "supervisor"}

    assert (await client.get("/api/calls/live")).status == 403
    resp = await client.get("/api/calls/live", headers=h)
    live = await resp.json()
    assert [(c["call_id"], c["channel_id"], c["caller_number"], c["in_ivr"]) for c in live] == \
        [(ctx.call_id, cid, "13611112222", True)]

    resp = await client.get(f"/api/calls/{ctx.call_id}", headers=h)
    call = await resp.json()
    assert call["uid"] == ctx.uid and call["events"][0]["kind"] == "arrived" and call["ended_at"] is None
    assert (await client.get("/api/calls/999999", headers=h)).status == 404
    assert (await client.get("/api/calls/abc", headers=h)).status == 400
    assert (await client.post(f"/api/calls/{ctx.call_id}/fallback", headers=h, json={"bogus": 1})).status == 400

    resp = await client.post(f"/api/calls/{ctx.call_id}/fallback", headers=h, json={"reason": "long wait"})
    assert resp.status == 200
    assert fake.dialplan[-1]["vars"]["HOTLINE_FALLBACK_DETAIL"] == "long wait"
    await until(lambda: not fake.channels[cid].stasis_app, "StasisEnd")
    assert (await client.post(f"/api/calls/{ctx.call_id}/fallback", headers=h)).status == 409
    assert "/api/calls/live" in seen
