"""Stasis events in: route each ARI event to the call service, and say what goes into a call's timeline.

StasisStart is routed on its first argument, as the dialplan and the ACD set it:
  inbound,<exten>          a new call from [hotline-inbound]   -> CallService.on_inbound
  agent,<call uid>[,...]   a leg we originated to an agent     -> CallService.on_agent_leg (the ACD seam)
  snoop,<channel>,<dir>    our own recording snoop             -> CallService.on_snoop
Anything else (including no arguments) is treated as an inbound call: serving a misrouted caller beats
bouncing them, and the row records the odd route.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ivr.ari import events as ev

if TYPE_CHECKING:
    from ivr.calls.services import CallService

INBOUND = "inbound"
AGENT = "agent"
SNOOP = "snoop"


def describe(event: ev.Event, role: str) -> tuple[str, dict[str, Any]] | None:
    """The timeline entry (kind, data) for an event on a call's channel (`role`: caller/agent/snoop), or None."""
    if isinstance(event, ev.ChannelStateChange):
        if role == "snoop":
            return None
        if event.channel.state == "Up":
            return ("answered" if role == "caller" else "agent_answered"), {"channel": event.channel.id}
        return "state", {"role": role, "state": event.channel.state}
    if isinstance(event, ev.ChannelDtmfReceived):
        return "dtmf", {"role": role, "digit": event.digit, "duration_ms": event.duration_ms}
    if isinstance(event, ev.PlaybackFinished):
        return "playback", {"role": role, "media": event.playback.media_uri, "state": event.playback.state}
    if isinstance(event, (ev.RecordingStarted, ev.RecordingFinished, ev.RecordingFailed)):
        kind = {"RecordingStarted": "recording_started", "RecordingFinished": "recording_finished",
                "RecordingFailed": "recording_failed"}[event.type]
        rec = event.recording
        data: dict[str, Any] = {"name": rec.name, "state": rec.state}
        if rec.duration is not None:
            data["duration"] = rec.duration
        if rec.cause:
            data["cause"] = rec.cause
        return kind, data
    if isinstance(event, ev.ChannelEnteredBridge) and role != "snoop":
        return "bridged", {"role": role, "bridge": event.bridge.id}
    if isinstance(event, ev.ChannelLeftBridge) and role != "snoop":
        return "unbridged", {"role": role, "bridge": event.bridge.id}
    if isinstance(event, ev.ChannelHold):
        return "hold", {"role": role}
    if isinstance(event, ev.ChannelUnhold):
        return "unhold", {"role": role}
    if isinstance(event, ev.ChannelHangupRequest) and role != "snoop":
        return "hangup_request", {"role": role, "cause": event.cause, "cause_txt": event.cause_txt,
                                  "soft": bool(event.soft)}
    if isinstance(event, ev.StasisEnd) and role != "snoop":
        return "stasis_end", {"role": role}
    if isinstance(event, ev.Dial):
        return "dial", {"peer": event.peer.name, "dialstatus": event.dialstatus}
    if isinstance(event, ev.ChannelDestroyed) and role == "agent":
        return "agent_leg_ended", {"channel": event.channel.id, "cause": event.cause, "cause_txt": event.cause_txt}
    return None


class StasisEvents:
    """The router's global sink for the call engine."""

    def __init__(self, service: "CallService") -> None:
        self.service = service

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.StasisStart):
            route = event.args[0] if event.args else ""
            if route == AGENT:
                self.service.on_agent_leg(event)
            elif route == SNOOP:
                self.service.on_snoop(event)
            else:
                self.service.on_inbound(event)
            return
        self.service.on_event(event)
