"""Notifier out: call events published to in-process subscribers (the console's websocket fan-out).

`publish` never blocks and never fails: each subscriber has its own bounded queue; when a slow subscriber's
queue is full its oldest notice is dropped and counted (`dropped`), so the console can tell it must reload
from the database instead of the call engine waiting on a browser.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable

from aiohttp import web

from ivr.db.models import utcnow


@dataclass(frozen=True)
class CallNotice:
    kind: str  # a timeline kind ("arrived", "dtmf", "bridged", "hangup", ...) or "call_started"/"call_ended"
    call_id: int
    call_uid: str
    data: dict[str, Any] = field(default_factory=dict)
    at: dt.datetime = field(default_factory=utcnow)
    seq: int | None = None  # the timeline sequence number when the notice mirrors a stored event


class Subscription:
    def __init__(self, notifier: "CallNotifier", maxsize: int, accept: Callable[[CallNotice], bool] | None) -> None:
        self._notifier = notifier
        self._queue: asyncio.Queue[CallNotice | None] = asyncio.Queue(maxsize)
        self._accept = accept
        self.dropped = 0
        self.closed = False

    def _offer(self, notice: CallNotice) -> None:
        if self.closed or (self._accept is not None and not self._accept(notice)):
            return
        while True:
            try:
                self._queue.put_nowait(notice)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()
                self.dropped += 1

    async def get(self) -> CallNotice | None:
        """Next notice; None once the subscription is closed (by the subscriber or the notifier)."""
        if self.closed and self._queue.empty():
            return None
        return await self._queue.get()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._notifier._remove(self)
            try:
                self._queue.put_nowait(None)  # wake a reader blocked in get()
            except asyncio.QueueFull:
                pass

    def __aiter__(self) -> AsyncIterator[CallNotice]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[CallNotice]:
        while True:
            notice = await self.get()
            if notice is None:
                return
            yield notice

    async def __aenter__(self) -> "Subscription":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class CallNotifier:
    def __init__(self, default_maxsize: int = 256) -> None:
        self.default_maxsize = default_maxsize
        self._subs: list[Subscription] = []

    def subscribe(self, *, maxsize: int | None = None,
                  accept: Callable[[CallNotice], bool] | None = None) -> Subscription:
        sub = Subscription(self, maxsize or self.default_maxsize, accept)
        self._subs.append(sub)
        return sub

    def publish(self, notice: CallNotice) -> None:
        for sub in list(self._subs):
            sub._offer(notice)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def _remove(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)

    def close(self) -> None:
        for sub in list(self._subs):
            sub.close()


NOTIFIER: web.AppKey[CallNotifier] = web.AppKey("notifier", CallNotifier)
