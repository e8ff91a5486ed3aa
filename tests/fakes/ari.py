"""A protocol-faithful fake ARI (REST + events websocket) for unit tests. Not for production.

Faithful where our code depends on it, and checked against the same API description as the client:
- every request is validated by `ApiSpec` and refused the way Asterisk refuses it (400/404/405 + message),
  operations on a channel outside Stasis answer 409, on a vanished one 404;
- every event is built with the real field names and validated against events.json before it is sent;
- event orders copy what Asterisk 22 does (captured in tests/ari/samples): a remote hang-up is
  ChannelHangupRequest(cause) -> StasisEnd -> ChannelDestroyed; our DELETE is ChannelHangupRequest(soft);
  continue is StasisEnd with the channel still alive; snoops end with their target; an app without a
  websocket keeps its channels, and a Stasis() for it fails (the dialplan fallback is logged in `dialplan`).
Test controls: inbound_call, caller_hangup, press (DTMF), answer (originated legs), drop_websockets, vanish.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import math
import struct
import wave
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from ivr.ari.spec import ApiSpec, SpecViolation
from tests.fakes.ari_state import AriChannelState, FakeError, FakeLiveRecording
from tests.fakes.ari_state import now as _now


class FakeAri:
    def __init__(self, recording_dir: Path, *, user: str = "fake", password: str = "fake-pw",
                 spec: ApiSpec | None = None, asterisk_id: str = "02:00:00:00:00:01") -> None:
        self.spec = spec or ApiSpec.load()
        self.recording_dir = Path(recording_dir)
        self.user, self.password, self.asterisk_id = user, password, asterisk_id
        self.channels: dict[str, AriChannelState] = {}
        self.bridges: dict[str, list[str]] = {}
        self.playbacks: dict[str, dict[str, Any]] = {}
        self.recordings: dict[str, FakeLiveRecording] = {}
        self.sockets: dict[str, set[web.WebSocketResponse]] = {}
        self.subscriptions: dict[str, set[str]] = {}  # app -> explicitly subscribed channel ids
        self.known_apps: set[str] = set()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.rejected: list[tuple[str, str, int, str]] = []
        self.dialplan: list[dict[str, Any]] = []  # what happened to channels outside Stasis
        self.hold_media: set[str] = set()  # playbacks of these URIs run until stopped
        self.recording_seconds = 1.0
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    # --- server ------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> str:
        app = web.Application()
        app.router.add_get("/ari/events", self._events)
        app.router.add_route("*", "/ari/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port or self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.url

    async def stop(self) -> None:
        """Stop serving (Asterisk down); state is kept, so start() again is an Asterisk that came back."""
        await self.drop_websockets()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def drop_websockets(self) -> None:
        for sockets in self.sockets.values():
            for ws in list(sockets):
                await ws.close()
        self.sockets.clear()

    def _spawn(self, coro: Any) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    def _authorized(self, request: web.Request) -> bool:
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {token}"

    async def _events(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        params = dict(request.query)
        try:
            self.spec.validate("GET", "/events", params)
        except SpecViolation as exc:
            return web.json_response({"message": str(exc)}, status=exc.status)
        ws = web.WebSocketResponse(protocols=("ari",))
        await ws.prepare(request)
        apps = params["app"].split(",")
        for app in apps:
            self.known_apps.add(app)
            self.sockets.setdefault(app, set()).add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            for app in apps:
                self.sockets.get(app, set()).discard(ws)
        return ws

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        path = "/" + request.match_info["tail"]
        params = dict(request.query)
        body = await request.json() if request.can_read_body else None
        try:
            op, values = self.spec.match(request.method, path)
            self.spec.validate(request.method, path, params, body)
            handler = getattr(self, f"_op_{op.resource}_{op.nickname}", None)
            if handler is None:
                raise FakeError(501, f"fake ARI does not implement {op.nickname}")
            self.requests.append((request.method, path, params))
            status, result = await handler(values, params, body or {})
        except SpecViolation as exc:
            self.rejected.append((request.method, path, exc.status, str(exc)))
            return web.json_response({"message": str(exc)}, status=exc.status)
        except FakeError as exc:
            self.rejected.append((request.method, path, exc.status, str(exc)))
            return web.json_response({"message": str(exc)}, status=exc.status)
        if result is None:
            return web.Response(status=status)
        return web.json_response(result, status=status)

    # --- events ------------------------------------------------------------------------------------------

    def _apps_for(self, channel_ids: list[str]) -> set[str]:
        apps = set()
        for cid in channel_ids:
            ch = self.channels.get(cid)
            if ch is not None and ch.stasis_app:
                apps.add(ch.stasis_app)
            apps |= {app for app, subs in self.subscriptions.items() if cid in subs}
        return apps

    async def emit(self, kind: str, channel_ids: list[str], **fields: Any) -> None:
        for app in self._apps_for(channel_ids):
            event = {"type": kind, "timestamp": _now(), **fields, "asterisk_id": self.asterisk_id,
                     "application": app}
            self.spec.validate_event(event)  # a fake that invents fields would hide bugs
            for ws in list(self.sockets.get(app, ())):
                if not ws.closed:
                    await ws.send_str(json.dumps(event))

    async def _chan_event(self, kind: str, ch: AriChannelState, **fields: Any) -> None:
        await self.emit(kind, [ch.id], channel=ch.json(), **fields)

    # --- test controls -----------------------------------------------------------------------------------

    def _new_id(self) -> str:
        return f"fake-{1700000000 + next(self._ids)}.{next(self._ids)}"

    async def inbound_call(self, caller: str = "13800000000", exten: str = "95598", app: str = "hotline",
                           args: list[str] | None = None) -> str:
        """A call reaching [hotline-inbound]: Stasis(app,inbound,exten), or the fallback if the app is away."""
        cid = self._new_id()
        args = ["inbound", exten] if args is None else args
        ch = AriChannelState(cid, f"PJSIP/hotline-caller-{len(self.channels):08x}", "Ring",
                         {"name": "", "number": caller}, "hotline-inbound", exten, "Stasis",
                         ",".join([app, *args]), priority=4)
        self.channels[cid] = ch
        if not self.sockets.get(app):
            ch.app_name, ch.app_data, ch.vars["STASISSTATUS"] = "Queue", "hotline-fallback", "FAILED"
            self.dialplan.append({"channel": cid, "event": "stasis_failed", "vars": dict(ch.vars)})
            return cid
        ch.stasis_app = app
        await self._chan_event("StasisStart", ch, args=args)
        return cid

    async def caller_hangup(self, cid: str, cause: int = 16) -> None:
        ch = self._chan(cid, need_stasis=False)
        await self._chan_event("ChannelHangupRequest", ch, cause=cause)
        await self._destroy(ch, cause)

    async def press(self, cid: str, digits: str, duration_ms: int = 120) -> None:
        ch = self._chan(cid, need_stasis=False)
        for d in digits:
            await self._chan_event("ChannelDtmfReceived", ch, digit=d, duration_ms=duration_ms)
            if ch.recording and self.recordings[ch.recording].terminate_on in ("any", d):
                await self._finish_recording(ch.recording)

    async def answer(self, cid: str) -> None:
        """An originated channel is answered: it enters the app it was originated into."""
        ch = self._chan(cid, need_stasis=False)
        ch.state = "Up"
        if ch.pending_app is not None:
            app, args = ch.pending_app
            ch.pending_app, ch.stasis_app = None, app
            ch.app_name, ch.app_data = "Stasis", ",".join([app, *args])
            await self._chan_event("StasisStart", ch, args=args)

    def vanish(self) -> None:
        """Asterisk restarted: every channel, bridge, playback and recording is gone, without events."""
        self.channels.clear()
        self.bridges.clear()
        self.playbacks.clear()
        self.recordings.clear()
        self.subscriptions.clear()

    async def finish_playbacks(self) -> None:
        for pid in list(self.playbacks):
            await self._finish_playback(pid)

    # --- internals ---------------------------------------------------------------------------------------

    def _chan(self, cid: str, need_stasis: bool = True) -> AriChannelState:
        ch = self.channels.get(cid)
        if ch is None:
            raise FakeError(404, "Channel not found")
        if need_stasis and ch.stasis_app is None:
            raise FakeError(409, "Channel not in Stasis application")
        return ch

    async def _destroy(self, ch: AriChannelState, cause: int) -> None:
        for pid, pb in list(self.playbacks.items()):
            if pb["target_uri"] == f"channel:{ch.id}":
                await self._finish_playback(pid)
        if ch.recording:
            await self._finish_recording(ch.recording)
        if ch.bridge:
            await self._leave_bridge(ch)
        if ch.stasis_app:
            await self._chan_event("StasisEnd", ch)
        # As Asterisk 22 does: the snoops (and their recordings) end before the target's ChannelDestroyed.
        for snoop in [c for c in self.channels.values() if c.snoop_target == ch.id]:
            await self._destroy(snoop, 16)
        await self._chan_event("ChannelDestroyed", ch, cause=cause, cause_txt="Normal Clearing")
        ch.stasis_app = None
        self.channels.pop(ch.id, None)
        for subs in self.subscriptions.values():
            subs.discard(ch.id)

    async def _leave_bridge(self, ch: AriChannelState) -> None:
        bid = ch.bridge
        assert bid is not None
        self.bridges[bid].remove(ch.id)
        ch.bridge = None
        await self.emit("ChannelLeftBridge", [ch.id, *self.bridges[bid]], bridge=self._bridge_json(bid),
                        channel=ch.json())

    def _bridge_json(self, bid: str) -> dict[str, Any]:
        return {"id": bid, "technology": "simple_bridge", "bridge_type": "mixing", "bridge_class": "stasis",
                "creator": "Stasis", "name": "", "channels": list(self.bridges[bid]), "creationtime": _now()}

    async def _finish_playback(self, pid: str, state: str = "done") -> None:
        pb = self.playbacks.pop(pid, None)
        if pb is not None:
            pb["state"] = state
            await self.emit("PlaybackFinished", [pb["target_uri"].split(":", 1)[1]], playback=pb)

    async def _finish_recording(self, name: str) -> None:
        rec = self.recordings.pop(name, None)
        if rec is None:
            return
        cid = rec.target.split(":", 1)[1]
        if cid in self.channels and self.channels[cid].recording == name:
            self.channels[cid].recording = None
        self._write_wav(self.recording_dir / f"{name}.wav", 440.0 + 220.0 * (len(name) % 3))
        rec.state = "done"
        await self.emit("RecordingFinished", [cid], recording={**rec.json(), "duration": 1})

    def _write_wav(self, path: Path, freq: float) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        n = int(8000 * self.recording_seconds)
        frames = b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / 8000))) for i in range(n))
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(frames)

    # --- operations (named _op_<resource>_<nickname> after the API description) --------------------------

    async def _op_asterisk_getInfo(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        return 200, {"system": {"version": "22.0.0-fake", "entity_id": self.asterisk_id}}

    async def _op_asterisk_ping(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        return 200, {"asterisk_id": self.asterisk_id, "ping": "pong", "timestamp": _now()}

    async def _op_applications_get(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        app = v["applicationName"]
        if app not in self.known_apps:
            raise FakeError(404, "Application not found")
        ids = sorted({c.id for c in self.channels.values() if c.stasis_app == app} |
                     self.subscriptions.get(app, set()))
        return 200, {"name": app, "channel_ids": ids, "bridge_ids": [], "endpoint_ids": [], "device_names": [],
                     "events_allowed": [], "events_disallowed": []}

    async def _op_applications_subscribe(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        app = v["applicationName"]
        if app not in self.known_apps:
            raise FakeError(404, "Application not found")
        for source in q["eventSource"].split(","):
            kind, _, rid = source.partition(":")
            if kind != "channel":
                raise FakeError(400, f"fake ARI subscribes channels only, not {kind!r}")
            if rid not in self.channels:
                raise FakeError(422, "Event source does not exist")
            self.subscriptions.setdefault(app, set()).add(rid)
        return await self._op_applications_get(v, {}, None)

    async def _op_channels_list(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        return 200, [c.json() for c in self.channels.values()]

    async def _op_channels_get(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        return 200, self._chan(v["channelId"], need_stasis=False).json()

    async def _op_channels_originate(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        cid = q.get("channelId") or self._new_id()
        if cid in self.channels:
            raise FakeError(409, "Channel with given unique ID already exists")
        number = q.get("callerId", "").rsplit("<", 1)[-1].rstrip(">") if q.get("callerId") else ""
        ch = AriChannelState(cid, f"{q['endpoint']}-{len(self.channels):08x};1", "Down", {"name": "", "number": number},
                         q.get("context", "default"), q.get("extension", "s"), "AppDial2", "(Outgoing Line)")
        if q.get("app"):
            ch.pending_app = (q["app"], q.get("appArgs", "").split(",") if q.get("appArgs") else [])
        self.channels[cid] = ch
        return 200, ch.json()

    async def _op_channels_hangup(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        ch = self._chan(v["channelId"], need_stasis=False)
        await self._chan_event("ChannelHangupRequest", ch, cause=32, soft=True)
        await self._destroy(ch, 16)
        return 204, None

    async def _op_channels_continueInDialplan(self, v: dict[str, str], q: dict[str, str], b: Any) -> \
            tuple[int, Any]:
        ch = self._chan(v["channelId"])
        await self._chan_event("StasisEnd", ch)
        ch.stasis_app = None
        if q.get("context"):
            ch.context, ch.exten, ch.priority = q["context"], q.get("extension", ch.exten), int(q.get("priority", 1))
        else:
            ch.priority += 1
        ch.app_name, ch.app_data = "Queue", "hotline-fallback"
        self.dialplan.append({"channel": ch.id, "event": "continue", "context": q.get("context"),
                              "extension": q.get("extension"), "priority": q.get("priority"),
                              "vars": dict(ch.vars)})
        return 204, None

    async def _op_channels_answer(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        ch = self._chan(v["channelId"])
        if ch.state != "Up":
            ch.state = "Up"
            await self._chan_event("ChannelStateChange", ch)
        return 204, None

    async def _simple(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        """ring, ringStop, startMoh, stopMoh, sendDTMF: accepted (204) for a channel in Stasis, no events."""
        self._chan(v["channelId"])
        return 204, None

    _op_channels_ring = _op_channels_ringStop = _op_channels_startMoh = _simple
    _op_channels_stopMoh = _op_channels_sendDTMF = _simple

    async def _op_channels_hold(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        await self._chan_event("ChannelHold", self._chan(v["channelId"]))
        return 204, None

    async def _op_channels_unhold(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        await self._chan_event("ChannelUnhold", self._chan(v["channelId"]))
        return 204, None

    async def _op_channels_setChannelVar(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        ch = self._chan(v["channelId"], need_stasis=False)
        ch.vars[q["variable"]] = q.get("value", "")
        return 204, None

    async def _op_channels_getChannelVar(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        ch = self._chan(v["channelId"], need_stasis=False)
        if q["variable"] not in ch.vars:
            raise FakeError(404, "Provided variable was not found")
        return 200, {"value": ch.vars[q["variable"]]}

    async def _op_channels_playWithId(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        ch = self._chan(v["channelId"])
        pid = v["playbackId"]
        media = q["media"].split(",")
        pb = {"id": pid, "media_uri": media[0], "target_uri": f"channel:{ch.id}", "language": "en",
              "state": "playing"}
        self.playbacks[pid] = pb
        await self.emit("PlaybackStarted", [ch.id], playback=dict(pb))
        if not any(m in self.hold_media for m in media):
            failed = any(m.startswith("sound:missing") for m in media)
            self._spawn(self._finish_playback(pid, "failed" if failed else "done"))
        return 201, dict(pb, state="queued")

    async def _op_playbacks_get(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        pb = self.playbacks.get(v["playbackId"])
        if pb is None:
            raise FakeError(404, "Playback not found")
        return 200, pb

    async def _op_playbacks_stop(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        if v["playbackId"] not in self.playbacks:
            raise FakeError(404, "Playback not found")
        self._spawn(self._finish_playback(v["playbackId"]))
        return 204, None

    async def _op_channels_record(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        ch = self._chan(v["channelId"])
        name = q["name"]
        if name in self.recordings:
            raise FakeError(409, "Recording with the same name already in progress")
        if q.get("ifExists", "fail") == "fail" and (self.recording_dir / f"{name}.wav").exists():
            raise FakeError(422, "Recording already exists")
        rec = FakeLiveRecording(name, f"channel:{ch.id}", terminate_on=q.get("terminateOn", "none"))
        self.recordings[name] = rec
        ch.recording = name
        await self.emit("RecordingStarted", [ch.id], recording=rec.json())
        return 201, dict(rec.json(), state="queued")

    async def _op_recordings_getLive(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        rec = self.recordings.get(v["recordingName"])
        if rec is None:
            raise FakeError(404, "Recording not found")
        return 200, rec.json()

    async def _op_recordings_stop(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        if v["recordingName"] not in self.recordings:
            raise FakeError(404, "Recording not found")
        await self._finish_recording(v["recordingName"])
        return 204, None

    async def _op_channels_snoopChannelWithId(self, v: dict[str, str], q: dict[str, str], b: Any) -> \
            tuple[int, Any]:
        target = self._chan(v["channelId"], need_stasis=False)
        sid = v["snoopId"]
        if sid in self.channels:
            raise FakeError(409, "Channel with given unique ID already exists")
        args = q.get("appArgs", "").split(",") if q.get("appArgs") else []
        snoop = AriChannelState(sid, f"Snoop/{target.id}-{len(self.channels):08x}", "Up", {"name": "", "number": ""},
                            "default", "s", "Stasis", ",".join([q["app"], *args]), snoop_target=target.id,
                            stasis_app=q["app"])
        self.channels[sid] = snoop
        await self._chan_event("StasisStart", snoop, args=args)
        return 200, snoop.json()

    async def _op_bridges_list(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        return 200, [self._bridge_json(bid) for bid in self.bridges]

    async def _op_bridges_createWithId(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        if v["bridgeId"] in self.bridges:
            raise FakeError(409, "Bridge with given ID already exists")
        self.bridges[v["bridgeId"]] = []
        return 200, self._bridge_json(v["bridgeId"])

    async def _op_bridges_destroy(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        bid = v["bridgeId"]
        if bid not in self.bridges:
            raise FakeError(404, "Bridge not found")
        for cid in list(self.bridges[bid]):
            await self._leave_bridge(self.channels[cid])
        del self.bridges[bid]
        return 204, None

    async def _op_bridges_addChannel(self, v: dict[str, str], q: dict[str, str], b: Any) -> tuple[int, Any]:
        bid = v["bridgeId"]
        if bid not in self.bridges:
            raise FakeError(404, "Bridge not found")
        chans = [self.channels.get(cid) for cid in q["channel"].split(",")]
        if any(c is None for c in chans):
            raise FakeError(422, "Channel not found")
        if any(c.stasis_app is None for c in chans if c is not None):
            raise FakeError(422, "Channel not in Stasis application")
        for ch in chans:
            assert ch is not None
            if ch.bridge:
                await self._leave_bridge(ch)
            self.bridges[bid].append(ch.id)
            ch.bridge = bid
            await self.emit("ChannelEnteredBridge", [ch.id, *self.bridges[bid]], bridge=self._bridge_json(bid),
                            channel=ch.json())
        return 204, None
