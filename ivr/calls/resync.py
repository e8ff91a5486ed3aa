"""Reconcile what Asterisk has (GET /channels, /bridges) with what we believe (memory + open call rows).

Runs on every websocket (re)connect: after a network blip (memory intact, some events lost) and after a
restart of our service (memory empty, rows still open). Outcomes, per call:
- channel gone                      -> row closed, side from what we saw, else "unknown"; never left open
- channel alive, known in memory    -> waits whose ending event was lost are settled (AriChannel.resync)
- channel alive in our app, unknown -> adopted (open_call returns the existing row: no duplicates); bridged
                                       calls keep talking, the others resume (resume handler) or fall back
- channel alive outside our app     -> adopted for its hang-up only (it is in the dialplan fallback)
- a channel in Stasis(<app>,inbound,...) with no row (its StasisStart was lost) -> row created, as above
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ivr.ari.client import AriNotFound
from ivr.ari.events import StasisStart
from ivr.ari.models import Channel as ChannelModel
from ivr.calls.live import LiveCall
from ivr.calls.services import CallService
from ivr.calls.stasis import AGENT, SNOOP
from ivr.db.models import HangupSide

log = logging.getLogger(__name__)


@dataclass
class ResyncReport:
    live: int = 0
    closed: list[int] = field(default_factory=list)  # call ids closed because their channel was gone
    adopted: list[str] = field(default_factory=list)  # channel ids taken over
    vanished: list[str] = field(default_factory=list)  # in-memory calls whose channel was gone
    recordings_finalized: int = 0


def _snoop_target(snap: ChannelModel) -> str | None:
    # Asterisk names snoop channels "Snoop/<target uniqueid>-<sequence>".
    if not snap.name.startswith("Snoop/"):
        return None
    return snap.name[len("Snoop/"):].rsplit("-", 1)[0]


async def resync(service: CallService) -> ResyncReport:
    report = ResyncReport()
    ari = service.ari
    channels = {c.id: c for c in await ari.list_channels()}
    bridges = await ari.list_bridges()
    try:
        app_channels = set((await ari.get_application(service.app)).get("channel_ids", []))
    except AriNotFound:
        app_channels = set()
    bridges_of: dict[str, set[str]] = {}
    for b in bridges:
        for cid in b.channels:
            bridges_of.setdefault(cid, set()).add(b.id)
    snoops_of: dict[str, list[str]] = {}
    for snap in channels.values():
        target = _snoop_target(snap)
        if target is not None:
            snoops_of.setdefault(target, []).append(snap.id)

    # 1. What we hold in memory (a websocket blip: events may have been lost).
    for cid, live in list(service.calls.items()):
        if cid not in channels:
            report.vanished.append(cid)
            service.vanished(live)
            continue
        live.channel.bridges = set(bridges_of.get(cid, set()))
        await live.channel.resync()
    for cid, leg in list(service.legs.items()):
        if cid not in channels:
            leg.channel.mark_vanished()
            service.legs.pop(cid, None)
        else:
            leg.channel.bridges = set(bridges_of.get(cid, set()))

    # 2. Open rows with nobody minding them (our service restarted).
    for call in await service.timeline.open_calls(protocol="ari"):
        if call.channel_id in service.calls:
            continue
        found = channels.get(call.channel_id)
        if found is None:
            await service.timeline.add_event(call.id, "resync", {"found": False})
            if await service.timeline.close_call(call.id, side=HangupSide.UNKNOWN,
                                                 cause="channel gone while hotline was away"):
                report.closed.append(call.id)
            continue
        in_app = found.stasis_args(service.app) is not None or (
            found.id in app_channels and found.dialplan.app_name.lower() in ("", "stasis"))
        adopted = _adopt(service, found, found.stasis_args(service.app) or ("inbound", call.dialed), in_app,
                         bridges_of, snoops_of, report)
        if adopted is not None:
            adopted.uid = call.uid  # known now: agent legs adopted below find their call by it
            service.by_uid[call.uid] = adopted

    # 3. Channels in our application that have no row at all (their StasisStart never reached us).
    for snap in channels.values():
        if snap.id in service.calls or snap.id in service.legs or snap.id in service.snoops:
            continue
        args = snap.stasis_args(service.app)
        if args is None or (args and args[0] in (AGENT, SNOOP)):
            continue
        _adopt(service, snap, args, True, bridges_of, snoops_of, report)

    # 4. Agent legs: those in our app by their Stasis args, others by sharing a bridge with an adopted caller.
    #    Needed to tell who hangs up first on calls that were talking when we restarted.
    for snap in channels.values():
        args = snap.stasis_args(service.app)
        if args and args[0] == AGENT and snap.id not in service.legs:
            _adopt_leg(service, snap, args, bridges_of)
    for live in list(service.calls.values()):
        for b in bridges:
            if b.id not in live.channel.bridges:
                continue
            for cid in b.channels:
                if cid != live.channel.id and cid not in service.legs and cid in channels \
                        and _snoop_target(channels[cid]) is None:
                    _adopt_leg(service, channels[cid], (AGENT, live.uid), bridges_of)
    report.live = len(service.calls)
    if service.recordings is not None:
        report.recordings_finalized = await service.recordings.finalize_pending(
            exclude_calls={live.call_id for live in service.calls.values() if live.call_id})
    log.info("ARI resync: %d live call(s), %d adopted, %d closed, %d vanished, %d recording(s) finalized",
             report.live, len(report.adopted), len(report.closed), len(report.vanished),
             report.recordings_finalized)
    return report


def _adopt(service: CallService, snap: ChannelModel, args: tuple[str, ...], in_app: bool,
           bridges_of: dict[str, set[str]], snoops_of: dict[str, list[str]],
           report: ResyncReport) -> LiveCall | None:
    live: LiveCall | None = service.on_inbound(StasisStart(type="StasisStart", channel=snap, args=args),
                                               resumed=True)
    if live is None:
        return None
    report.adopted.append(snap.id)
    live.channel.bridges = set(bridges_of.get(snap.id, set()))
    if not in_app:
        live.channel.mark_left()
    # A call talking to an agent keeps talking; one that left for the fallback is only watched.
    live.run_handler = in_app and not live.channel.bridges
    if snoops_of.get(snap.id):
        live.recording_task = service._spawn(_adopt_recording(service, live, snoops_of[snap.id]),
                                             f"adopt-recording-{snap.id}")
    return live


def _adopt_leg(service: CallService, snap: ChannelModel, args: tuple[str, ...],
               bridges_of: dict[str, set[str]]) -> None:
    leg = service.on_agent_leg(StasisStart(type="StasisStart", channel=snap, args=args), resumed=True)
    if leg is not None:
        leg.channel.bridges = set(bridges_of.get(snap.id, set()))


async def _adopt_recording(service: CallService, live: LiveCall, snoop_ids: list[str]) -> None:
    await live.opened.wait()
    if live.call_id:
        service.adopt_recording(live, snoop_ids)
