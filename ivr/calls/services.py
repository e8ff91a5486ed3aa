"""CallService: the life of every call that reaches our Stasis application.

- A row and its first timeline event are written the moment StasisStart arrives, before any handler runs.
- Each call has one worker task that writes its timeline in event order; event delivery itself never waits.
- Who hung up first is decided synchronously as events arrive (the websocket keeps their order): the caller's
  channel -> side=caller; an agent leg bridged with the caller -> side=agent; a hang-up we asked for ->
  side=system. The cause comes from ChannelHangupRequest (Q.850 code) or ChannelDestroyed (cause_txt).
- A handler that raises sends the call to the dialplan fallback. Stopping the service hands every call still
  in our IVR to the fallback too; calls bridged with an agent are left talking and re-adopted on restart.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from ivr.ari import events as ev
from ivr.ari.channel import AriChannel
from ivr.ari.client import AriClient, AriError, AriUnavailable
from ivr.ari.media import PathMapper
from ivr.ari.models import Channel as ChannelModel
from ivr.ari.router import EventRouter
from ivr.calls.fallback import FallbackResult, FallbackTarget, continue_to_fallback
from ivr.calls.handler import AgentLegContext, AgentLegHandler, CallContext, CallHandler
from ivr.calls.live import CLOSE, DRAIN, AgentLeg, FirstHangup, Journal, LiveCall
from ivr.calls.notifier import CallNotifier
from ivr.calls.ports import RecordingSink
from ivr.calls.stasis import INBOUND, describe
from ivr.calls.timeline import Timeline
from ivr.channel import ChannelError, ChannelHungUp
from ivr.db.models import HangupSide

log = logging.getLogger(__name__)
HANDLER_GRACE_SECONDS = 30.0  # after the hang-up, a handler may finish its paperwork this long
STOP_GRACE_SECONDS = 5.0  # stopping: time for the call workers to write what they have queued


class CallService:
    def __init__(self, *, ari: AriClient, router: EventRouter, timeline: Timeline, notifier: CallNotifier,
                 app: str, recording_dir: Path, recordings: RecordingSink | None = None,
                 handler: CallHandler | None = None, agent_handler: AgentLegHandler | None = None,
                 resume_handler: CallHandler | None = None, fallback: FallbackTarget = FallbackTarget(),
                 asterisk_path: PathMapper | None = None,
                 record_calls: bool = True) -> None:
        self.ari = ari
        self.router = router
        self.timeline = timeline
        self.notifier = notifier
        self.app = app
        self.recording_dir = Path(recording_dir)
        self.recordings = recordings
        self.handler = handler
        self.agent_handler = agent_handler
        self.resume_handler = resume_handler
        self.fallback_target = fallback
        self.asterisk_path = asterisk_path
        self.record_calls = record_calls and recordings is not None
        self.calls: dict[str, LiveCall] = {}  # caller channel id -> call
        self.by_uid: dict[str, LiveCall] = {}
        self.legs: dict[str, AgentLeg] = {}  # agent leg channel id -> leg
        self.snoops: dict[str, LiveCall] = {}  # snoop channel id -> the call it records
        self._tasks: set[asyncio.Task[Any]] = set()
        self.journal = Journal(timeline, notifier, self._spawn)
        self.stopping = False

    # --- helpers -----------------------------------------------------------------------------------------

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def new_channel(self, snapshot: ChannelModel, dialed: str = "") -> AriChannel:
        channel = AriChannel(self.ari, self.router, snapshot, app=self.app, recording_dir=self.recording_dir,
                             dialed=dialed, asterisk_path=self.asterisk_path)
        channel.attach()
        return channel

    def live_call(self, call_uid: str) -> LiveCall | None:
        return self.by_uid.get(call_uid)

    # --- events in (synchronous: called by the router in websocket order) --------------------------------

    def on_inbound(self, event: ev.StasisStart, *, resumed: bool = False) -> LiveCall | None:
        snap = event.channel
        if snap.id in self.calls:
            return None  # a resync and the event raced: one call, one row
        route = event.args[0] if event.args else ""
        dialed = event.args[1] if len(event.args) > 1 else snap.dialplan.exten
        channel = self.new_channel(snap, dialed)
        live = LiveCall(channel=channel, args=event.args[1:], dialed=dialed, route=route, resumed=resumed)
        self.calls[snap.id] = live
        live.worker = self._spawn(self._guarded_worker(live, event.timestamp), f"call-{snap.id}")
        return live

    def on_snoop(self, event: ev.StasisStart) -> None:
        target = event.args[1] if len(event.args) > 1 else ""
        live = self.calls.get(target)
        if live is not None:
            self.snoops[event.channel.id] = live
        else:
            log.warning("snoop %s for unknown channel %s: hanging it up", event.channel.id, target)
            self._spawn(self._hangup_quietly(event.channel.id), f"snoop-{event.channel.id}")

    def on_agent_leg(self, event: ev.StasisStart, *, resumed: bool = False) -> AgentLeg | None:
        snap = event.channel
        if snap.id in self.legs:
            return None
        call_uid = event.args[1] if len(event.args) > 1 else ""
        live = self.by_uid.get(call_uid)
        leg = AgentLeg(self.new_channel(snap), call_uid, live)
        self.legs[snap.id] = leg
        if live is not None:
            live.legs.add(snap.id)
            self.journal.enqueue(live, "agent_leg", {"channel": snap.id, "name": snap.name}, event.timestamp)
        leg.task = self._spawn(self._run_agent_leg(leg, event.args[2:], resumed), f"agent-leg-{snap.id}")
        return leg

    def on_event(self, event: ev.Event) -> None:
        for uri in event.targets:
            if not uri.startswith("channel:"):
                continue
            cid = uri[len("channel:"):]
            if cid in self.calls:
                self._on_call_event(self.calls[cid], "caller", event)
            elif cid in self.legs:
                self._on_leg_event(self.legs[cid], event)
            elif cid in self.snoops:
                self._on_call_event(self.snoops[cid], "snoop", event)

    def _on_call_event(self, live: LiveCall, role: str, event: ev.Event) -> None:
        if role == "caller":
            if isinstance(event, ev.ChannelHangupRequest) and live.first_hangup is None:
                system = live.channel.system_hangup or bool(event.soft)
                live.first_hangup = FirstHangup(HangupSide.SYSTEM if system else HangupSide.CALLER, "caller",
                                                event.cause, event.cause_txt)
            elif isinstance(event, ev.ChannelStateChange) and event.channel.state == "Up":
                self._start_recording(live)
        entry = describe(event, role)
        if entry is not None:
            self.journal.enqueue(live, entry[0], entry[1], event.timestamp)
        if role == "caller":
            if isinstance(event, ev.ChannelDestroyed):
                live.destroyed_cause = event.cause_txt
                self._close(live)
            elif isinstance(event, ev.StasisEnd) and live.first_hangup is not None and not live.subscribed:
                # Not (yet) subscribed: ChannelDestroyed may never reach us; close once that is certain.
                self._spawn(self._close_unless_subscribed(live), f"close-{live.channel.id}")
        elif role == "snoop" and isinstance(event, ev.ChannelDestroyed):
            self.snoops.pop(event.channel.id, None)

    def _on_leg_event(self, leg: AgentLeg, event: ev.Event) -> None:
        if leg.live is None and leg.call_uid in self.by_uid:
            leg.live = self.by_uid[leg.call_uid]  # the leg came before its call's row (resync)
            leg.live.legs.add(leg.channel.id)
        live = leg.live
        if live is not None:
            if isinstance(event, ev.ChannelHangupRequest) and live.first_hangup is None \
                    and leg.channel.bridges & live.channel.bridges and not live.channel.hung_up:
                # Only an agent talking to the caller can be "the side that hung up"; a ringing leg that
                # rejects or times out is an offer result for the ACD.
                side = HangupSide.SYSTEM if leg.channel.system_hangup else HangupSide.AGENT
                live.first_hangup = FirstHangup(side, "agent", event.cause, event.cause_txt)
            entry = describe(event, "agent")
            if entry is not None and not live.closing:
                self.journal.enqueue(live, entry[0], entry[1], event.timestamp)
        if isinstance(event, ev.ChannelDestroyed):
            self.legs.pop(leg.channel.id, None)
            if live is not None:
                live.legs.discard(leg.channel.id)
            self._spawn(leg.channel.close(), f"leg-close-{leg.channel.id}")

    def _close(self, live: LiveCall) -> None:
        if not live.closing:
            live.closing = True
            live.queue.put_nowait(CLOSE)

    def vanished(self, live: LiveCall) -> None:
        """Resync found the call's channel gone: fail its waits and close it (side unknown unless seen)."""
        live.channel.mark_vanished()
        if not live.destroyed_cause:
            live.destroyed_cause = "channel vanished while events were not received"
        self._close(live)

    # --- the per-call worker -----------------------------------------------------------------------------

    async def _guarded_worker(self, live: LiveCall, at: dt.datetime | None) -> None:
        try:
            await self._worker(live, at)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a bug here must not leave writers waiting or the call unwatched
            log.exception("call %s on %s: call worker failed", live.uid, live.channel.id)
            live.accepting = False
            live.opened.set()
            self.journal.release(live)

    async def _worker(self, live: LiveCall, at: dt.datetime | None) -> None:
        ch = live.channel
        try:
            call, created = await self.timeline.open_call(
                channel_id=ch.id, protocol="ari", caller_number=ch.info.caller_number,
                caller_name=ch.info.caller_name, dialed=live.dialed, at=at)
        except Exception as exc:  # noqa: BLE001 - no database must still not mean no service
            log.error("call on %s: cannot open its row (%s); handing it to the dialplan fallback", ch.id, exc)
            live.opened.set()
            await continue_to_fallback(ch, "database unavailable", self.fallback_target)
            await self._forget(live)
            return
        live.call_id, live.uid = call.id, call.uid
        self.by_uid[call.uid] = live
        live.opened.set()
        self.journal.publish(live, "call_started", {"channel": ch.id, "caller": ch.info.caller_number,
                                                    "dialed": live.dialed, "resumed": not created or live.resumed})
        if created:
            self.journal.publish(live, "arrived", {"protocol": "ari", "caller": ch.info.caller_number,
                                                   "dialed": live.dialed}, call.started_at, 1)
        if not created or live.resumed:
            await self.journal.write(live, "resynced", {"in_app": ch.in_app, "bridged": bool(ch.bridges),
                                                        "created": created}, None)
        # Stay subscribed after the channel leaves Stasis (fallback) so its hang-up still reaches us; off the
        # handler's critical path, but a hand-over to the dialplan waits for it (see fallback()).
        live.subscription = self._spawn(self._subscribe(live), f"subscribe-{ch.id}")
        if live.run_handler and not live.closing:
            live.handler_task = self._spawn(self._run_handler(live), f"handler-{live.uid}")
        if ch.state == "Up":
            self._start_recording(live)
        if await self.journal.drain(live) is CLOSE:
            await self._finish(live)

    async def _subscribe(self, live: LiveCall) -> None:
        try:
            await self.ari.subscribe(self.app, f"channel:{live.channel.id}")
            live.subscribed = True
        except (AriError, AriUnavailable) as exc:
            if not live.channel.hung_up:
                log.warning("call %s: subscribing to %s failed: %s", live.uid, live.channel.id, exc)

    async def _close_unless_subscribed(self, live: LiveCall) -> None:
        await live.opened.wait()
        if live.subscription is not None:
            await asyncio.gather(live.subscription, return_exceptions=True)
        if not live.subscribed:
            self._close(live)

    async def _finish(self, live: LiveCall) -> None:
        ch = live.channel
        first = live.first_hangup
        if first is not None:
            side, cause = first.side, first.cause_txt or live.destroyed_cause
        elif ch.system_hangup:
            side, cause = HangupSide.SYSTEM, live.destroyed_cause
        elif ch.destroyed and live.destroyed_cause and "vanished" not in live.destroyed_cause:
            side, cause = HangupSide.CALLER, live.destroyed_cause
        else:
            side, cause = HangupSide.UNKNOWN, live.destroyed_cause or "unknown"
        try:
            if await self.timeline.close_call(live.call_id, side=side, cause=cause[:64]):
                self.journal.publish(live, "hangup", {"side": side.value, "cause": cause})
        except Exception as exc:  # noqa: BLE001
            log.error("call %s: could not close its row: %s", live.uid, exc)
        if live.recording_task is not None:
            await asyncio.gather(live.recording_task, return_exceptions=True)
        if live.recording is not None and self.recordings is not None:
            try:
                await ch.stop_call_recording(live.recording)
                for rec in await self.recordings.finalize(live.call_id, live.recording):
                    await self.journal.write(live, "recording_stored", {
                        "direction": rec.direction.value, "path": str(rec.path), "sha256": rec.sha256,
                        "duration": rec.duration_seconds, "size": rec.size_bytes}, None)
            except Exception as exc:  # noqa: BLE001 - the call is over; keep the rows for finalize_pending
                log.error("call %s: finishing its recording failed: %s", live.uid, exc)
        if live.handler_task is not None and not live.handler_task.done():
            done, _ = await asyncio.wait({live.handler_task}, timeout=HANDLER_GRACE_SECONDS)
            if not done:
                log.warning("call %s: handler still running after hang-up; cancelling it", live.uid)
                live.handler_task.cancel()
                await asyncio.gather(live.handler_task, return_exceptions=True)
        self.journal.publish(live, "call_ended", {"side": side.value, "cause": cause})
        await self._forget(live)

    async def _forget(self, live: LiveCall) -> None:
        if self.calls.get(live.channel.id) is live:
            del self.calls[live.channel.id]
        if live.uid and self.by_uid.get(live.uid) is live:
            del self.by_uid[live.uid]
        for sid in [s for s, owner in self.snoops.items() if owner is live]:
            del self.snoops[sid]
        await live.channel.close()

    # --- handlers ----------------------------------------------------------------------------------------

    async def _run_handler(self, live: LiveCall) -> None:
        ch = live.channel
        if self.stopping:
            await self.fallback(live, "hotline service stopping")
            return
        if live.route not in (INBOUND, ""):
            await self.fallback(live, f"unknown Stasis route {live.route!r}")
            return
        handler = self.resume_handler if live.resumed else self.handler
        if handler is None:
            await self.fallback(live, "service restarted during the call" if live.resumed
                                else "no call handler configured")
            return
        ctx = CallContext(call_id=live.call_id, uid=live.uid, dialed=live.dialed, args=live.args,
                          timeline=self.timeline, notifier=self.notifier, resumed=live.resumed)
        try:
            await handler(ch, ctx)
        except ChannelHungUp:
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever the flow did wrong, the caller goes to a human
            log.error("call %s: handler failed (%s: %s); continuing in the dialplan fallback", live.uid,
                      exc.__class__.__name__, exc, exc_info=True)
            await self.journal.record(live, "handler_failed", {"error": f"{exc.__class__.__name__}: {exc}"[:500]})
            await self.fallback(live, f"handler failed: {exc.__class__.__name__}: {exc}")
            return
        if ch.in_app and not ch.hung_up and not ch.bridges:
            try:
                await ch.hangup("normal")
            except ChannelError as exc:
                log.warning("call %s: hanging up after the handler returned: %s", live.uid, exc)

    async def fallback(self, live: LiveCall, reason: str) -> None:
        ch = live.channel
        if ch.hung_up or not ch.in_app:
            await self.journal.record(live, "fallback_skipped", {"reason": reason, "hung_up": ch.hung_up})
            return
        # Written before the hand-over so the timeline reads: reason, then the channel leaving our app.
        try:
            await self.timeline.update(live.call_id, outcome="fallback", fallback_reason=reason[:300])
        except Exception as exc:  # noqa: BLE001
            log.error("call %s: could not mark the fallback: %s", live.uid, exc)
        await self.journal.record(live, "fallback", {"reason": reason[:300]})
        if live.subscription is not None:
            await asyncio.gather(live.subscription, return_exceptions=True)
        result = await continue_to_fallback(ch, reason, self.fallback_target)
        if result is not FallbackResult.CONTINUED:
            await self.journal.record(live, f"fallback_{result.value}", {"reason": reason[:300]})

    async def _run_agent_leg(self, leg: AgentLeg, args: tuple[str, ...], resumed: bool) -> None:
        ch = leg.channel
        live = leg.live
        if self.agent_handler is None:
            if not resumed:
                log.warning("agent leg %s for call %s but no ACD is plugged in: hanging it up", ch.id, leg.call_uid)
                await self._hangup_quietly(ch.id)
            return
        if live is not None:
            await live.opened.wait()
        ctx = AgentLegContext(call_uid=leg.call_uid, call_id=live.call_id if live else None, args=args,
                              caller=live.channel if live else None, resumed=resumed)
        try:
            await self.agent_handler(ch, ctx)
        except ChannelHungUp:
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the agent leg is ours to clean; the caller's flow goes on
            log.error("agent leg %s (call %s): ACD handler failed: %s", ch.id, leg.call_uid, exc, exc_info=True)
            if live is not None:
                await self.journal.record(live, "agent_leg_failed", {"channel": ch.id, "error": str(exc)[:300]})
            if not ch.hung_up:
                await self._hangup_quietly(ch.id)

    async def _hangup_quietly(self, channel_id: str) -> None:
        try:
            await self.ari.hangup(channel_id)
        except (AriError, AriUnavailable) as exc:
            log.debug("hangup %s: %s", channel_id, exc)

    # --- recording ---------------------------------------------------------------------------------------

    def _start_recording(self, live: LiveCall) -> None:
        if self.record_calls and live.recording_task is None and not live.closing:
            live.recording_task = self._spawn(self._record_call(live), f"record-{live.channel.id}")

    async def _record_call(self, live: LiveCall) -> None:
        await live.opened.wait()
        if not live.call_id or self.recordings is None:
            return
        started = dt.datetime.now(dt.timezone.utc)  # the snoops record from the moment they are created
        try:
            live.recording = await live.channel.start_call_recording(f"call-{live.uid}")
        except ChannelHungUp:
            return
        except ChannelError as exc:
            if live.channel.hung_up:
                return
            log.warning("call %s: two-track recording did not start: %s", live.uid, exc)
            await self.journal.record(live, "recording_failed", {"error": str(exc)[:300]})
            return
        try:
            await self.recordings.register(live.call_id, live.recording, started)
        except Exception as exc:  # noqa: BLE001
            log.error("call %s: could not register its recording: %s", live.uid, exc)

    def adopt_recording(self, live: LiveCall, snoop_ids: list[str]) -> None:
        """Resync: the call's snoops are still recording; finish them with the call as usual."""
        for sid in snoop_ids:
            self.snoops[sid] = live
        live.recording = live.channel.adopt_call_recording(f"call-{live.uid}", snoop_ids)

    # --- stopping ----------------------------------------------------------------------------------------

    async def stop(self, reason: str = "hotline service stopping") -> None:
        """Hand every call still in our IVR to the fallback; leave bridged calls talking; stop workers."""
        self.stopping = True
        handlers = [live.handler_task for live in self.calls.values()
                    if live.handler_task is not None and not live.handler_task.done()]
        handlers += [leg.task for leg in self.legs.values() if leg.task is not None and not leg.task.done()]
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        await asyncio.gather(*(self.fallback(live, reason) for live in list(self.calls.values())
                               if live.opened.is_set() and live.call_id and live.channel.in_app
                               and not live.channel.hung_up and not live.channel.bridges),
                             return_exceptions=True)
        for live in list(self.calls.values()):
            live.queue.put_nowait(DRAIN)
        workers = [live.worker for live in self.calls.values() if live.worker is not None]
        done, pending = await asyncio.wait(workers, timeout=STOP_GRACE_SECONDS) if workers else (set(), set())
        for task in pending:
            task.cancel()
        rest = [t for t in self._tasks if not t.done()]
        for t in rest:
            t.cancel()
        await asyncio.gather(*pending, *rest, return_exceptions=True)
        for live in list(self.calls.values()):
            live.channel.detach()  # keep Asterisk's bridges: a restart re-adopts talking calls
        for leg in list(self.legs.values()):
            leg.channel.detach()
        self.calls.clear()
        self.by_uid.clear()
        self.legs.clear()
        self.snoops.clear()


CALLS: web.AppKey[CallService] = web.AppKey("calls", CallService)
