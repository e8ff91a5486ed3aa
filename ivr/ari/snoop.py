"""Two-track call recording over ARI: one snoop per direction on the caller's channel, each recorded.

spy=in is what the caller says (the caller track); spy=out is what the caller hears, i.e. the agent and our
prompts (the agent track). Snoops give continuous audio even when the channel itself carries no frames, and
they keep recording after the caller leaves our application for the dialplan fallback; they end with the
caller's channel. The mix is made afterwards by the recording service (recordings.store).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Sequence

from ivr.ari import events as ev
from ivr.ari.client import AriError, AriNotFound, AriUnavailable, new_id
from ivr.ari.models import LiveRecording
from ivr.channel import Direction, OperationFailed, RecordingHandle

if TYPE_CHECKING:
    from ivr.ari.channel import AriChannel

log = logging.getLogger(__name__)
TRACK_SPY = {Direction.CALLER: "in", Direction.AGENT: "out"}
START_GRACE_SECONDS = 10.0
FINISH_GRACE_SECONDS = 15.0


class SnoopRecorder:
    def __init__(self, channel: "AriChannel", name: str) -> None:
        self.channel = channel
        self.name = name
        self.tracks = {d: f"{name}-{d.value}" for d in TRACK_SPY}  # direction -> live recording name
        self.snoop_ids: list[str] = []
        self._ready: dict[str, asyncio.Future[bool]] = {}
        self._started: dict[str, asyncio.Future[LiveRecording]] = {}
        self._done: dict[str, asyncio.Future[LiveRecording]] = {}
        self.handle = RecordingHandle(name=name, paths={
            d: channel.rec_path(f"{name}-{d.value}") for d in (*TRACK_SPY, Direction.MIXED)})

    def feed(self, event: ev.Event) -> bool:
        """Take the events that belong to the snoops; True when consumed."""
        if isinstance(event, ev.StasisStart) and event.channel.id in self._ready:
            if not self._ready[event.channel.id].done():
                self._ready[event.channel.id].set_result(True)
            return True
        if isinstance(event, (ev.RecordingStarted, ev.RecordingFinished, ev.RecordingFailed)) and \
                event.recording.name in self._done:
            name = event.recording.name
            if not self._started[name].done():
                self._started[name].set_result(event.recording)
            if not isinstance(event, ev.RecordingStarted) and not self._done[name].done():
                self._done[name].set_result(event.recording)
            return True
        return False

    def _track(self, name: str) -> None:
        loop = asyncio.get_running_loop()
        self._started[name] = loop.create_future()
        self._done[name] = loop.create_future()

    async def start(self) -> None:
        ch = self.channel
        loop = asyncio.get_running_loop()
        snoops = {d: new_id("snoop") for d in TRACK_SPY}
        for snoop_id in snoops.values():
            self._ready[snoop_id] = loop.create_future()
            ch.listen(f"channel:{snoop_id}")
        for name in self.tracks.values():
            self._track(name)
        for direction, spy in TRACK_SPY.items():
            await ch.rest("snoop", ch.ari.snoop(ch.id, snoops[direction], spy=spy, app=ch.app,
                                                app_args=f"snoop,{ch.id},{direction.value}"))
            self.snoop_ids.append(snoops[direction])
        for direction, snoop_id in snoops.items():
            if await ch.until(self._ready[snoop_id], START_GRACE_SECONDS) is None:
                raise OperationFailed(f"snoop channel {snoop_id} never entered the application")
            name = self.tracks[direction]
            try:
                await ch.ari.record(snoop_id, name, if_exists="overwrite")
            except AriNotFound:
                # A snoop disappears with its target: the caller's hang-up event is usually just behind.
                await ch.wait_gone(1.0)
                ch.check_alive()
                raise OperationFailed(f"snoop {snoop_id} vanished before recording {name}") from None
            except AriError as exc:
                raise OperationFailed(f"recording {name} on snoop {snoop_id}: {exc}") from None
            except AriUnavailable as exc:
                raise OperationFailed(str(exc)) from None
        for name in self.tracks.values():
            started = await ch.until(self._started[name], START_GRACE_SECONDS)
            if started is None or started.state == "failed":
                raise OperationFailed(f"recording {name} did not start")

    def adopt(self, snoop_ids: Sequence[str]) -> None:
        for snoop_id in snoop_ids:
            self.channel.listen(f"channel:{snoop_id}")
            self.snoop_ids.append(snoop_id)
        for name in self.tracks.values():
            self._track(name)

    async def stop(self) -> None:
        """Stop both tracks if still running; return once both are complete (files closed)."""
        ari = self.channel.ari
        for name, fut in self._done.items():
            if fut.done():
                continue
            try:
                await ari.stop_recording(name)
            except AriNotFound:
                pass  # already finished: its snoop ended with the caller's channel
            except (AriError, AriUnavailable) as exc:
                log.warning("stopping recording %s: %s", name, exc)
        for name, fut in self._done.items():
            if fut.done():
                continue
            await self._settle(name, fut)
            try:
                await asyncio.wait_for(asyncio.shield(fut), FINISH_GRACE_SECONDS)
            except asyncio.TimeoutError:
                log.warning("recording %s: no RecordingFinished; using the file as it is", name)
        for snoop_id in self.snoop_ids:
            try:
                await ari.hangup(snoop_id)
            except AriNotFound:
                pass
            except (AriError, AriUnavailable) as exc:
                log.warning("hanging up snoop %s: %s", snoop_id, exc)
        self.snoop_ids.clear()

    async def _settle(self, name: str, fut: asyncio.Future[LiveRecording]) -> None:
        """Ask Asterisk whether a recording whose end we may have missed is over."""
        try:
            rec = await self.channel.ari.get_live_recording(name)
        except AriNotFound:
            if not fut.done():
                fut.set_result(LiveRecording(name, "wav", "", "done"))
            return
        except (AriError, AriUnavailable):
            return
        if rec.state in ("done", "failed", "canceled") and not fut.done():
            fut.set_result(rec)

    async def resync(self) -> None:
        for name, fut in self._done.items():
            if not fut.done():
                await self._settle(name, fut)

    def vanished(self) -> None:
        for name, fut in self._done.items():
            if not fut.done():
                fut.set_result(LiveRecording(name, "wav", "", "done"))

    def cancel(self) -> None:
        for table in (self._ready, self._started, self._done):
            for fut in table.values():
                if not fut.done():
                    fut.cancel()
