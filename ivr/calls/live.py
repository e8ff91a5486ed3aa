"""What the call service keeps per live call, and the journal that writes each call's timeline in order.

Events arrive synchronously from the websocket and are queued per call; one worker per call drains its queue,
writing whatever accumulated in a single transaction (bursts are common: answer, two recordings starting,
a playback). Writes made by handlers and the service itself go through the same queue, so the timeline's
sequence numbers follow the order things happened in, not the order database round trips completed in.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Coroutine

from ivr.ari.channel import AriChannel
from ivr.calls.notifier import CallNotice, CallNotifier
from ivr.calls.stasis import INBOUND
from ivr.calls.timeline import Timeline
from ivr.channel import RecordingHandle
from ivr.db.models import HangupSide, utcnow

log = logging.getLogger(__name__)
WRITE_BATCH = 50
CLOSE = object()  # the call is over: close the row, finish the recording
DRAIN = object()  # the service stops: write what is queued, leave the call open for the next start

Spawn = Callable[[Coroutine[Any, Any, Any], str], "asyncio.Task[Any]"]


class _Retry(Exception):
    """A write reached the queue after the worker stopped taking them: write it directly."""


@dataclass
class FirstHangup:
    side: HangupSide
    role: str
    cause: int | None
    cause_txt: str


@dataclass(eq=False)
class AgentLeg:
    channel: AriChannel
    call_uid: str
    live: "LiveCall | None"
    task: asyncio.Task[None] | None = None


@dataclass(eq=False)
class LiveCall:
    channel: AriChannel
    args: tuple[str, ...]
    dialed: str
    route: str = INBOUND
    resumed: bool = False
    call_id: int = 0
    uid: str = ""
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    queue: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    worker: asyncio.Task[None] | None = None
    handler_task: asyncio.Task[None] | None = None
    recording_task: asyncio.Task[None] | None = None
    subscription: asyncio.Task[None] | None = None
    subscribed: bool = False  # our app stays subscribed to the channel: its ChannelDestroyed will reach us
    recording: RecordingHandle | None = None
    first_hangup: FirstHangup | None = None
    destroyed_cause: str = ""
    legs: set[str] = field(default_factory=set)
    closing: bool = False
    accepting: bool = True  # the worker still takes timeline writes (in order)
    run_handler: bool = True


class Journal:
    def __init__(self, timeline: Timeline, notifier: CallNotifier, spawn: Spawn) -> None:
        self.timeline = timeline
        self.notifier = notifier
        self._spawn = spawn

    def publish(self, live: LiveCall, kind: str, data: dict[str, Any], at: dt.datetime | None = None,
                seq: int | None = None) -> None:
        self.notifier.publish(CallNotice(kind=kind, call_id=live.call_id, call_uid=live.uid, data=data,
                                         at=at or utcnow(), seq=seq))

    def enqueue(self, live: LiveCall, kind: str, data: dict[str, Any], at: dt.datetime | None) -> None:
        """From the event stream (synchronous): queue a timeline line behind the ones before it."""
        if live.accepting:
            live.queue.put_nowait((kind, data, at or utcnow(), None))
        elif live.call_id:
            self._spawn(self.write(live, kind, data, at), f"late-{kind}")

    async def record(self, live: LiveCall, kind: str, data: dict[str, Any], at: dt.datetime | None = None) -> None:
        """From a task: append in order with the call's events; returns once written (or failed)."""
        await live.opened.wait()
        if not live.call_id:
            return
        if live.accepting:
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            live.queue.put_nowait((kind, data, at or utcnow(), done))
            try:
                await asyncio.shield(done)
                return
            except _Retry:
                pass
        await self.write(live, kind, data, at)

    async def write(self, live: LiveCall, kind: str, data: dict[str, Any], at: dt.datetime | None) -> None:
        """Write now (the worker itself, or after it stopped); a database error is logged, never raised."""
        try:
            seq = await self.timeline.add_event(live.call_id, kind, data, at=at)
        except Exception as exc:  # noqa: BLE001 - losing a timeline line must not lose the call
            log.error("call %s: could not store timeline event %s: %s", live.uid, kind, exc)
            return
        self.publish(live, kind, data, at, seq)

    async def drain(self, live: LiveCall) -> object:
        """The worker loop: write queued lines in batches until CLOSE or DRAIN, which is returned."""
        stop: object = None
        while stop is None:
            batch: list[Any] = []
            job = await live.queue.get()
            while True:
                if job is CLOSE or job is DRAIN:
                    stop = job
                    break
                batch.append(job)
                if live.queue.empty() or len(batch) >= WRITE_BATCH:
                    break
                job = live.queue.get_nowait()
            await self._write_batch(live, batch)
        live.accepting = False
        self.release(live)
        return stop

    async def _write_batch(self, live: LiveCall, jobs: list[Any]) -> None:
        if not jobs:
            return
        seqs: list[int | None]
        try:
            seqs = list(await self.timeline.add_events(live.call_id, [(k, d, w) for k, d, w, _ in jobs]))
        except Exception as exc:  # noqa: BLE001 - losing timeline lines must not lose the call
            log.error("call %s: could not store %d timeline event(s): %s", live.uid, len(jobs), exc)
            seqs = [None] * len(jobs)
        for (kind, data, when, done), seq in zip(jobs, seqs, strict=True):
            if seq is not None:
                self.publish(live, kind, data, when, seq)
            if done is not None and not done.done():
                done.set_result(None)

    def release(self, live: LiveCall) -> None:
        """Writes queued behind CLOSE/DRAIN are done directly (accepting is off now)."""
        while not live.queue.empty():
            job = live.queue.get_nowait()
            if isinstance(job, tuple):
                kind, data, when, done = job
                if done is None:
                    self._spawn(self.write(live, kind, data, when), f"late-{kind}")
                elif not done.done():
                    done.set_exception(_Retry())
