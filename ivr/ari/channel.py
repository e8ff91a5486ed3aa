"""`AriChannel`: the Channel interface over ARI (REST out, routed websocket events in).

Every operation that waits for Asterisk (a playback, a recording, digits) waits on the event that ends it *or*
on the channel going away, so a caller hanging up mid-prompt surfaces as `ChannelHungUp` at once instead of a
task stuck on a PlaybackFinished that will never come. REST errors are mapped to the Channel exceptions:
404 -> ChannelHungUp (the channel is gone), anything else -> OperationFailed.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import re
from pathlib import Path
from typing import Any, Awaitable, Sequence, TypeVar

from ivr.ari import events as ev
from ivr.ari.client import (
    AriClient,
    AriConflict,
    AriError,
    AriNotFound,
    AriUnavailable,
    AriUnprocessable,
    new_id,
)
from ivr.ari.media import PathMapper, to_ari_media_list
from ivr.ari.models import Channel as ChannelModel
from ivr.ari.models import LiveRecording, Playback
from ivr.ari.router import EventRouter
from ivr.ari.snoop import SnoopRecorder
from ivr.channel import (
    CallerInfo,
    Channel,
    ChannelHungUp,
    DigitsResult,
    OperationFailed,
    RecordingHandle,
    Unsupported,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

HANGUP_REASONS = ("normal", "busy", "congestion", "no_answer", "timeout", "rejected", "unallocated",
                  "normal_unspecified", "number_incomplete", "codec_mismatch", "interworking", "failure",
                  "answered_elsewhere")
# Guards for events that should always come but might not (Asterisk restarted under us): never wait forever.
STOP_GRACE_SECONDS = 5.0
RECORDING_GRACE_SECONDS = 15.0
# A refused request on a channel the caller just hung up comes back before the hang-up event does: wait this
# long for the event before calling it a failure (a caller hanging up is a normal end, not an error).
HANGUP_GRACE_SECONDS = 1.0
_NAME_RX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,180}$")


def check_recording_name(name: str) -> str:
    if not _NAME_RX.match(name) or ".." in name.split("/"):
        raise ValueError(f"recording name {name!r}: use letters, digits, . _ - / (no '..', not empty)")
    return name


class AriChannel:
    """One channel in our Stasis application. Construct, then `attach()` before the first operation."""

    def __init__(self, ari: AriClient, router: EventRouter, snapshot: ChannelModel, *, app: str,
                 recording_dir: Path, dialed: str = "", asterisk_path: PathMapper | None = None) -> None:
        self.ari = ari
        self.router = router
        self.app = app
        self.recording_dir = Path(recording_dir)
        self.snapshot = snapshot
        self.state = snapshot.state
        self._asterisk_path = asterisk_path or (lambda p: p)
        self._info = CallerInfo(channel_id=snapshot.id, caller_number=snapshot.caller.number,
                                caller_name=snapshot.caller.name, dialed=dialed or snapshot.dialplan.exten,
                                protocol="ari", variables=dict(snapshot.channelvars))
        loop = asyncio.get_running_loop()
        self._gone: asyncio.Future[str] = loop.create_future()  # "hangup" or "left"
        self.hangup_requested = False
        self.destroyed = False
        self.system_hangup = False  # we asked Asterisk to hang up: the call service attributes side=system
        self._leaving = False
        self._dtmf: collections.deque[str] = collections.deque()
        self._dtmf_waiter: asyncio.Future[None] | None = None
        self._playbacks: dict[str, asyncio.Future[Playback]] = {}
        self._rec_done: dict[str, asyncio.Future[LiveRecording]] = {}
        self._uris: set[str] = set()
        self.bridges: set[str] = set()
        self._own_bridges: set[str] = set()
        self.recorder: SnoopRecorder | None = None

    # --- wiring ------------------------------------------------------------------------------------------

    def attach(self) -> None:
        self.listen(f"channel:{self.id}")

    def detach(self) -> None:
        for uri in list(self._uris):
            self.router.unroute(uri, self.feed)
        self._uris.clear()

    def listen(self, uri: str) -> None:
        self._uris.add(uri)
        self.router.route(uri, self.feed)

    # --- Channel protocol: identity ----------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.snapshot.id

    @property
    def info(self) -> CallerInfo:
        return self._info

    @property
    def hung_up(self) -> bool:
        return self.hangup_requested or self.destroyed or (self._gone.done() and self._gone.result() == "hangup")

    @property
    def in_app(self) -> bool:
        return not self._gone.done()

    # --- events in ---------------------------------------------------------------------------------------

    def feed(self, event: ev.Event) -> None:
        """Called synchronously by the router for every event that targets this channel or its helpers."""
        if self.recorder is not None and self.recorder.feed(event):
            return
        if isinstance(event, ev.ChannelDtmfReceived) and event.channel.id == self.id:
            # Type-ahead: every key is kept, also during a prompt that does not stop for keys.
            self._dtmf.append(event.digit)
            if self._dtmf_waiter is not None and not self._dtmf_waiter.done():
                self._dtmf_waiter.set_result(None)
        elif isinstance(event, ev.PlaybackFinished):
            played = self._playbacks.get(event.playback.id)
            if played is not None and not played.done():
                played.set_result(event.playback)
        elif isinstance(event, (ev.RecordingFinished, ev.RecordingFailed)) and \
                event.recording.name in self._rec_done:
            recorded = self._rec_done[event.recording.name]
            if not recorded.done():
                recorded.set_result(event.recording)
        elif isinstance(event, ev.ChannelStateChange) and event.channel.id == self.id:
            self.state = event.channel.state
        elif isinstance(event, ev.ChannelHangupRequest) and event.channel.id == self.id:
            self.hangup_requested = True
            self._end("hangup")
        elif isinstance(event, ev.StasisEnd) and event.channel.id == self.id:
            self._end("left" if self._leaving else "hangup")
        elif isinstance(event, ev.ChannelDestroyed) and event.channel.id == self.id:
            self.destroyed = True
            self._end("hangup")
        elif isinstance(event, ev.ChannelEnteredBridge) and event.channel and event.channel.id == self.id:
            self.bridges.add(event.bridge.id)
        elif isinstance(event, ev.ChannelLeftBridge) and event.channel.id == self.id:
            self.bridges.discard(event.bridge.id)

    def _end(self, how: str) -> None:
        if not self._gone.done():
            self._gone.set_result(how)
        if self._dtmf_waiter is not None and not self._dtmf_waiter.done():
            self._dtmf_waiter.set_result(None)

    def mark_left(self) -> None:
        """Resync found the channel alive but outside our application (e.g. already in the fallback)."""
        self._leaving = True
        self._end("left")

    def mark_vanished(self) -> None:
        """The channel is no longer in Asterisk (seen on resync): fail every wait with ChannelHungUp."""
        self.destroyed = True
        self._end("hangup")
        for name, fut in self._rec_done.items():
            if not fut.done():
                fut.set_result(LiveRecording(name, "wav", f"channel:{self.id}", "done"))
        if self.recorder is not None:
            self.recorder.vanished()

    async def resync(self) -> None:
        """After a websocket reconnect: settle waits whose ending event may have been lost meanwhile."""
        for pid, fut in list(self._playbacks.items()):
            if fut.done():
                continue
            try:
                pb = await self.ari.get_playback(pid)
            except AriNotFound:
                fut.set_result(Playback(pid, "", f"channel:{self.id}", "done"))
                continue
            except (AriError, AriUnavailable):
                continue
            if pb.state in ("done", "failed"):
                fut.set_result(pb)
        for name, recorded in list(self._rec_done.items()):
            if recorded.done():
                continue
            try:
                rec = await self.ari.get_live_recording(name)
            except AriNotFound:
                recorded.set_result(LiveRecording(name, "wav", "", "done"))
                continue
            except (AriError, AriUnavailable):
                continue
            if rec.state in ("done", "failed", "canceled"):
                recorded.set_result(rec)
        if self.recorder is not None:
            await self.recorder.resync()

    # --- plumbing ----------------------------------------------------------------------------------------

    def _gone_error(self) -> Exception:
        if self._gone.done() and self._gone.result() == "left" and not self.hung_up:
            return OperationFailed(f"channel {self.id} has left the application")
        return ChannelHungUp(f"channel {self.id} hung up")

    async def wait_gone(self, timeout: float) -> bool:
        """True once the channel has left (hung up or continued), False if still here after `timeout`."""
        if not self._gone.done():
            await asyncio.wait({self._gone}, timeout=timeout)
        return self._gone.done()

    def check_alive(self) -> None:
        if self._gone.done():
            raise self._gone_error()

    async def rest(self, what: str, coro: Awaitable[T]) -> T:
        try:
            return await coro
        except AriNotFound:
            self.destroyed = True
            self._end("hangup")
            raise ChannelHungUp(f"{what}: channel {self.id} is gone") from None
        except (AriConflict, AriUnprocessable) as exc:
            if await self.wait_gone(HANGUP_GRACE_SECONDS):
                raise self._gone_error() from None
            raise OperationFailed(f"{what}: {exc}") from None
        except AriError as exc:
            raise OperationFailed(f"{what}: {exc}") from None
        except AriUnavailable as exc:
            raise OperationFailed(f"{what}: {exc}") from None

    async def until(self, fut: asyncio.Future[T], timeout: float | None = None) -> T | None:
        """The future's result, None on timeout; ChannelHungUp/OperationFailed once the channel is gone.

        The channel going away wins even when the awaited event came in the same batch: Asterisk ends a
        playback with PlaybackFinished(done) right after the hang-up, and that is not a finished prompt."""
        if not fut.done() and not self._gone.done():
            waits: set[asyncio.Future[Any]] = {fut, self._gone}
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if self._gone.done():
            raise self._gone_error()
        return fut.result() if fut.done() else None

    # --- Channel protocol: operations --------------------------------------------------------------------

    async def answer(self) -> None:
        self.check_alive()
        await self.rest("answer", self.ari.answer(self.id))

    async def play(self, media: Sequence[str], *, interrupt_dtmf: bool = False) -> str | None:
        uris = to_ari_media_list(media, asterisk_path=self._asterisk_path)
        self.check_alive()
        if not uris:
            return None
        if interrupt_dtmf and self._dtmf:
            return self._dtmf[0]  # type-ahead: a key pressed already skips the prompt
        pid = new_id("pb")
        fut: asyncio.Future[Playback] = asyncio.get_running_loop().create_future()
        self._playbacks[pid] = fut
        try:
            await self.rest("play", self.ari.play(self.id, uris, pid))
            if not interrupt_dtmf:
                pb = await self.until(fut)
            else:
                pb = None
                while pb is None and not self._dtmf:
                    self._dtmf_waiter = asyncio.get_running_loop().create_future()
                    waits: set[asyncio.Future[Any]] = {fut, self._dtmf_waiter, self._gone}
                    done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    if fut in done:
                        pb = fut.result()
                    elif self._gone in done:
                        raise self._gone_error()
                if pb is None:  # a key interrupted the prompt
                    await self._stop_playback(pid, fut)
                    return self._dtmf[0]
            if pb is not None and pb.state == "failed":
                if await self.wait_gone(HANGUP_GRACE_SECONDS):
                    raise self._gone_error()
                raise OperationFailed(f"playback of {', '.join(uris)} failed on {self.id}")
            return self._dtmf[0] if interrupt_dtmf and self._dtmf else None
        finally:
            self._playbacks.pop(pid, None)

    async def _stop_playback(self, pid: str, fut: asyncio.Future[Playback]) -> None:
        try:
            await self.ari.stop_playback(pid)
        except AriNotFound:
            return  # finished on its own meanwhile
        except (AriError, AriUnavailable) as exc:
            log.warning("could not stop playback %s on %s: %s", pid, self.id, exc)
            return
        try:
            await self.until(fut, STOP_GRACE_SECONDS)
        except (ChannelHungUp, OperationFailed):
            pass

    async def _next_digit(self, timeout: float) -> str | None:
        if not self._dtmf:
            self.check_alive()
            self._dtmf_waiter = asyncio.get_running_loop().create_future()
            await self.until(self._dtmf_waiter, timeout if timeout > 0 else None)
        if self._dtmf:
            return self._dtmf.popleft()
        self.check_alive()
        return None

    async def collect_digits(self, *, max_digits: int, first_timeout: float, inter_timeout: float = 3.0,
                             terminators: str = "#", prompt: Sequence[str] = ()) -> DigitsResult:
        if max_digits < 1:
            raise ValueError("max_digits must be at least 1")
        if prompt:
            await self.play(prompt, interrupt_dtmf=True)
        digits = ""
        timeout = first_timeout
        while len(digits) < max_digits:
            d = await self._next_digit(timeout)
            if d is None:
                return DigitsResult(digits, timed_out=True)
            if d in terminators:
                return DigitsResult(digits, timed_out=False)
            digits += d
            timeout = inter_timeout
        return DigitsResult(digits, timed_out=False)

    def flush_digits(self) -> str:
        out = "".join(self._dtmf)
        self._dtmf.clear()
        return out

    def rec_path(self, name: str) -> str:
        return str(self.recording_dir / f"{name}.wav")

    async def record(self, name: str, *, max_seconds: float, silence_seconds: float = 3.0,
                     beep: bool = True) -> str:
        check_recording_name(name)
        if max_seconds <= 0:
            raise ValueError("max_seconds must be positive")
        self.check_alive()
        done: asyncio.Future[LiveRecording] = asyncio.get_running_loop().create_future()
        self._rec_done[name] = done
        try:
            await self.rest("record", self.ari.record(
                self.id, name, max_duration=math.ceil(max_seconds),
                max_silence=math.ceil(silence_seconds) if silence_seconds > 0 else 0, beep=beep,
                terminate_on="#"))
            # A hang-up ends the recording (RecordingFinished follows), and a voicemail left just before the
            # hang-up is exactly what we want to keep: wait for the recording, not for the channel.
            try:
                rec = await asyncio.wait_for(asyncio.shield(done), max_seconds + RECORDING_GRACE_SECONDS)
            except asyncio.TimeoutError:
                raise OperationFailed(f"recording {name} on {self.id} did not finish") from None
            if rec.state == "failed":
                raise OperationFailed(f"recording {name} on {self.id} failed: {rec.cause or 'no cause'}")
            return self.rec_path(name)
        finally:
            self._rec_done.pop(name, None)

    async def start_call_recording(self, name: str) -> RecordingHandle:
        """Two snoops on this channel, each recorded (see ivr.ari.snoop); idempotent per channel."""
        check_recording_name(name)
        if self.recorder is None:
            self.check_alive()
            self.recorder = SnoopRecorder(self, name)
            await self.recorder.start()
        return self.recorder.handle

    def adopt_call_recording(self, name: str, snoop_ids: Sequence[str]) -> RecordingHandle:
        """After a restart: take over the snoop recordings found live on resync."""
        self.recorder = SnoopRecorder(self, name)
        self.recorder.adopt(snoop_ids)
        return self.recorder.handle

    @property
    def call_recording(self) -> RecordingHandle | None:
        return self.recorder.handle if self.recorder is not None else None

    async def stop_call_recording(self, handle: RecordingHandle) -> None:
        """Stop both tracks (if still running) and return once both files are complete."""
        if self.recorder is not None:
            await self.recorder.stop()

    async def set_variable(self, name: str, value: str) -> None:
        await self.rest("set variable", self.ari.set_variable(self.id, name, value))

    async def get_variable(self, name: str) -> str | None:
        try:
            return await self.ari.get_variable(self.id, name)
        except AriNotFound:
            # ARI answers 404 for an unset variable as well as for a vanished channel.
            if self.hung_up:
                raise ChannelHungUp(f"channel {self.id} hung up") from None
            return None
        except (AriError, AriUnavailable) as exc:
            raise OperationFailed(f"get variable {name}: {exc}") from None

    async def hold(self) -> None:
        await self.rest("hold", self.ari.request("POST", f"/channels/{self.id}/hold"))

    async def unhold(self) -> None:
        await self.rest("unhold", self.ari.request("DELETE", f"/channels/{self.id}/hold"))

    async def start_moh(self, moh_class: str = "default") -> None:
        await self.rest("moh", self.ari.request("POST", f"/channels/{self.id}/moh", {"mohClass": moh_class}))

    async def stop_moh(self) -> None:
        await self.rest("stop moh", self.ari.request("DELETE", f"/channels/{self.id}/moh"))

    async def ring(self) -> None:
        await self.rest("ring", self.ari.request("POST", f"/channels/{self.id}/ring"))

    async def stop_ring(self) -> None:
        await self.rest("stop ring", self.ari.request("DELETE", f"/channels/{self.id}/ring"))

    async def bridge_with(self, other: Channel) -> str:
        if not isinstance(other, AriChannel):
            raise Unsupported("an ARI channel can only be bridged with another ARI channel")
        self.check_alive()
        other.check_alive()
        bridge_id = new_id("br")
        await self.rest("create bridge", self.ari.create_bridge(bridge_id, name=f"hotline-{self.id}"))
        self._own_bridges.add(bridge_id)
        self.listen(f"bridge:{bridge_id}")
        try:
            await self.ari.add_to_bridge(bridge_id, [self.id, other.id])
        except (AriNotFound, AriUnprocessable, AriConflict) as exc:
            await self._destroy_bridge(bridge_id)
            if other.hung_up or other._gone.done():
                raise ChannelHungUp(f"bridge: the other channel {other.id} is gone") from None
            if self._gone.done():
                raise self._gone_error() from None
            raise OperationFailed(f"bridge {self.id} with {other.id}: {exc}") from None
        except (AriError, AriUnavailable) as exc:
            await self._destroy_bridge(bridge_id)
            raise OperationFailed(f"bridge {self.id} with {other.id}: {exc}") from None
        return bridge_id

    async def _destroy_bridge(self, bridge_id: str) -> None:
        self._own_bridges.discard(bridge_id)
        try:
            await self.ari.destroy_bridge(bridge_id)
        except (AriError, AriUnavailable):
            pass

    async def transfer(self, context: str, extension: str, priority: int = 1) -> None:
        await self.continue_in_dialplan(context, extension, priority)

    async def continue_in_dialplan(self, context: str | None = None, extension: str | None = None,
                                   priority: int | None = None) -> None:
        self.check_alive()
        self._leaving = True
        try:
            await self.rest("continue", self.ari.continue_in_dialplan(self.id, context, extension, priority))
        except OperationFailed:
            self._leaving = False
            raise

    async def hangup(self, cause: str = "normal") -> None:
        if cause not in HANGUP_REASONS:
            raise ValueError(f"hangup cause {cause!r} is not one of {', '.join(HANGUP_REASONS)}")
        if self.destroyed:
            return
        self.system_hangup = True
        try:
            await self.ari.hangup(self.id, cause)
        except AriNotFound:
            self.destroyed = True
            self._end("hangup")
        except (AriError, AriUnavailable) as exc:
            raise OperationFailed(f"hangup {self.id}: {exc}") from None

    async def close(self) -> None:
        """Forget this channel: destroy the bridges we created, stop routing its events."""
        for bridge_id in list(self._own_bridges):
            await self._destroy_bridge(bridge_id)
        self.detach()
        for table in (self._playbacks, self._rec_done):
            for fut in table.values():
                if not fut.done():
                    fut.cancel()
        if self.recorder is not None:
            self.recorder.cancel()
