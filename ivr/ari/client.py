"""ARI REST over one aiohttp ClientSession; every request is validated against the API description first.

Errors come back typed: a 404 is `AriNotFound`, a 409 `AriConflict`, ..., and an unreachable Asterisk is
`AriUnavailable` with one readable line (URL and reason), never an aiohttp traceback in the logs.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import uuid
from typing import Any, Mapping
from urllib.parse import quote

import aiohttp

from ivr.ari.models import Bridge, Channel, LiveRecording, Playback
from ivr.ari.spec import ApiSpec, Operation

log = logging.getLogger(__name__)


class AriError(Exception):
    """Asterisk answered with an error status; `status`, `operation` and Asterisk's own message are kept."""

    def __init__(self, status: int, method: str, path: str, message: str, operation: str = "") -> None:
        self.status = status
        self.method = method
        self.path = path
        self.message = message
        self.operation = operation
        super().__init__(f"ARI {method} {path} -> {status}: {message or 'no message'}")


class AriBadRequest(AriError):
    """400: invalid parameters (should not happen: requests are validated before sending)."""


class AriUnauthorized(AriError):
    """401/403: wrong ARI user or password, or a read-only user."""


class AriNotFound(AriError):
    """404: the channel, bridge, playback or recording does not exist (any more)."""


class AriConflict(AriError):
    """409: e.g. the channel is not in a Stasis application, or the recording name is taken."""


class AriInvalidState(AriError):
    """412: the channel is in a state that does not allow the operation."""


class AriUnprocessable(AriError):
    """422: a referenced resource (e.g. a channel to add to a bridge) is missing."""


class AriServerError(AriError):
    """5xx: Asterisk failed internally."""


class AriUnavailable(Exception):
    """Asterisk cannot be reached at all (connection refused, timeout, reset)."""


_BY_STATUS: dict[int, type[AriError]] = {400: AriBadRequest, 401: AriUnauthorized, 403: AriUnauthorized,
                                         404: AriNotFound, 409: AriConflict, 412: AriInvalidState,
                                         422: AriUnprocessable}


def new_id(prefix: str) -> str:
    """An id we choose for a resource before creating it (playback, snoop, bridge), so the events that
    follow can be routed before the REST answer arrives."""
    return f"{prefix}-{uuid.uuid4().hex[:20]}"


def basic_auth_header(user: str, password: str) -> str:
    # aiohttp 3.14 deprecates BasicAuth/auth=; ARI only needs the plain header.
    token = base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii")
    return f"Basic {token}"


def error_for(status: int, method: str, path: str, message: str, operation: str = "") -> AriError:
    cls = _BY_STATUS.get(status) or (AriServerError if status >= 500 else AriError)
    return cls(status, method, path, message, operation)


class AriClient:
    """REST side of ARI. `base_url` is the server root (http://host:8088); paths are relative to /ari."""

    def __init__(self, base_url: str, user: str, password: str, *, spec: ApiSpec | None = None,
                 timeout: float = 10.0, max_connections: int = 32) -> None:
        self.base_url = base_url.rstrip("/")
        self.ari_url = self.base_url + "/ari"
        self.spec = spec or ApiSpec.load()
        self.auth_header = basic_auth_header(user, password)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    @property
    def events_url(self) -> str:
        scheme = "wss" if self.base_url.startswith("https://") else "ws"
        return f"{scheme}://{self.base_url.split('://', 1)[1]}/ari/events"

    async def start(self) -> None:
        if self._session is None:
            # Asterisk's HTTP server serves at most `sessionlimit` (default 100) connections, the events
            # websocket included, and drops idle keep-alive connections after 15 s: stay well below both,
            # or a burst of calls gets "Server disconnected" instead of answers.
            connector = aiohttp.TCPConnector(limit=self.max_connections, keepalive_timeout=5.0)
            self._session = aiohttp.ClientSession(headers={"Authorization": self.auth_header},
                                                  timeout=self._timeout, connector=connector)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> "AriClient":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the one request path ----------------------------------------------------------------------------

    async def request(self, method: str, path: str, params: Mapping[str, Any] | None = None,
                      body: Mapping[str, Any] | None = None) -> Any:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        op: Operation = self.spec.validate(method, path, params, body)
        if self._session is None:
            raise RuntimeError("AriClient.start() was not called")
        url = self.ari_url + quote(path, safe="/:@,;=+-._~")
        try:
            async with self._session.request(method, url, params=self.spec.encode_params(params),
                                             json=body) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError, OSError) as exc:
            raise AriUnavailable(f"ARI {method} {path}: Asterisk unreachable at {self.base_url} "
                                 f"({exc.__class__.__name__}: {exc or 'timeout'})") from None
        if status >= 400:
            message = text
            try:
                decoded = json.loads(text)
                if isinstance(decoded, dict) and "message" in decoded:
                    message = str(decoded["message"])
            except ValueError:
                pass
            raise error_for(status, method.upper(), path, message.strip(), op.nickname)
        if not text:
            return None
        try:
            return json.loads(text)
        except ValueError:
            return text

    # --- typed helpers for what the call engine uses -----------------------------------------------------

    async def list_channels(self) -> list[Channel]:
        return [Channel.from_json(c) for c in await self.request("GET", "/channels") or []]

    async def get_channel(self, channel_id: str) -> Channel:
        return Channel.from_json(await self.request("GET", f"/channels/{channel_id}"))

    async def list_bridges(self) -> list[Bridge]:
        return [Bridge.from_json(b) for b in await self.request("GET", "/bridges") or []]

    async def get_application(self, app: str) -> dict[str, Any]:
        result = await self.request("GET", f"/applications/{app}")
        return result if isinstance(result, dict) else {}

    async def subscribe(self, app: str, event_source: str) -> None:
        await self.request("POST", f"/applications/{app}/subscription", {"eventSource": event_source})

    async def originate(self, endpoint: str, *, app: str | None = None, app_args: str | None = None,
                        channel_id: str | None = None, caller_id: str | None = None,
                        context: str | None = None, extension: str | None = None, priority: int | None = None,
                        timeout: int | None = None, variables: Mapping[str, str] | None = None) -> Channel:
        params = {"endpoint": endpoint, "app": app, "appArgs": app_args, "channelId": channel_id,
                  "callerId": caller_id, "context": context, "extension": extension, "priority": priority,
                  "timeout": timeout}
        body = {"variables": dict(variables)} if variables else None
        return Channel.from_json(await self.request("POST", "/channels", params, body))

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        await self.request("DELETE", f"/channels/{channel_id}", {"reason": reason})

    async def continue_in_dialplan(self, channel_id: str, context: str | None = None,
                                   extension: str | None = None, priority: int | None = None,
                                   label: str | None = None) -> None:
        await self.request("POST", f"/channels/{channel_id}/continue",
                           {"context": context, "extension": extension, "priority": priority, "label": label})

    async def play(self, channel_id: str, media: list[str], playback_id: str, lang: str | None = None) -> Playback:
        return Playback.from_json(await self.request(
            "POST", f"/channels/{channel_id}/play/{playback_id}", {"media": media, "lang": lang}))

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{playback_id}")

    async def get_playback(self, playback_id: str) -> Playback:
        return Playback.from_json(await self.request("GET", f"/playbacks/{playback_id}"))

    async def record(self, channel_id: str, name: str, *, fmt: str = "wav", max_duration: int = 0,
                     max_silence: int = 0, if_exists: str = "overwrite", beep: bool = False,
                     terminate_on: str = "none") -> LiveRecording:
        return LiveRecording.from_json(await self.request("POST", f"/channels/{channel_id}/record", {
            "name": name, "format": fmt, "maxDurationSeconds": max_duration, "maxSilenceSeconds": max_silence,
            "ifExists": if_exists, "beep": beep, "terminateOn": terminate_on}))

    async def record_bridge(self, bridge_id: str, name: str, *, fmt: str = "wav",
                            if_exists: str = "overwrite") -> LiveRecording:
        return LiveRecording.from_json(await self.request("POST", f"/bridges/{bridge_id}/record", {
            "name": name, "format": fmt, "ifExists": if_exists}))

    async def stop_recording(self, name: str) -> None:
        await self.request("POST", f"/recordings/live/{name}/stop")

    async def get_live_recording(self, name: str) -> LiveRecording:
        return LiveRecording.from_json(await self.request("GET", f"/recordings/live/{name}"))

    async def snoop(self, channel_id: str, snoop_id: str, *, spy: str, app: str, app_args: str) -> Channel:
        return Channel.from_json(await self.request("POST", f"/channels/{channel_id}/snoop/{snoop_id}", {
            "spy": spy, "whisper": "none", "app": app, "appArgs": app_args}))

    async def set_variable(self, channel_id: str, name: str, value: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/variable", {"variable": name, "value": value})

    async def get_variable(self, channel_id: str, name: str) -> str:
        result = await self.request("GET", f"/channels/{channel_id}/variable", {"variable": name})
        return str((result or {}).get("value", ""))

    async def send_dtmf(self, channel_id: str, dtmf: str, *, between: int | None = None,
                        duration: int | None = None) -> None:
        await self.request("POST", f"/channels/{channel_id}/dtmf",
                           {"dtmf": dtmf, "between": between, "duration": duration})

    async def create_bridge(self, bridge_id: str, *, bridge_type: str = "mixing", name: str = "") -> Bridge:
        return Bridge.from_json(await self.request("POST", f"/bridges/{bridge_id}",
                                                   {"type": bridge_type, "name": name or None}))

    async def add_to_bridge(self, bridge_id: str, channels: list[str]) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/addChannel", {"channel": channels})

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{bridge_id}")
