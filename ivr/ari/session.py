"""The ARI event stream: one websocket, reconnected with capped exponential backoff, resynced on every connect.

Each (re)connection registers our application (ws .../ari/events?app=<app>&subscribeAll=false) and then runs
`on_connected` (the call service's resync: GET /channels, /bridges, reconcile with the database) *while*
events keep flowing, so nothing that happens during the resync is lost. Events are parsed (never raising) and
handed synchronously to the router; an Asterisk that is down or restarting produces one warning line per
attempt, never a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable
from urllib.parse import urlencode

from sqlalchemy.exc import DBAPIError, OperationalError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from ivr.ari.client import AriClient, AriError, AriUnavailable
from ivr.ari.events import Event, UnknownEvent, parse_event
from ivr.ari.router import EventRouter
from ivr.db import DatabaseUnavailable

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
OnConnected = Callable[[], Awaitable[None]]


class Backoff:
    """initial, 2x, 4x, ... capped at `cap`; reset after a connection that worked."""

    def __init__(self, initial: float = 0.5, cap: float = 10.0, factor: float = 2.0) -> None:
        if initial <= 0 or cap <= 0 or factor < 1:
            raise ValueError("backoff needs initial > 0, cap > 0, factor >= 1")
        self.initial = min(initial, cap)
        self.cap = cap
        self.factor = factor
        self.attempt = 0

    def next(self) -> float:
        delay = min(self.cap, self.initial * (self.factor ** self.attempt))
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0


class AriSession:
    def __init__(self, client: AriClient, app: str, *, router: EventRouter | None = None,
                 reconnect_max_seconds: float = 10.0, on_connected: OnConnected | None = None,
                 sleep: Sleep = asyncio.sleep, backoff: Backoff | None = None) -> None:
        self.client = client
        self.app = app
        self.router = router or EventRouter()
        self.on_connected = on_connected
        self.backoff = backoff or Backoff(cap=reconnect_max_seconds)
        self._sleep = sleep
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._resync_task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.connections = 0  # successful connects so far; tests and metrics read it
        self.last_error = ""
        self.resynced = asyncio.Event()

    @property
    def url(self) -> str:
        params = {"app": self.app, "subscribeAll": False}
        self.client.spec.validate("GET", "/events", params)
        return f"{self.client.events_url}?{urlencode(self.client.spec.encode_params(params))}"

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"ari-session-{self.app}")

    async def stop(self) -> None:
        task, self._task = self._task, None
        for t in (self._resync_task, task):
            if t is not None and not t.done():
                t.cancel()
        for t in (self._resync_task, task):
            if t is not None:
                try:
                    await t
                except asyncio.CancelledError:
                    pass
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        self.connected.clear()

    async def drop(self) -> None:
        """Close the current websocket (tests, operator command): the session reconnects by itself."""
        if self._ws is not None:
            await self._ws.close()

    async def wait_connected(self) -> None:
        await self.connected.wait()

    async def _run(self) -> None:
        url = self.url
        while True:
            try:
                async with connect(url, additional_headers={"Authorization": self.client.auth_header},
                                   open_timeout=10, ping_interval=20, ping_timeout=20, close_timeout=5,
                                   max_size=16 * 1024 * 1024, proxy=None) as ws:
                    self._ws = ws
                    self.connections += 1
                    self.backoff.reset()
                    self.last_error = ""
                    log.info("ARI events connected: %s (app %s, connection %d)", self.client.base_url, self.app,
                             self.connections)
                    self.connected.set()
                    self._start_resync()
                    await self._read(ws)
                reason = "websocket closed by Asterisk"
            except asyncio.CancelledError:
                raise
            except InvalidStatus as exc:
                status = exc.response.status_code
                reason = (f"ARI refused the credentials (HTTP {status}); check asterisk.ari_user/ari_password"
                          if status in (401, 403) else f"HTTP {status} on the events websocket")
            except ConnectionClosed as exc:
                reason = f"websocket closed ({exc.rcvd.code if exc.rcvd else 'no close frame'})"
            except (OSError, asyncio.TimeoutError, InvalidHandshake, InvalidURI) as exc:
                reason = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
            finally:
                self._ws = None
                self.connected.clear()
                self.resynced.clear()
                if self._resync_task is not None and not self._resync_task.done():
                    self._resync_task.cancel()
            delay = self.backoff.next()
            self.last_error = reason
            log.warning("Asterisk ARI unreachable at %s (%s); retrying in %.1f s", self.client.base_url, reason,
                        delay)
            await self._sleep(delay)

    def _start_resync(self) -> None:
        if self.on_connected is None:
            self.resynced.set()
            return
        self._resync_task = asyncio.create_task(self._resync(), name=f"ari-resync-{self.app}")

    async def _resync(self) -> None:
        assert self.on_connected is not None
        delay = self.backoff.initial
        while True:
            try:
                await self.on_connected()
                self.resynced.set()
                return
            except asyncio.CancelledError:
                raise
            except (AriError, AriUnavailable, OSError, DBAPIError, OperationalError, DatabaseUnavailable) as exc:
                # Expected outages (Asterisk or the database away): one line, not a traceback.
                log.error("ARI resync failed (%s: %s); live calls keep running, retrying in %.1f s",
                          exc.__class__.__name__, str(exc).splitlines()[0] if str(exc) else "", delay)
            except Exception:  # noqa: BLE001 - a bug in resync must not end the event stream
                log.exception("ARI resync failed; live calls keep running, retrying in %.1f s", delay)
            await asyncio.sleep(delay)
            delay = min(self.backoff.cap, delay * 2)

    async def _read(self, ws: ClientConnection) -> None:
        async for message in ws:
            event = parse_event(message)
            if isinstance(event, UnknownEvent) and event.error:
                log.warning("ARI event not understood (%s): %.300s", event.error, event.data)
            elif isinstance(event, UnknownEvent):
                log.debug("ARI event %s not modelled; ignored", event.type)
            self.dispatch(event)

    def dispatch(self, event: Event) -> None:
        self.router.deliver(event)

