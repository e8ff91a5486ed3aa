"""Synchronous fan-out of ARI events: to global sinks (the call service) and to per-resource routes.

Routes are keyed by resource URI ("channel:<id>", "bridge:<id>"), the same strings ARI puts in a playback's or
recording's target_uri, so one lookup per target finds the AriChannel waiting for an event. Delivery never
awaits: the websocket reader stays fast, and a sink that raises is logged and skipped, never fatal.
"""

from __future__ import annotations

import logging
from typing import Callable

from ivr.ari.events import Event

log = logging.getLogger(__name__)

Sink = Callable[[Event], None]


class EventRouter:
    def __init__(self) -> None:
        self._global: list[Sink] = []
        self._routes: dict[str, list[Sink]] = {}

    def add_sink(self, sink: Sink) -> None:
        self._global.append(sink)

    def remove_sink(self, sink: Sink) -> None:
        if sink in self._global:
            self._global.remove(sink)

    def route(self, uri: str, sink: Sink) -> None:
        sinks = self._routes.setdefault(uri, [])
        if sink not in sinks:
            sinks.append(sink)

    def unroute(self, uri: str, sink: Sink) -> None:
        sinks = self._routes.get(uri)
        if sinks and sink in sinks:
            sinks.remove(sink)
            if not sinks:
                del self._routes[uri]

    def routed(self, uri: str) -> bool:
        return uri in self._routes

    def deliver(self, event: Event) -> None:
        # Resource routes first: an AriChannel must see its StasisEnd before the call service reacts to it.
        seen: list[Sink] = []
        for uri in event.targets:
            for sink in list(self._routes.get(uri, ())):
                if sink not in seen:
                    seen.append(sink)
        for sink in seen + list(self._global):
            try:
                sink(event)
            except Exception:  # noqa: BLE001 - one broken consumer must not stop event delivery
                log.exception("event sink %r failed on %s", sink, event.type)
