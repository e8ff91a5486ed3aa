"""ARI websocket messages -> typed, frozen events. Pure: no I/O, no logging, never raises.

Field names are exactly those of events.json. Anything we cannot read (an event type we do not model, a known
type with a missing or mistyped field, a frame that is not JSON) becomes an `UnknownEvent` carrying the raw
data and the reason, so one odd frame never takes the event stream down.

`Event.targets` lists the resource URIs an event concerns ("channel:<id>", "bridge:<id>"), which is how the
session routes events to the objects waiting for them (a playback's target_uri is already such a URI).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ivr.ari.models import (
    Bridge,
    Channel,
    LiveRecording,
    ModelError,
    Playback,
    _obj,
    _opt,
    _req,
    cause_text,
    parse_time,
)


@dataclass(frozen=True)
class Event:
    type: str
    application: str = ""
    timestamp: dt.datetime | None = None
    asterisk_id: str = ""

    @property
    def targets(self) -> tuple[str, ...]:
        return ()


@dataclass(frozen=True)
class UnknownEvent(Event):
    """A message we could not (or chose not to) model; `error` is empty for merely unmodelled types."""

    data: Mapping[str, Any] = field(default_factory=dict)
    error: str = ""


@dataclass(frozen=True)
class MissingParams(Event):
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class _ChannelEvent(Event):
    channel: Channel = Channel("", "", "")

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.channel.uri,)


@dataclass(frozen=True)
class StasisStart(_ChannelEvent):
    args: tuple[str, ...] = ()
    replace_channel: Channel | None = None


@dataclass(frozen=True)
class StasisEnd(_ChannelEvent):
    pass


@dataclass(frozen=True)
class ChannelCreated(_ChannelEvent):
    pass


@dataclass(frozen=True)
class ChannelDestroyed(_ChannelEvent):
    cause: int = 0
    cause_txt: str = ""
    tech_cause: int | None = None


@dataclass(frozen=True)
class ChannelStateChange(_ChannelEvent):
    pass


@dataclass(frozen=True)
class ChannelDtmfReceived(_ChannelEvent):
    digit: str = ""
    duration_ms: int = 0


@dataclass(frozen=True)
class ChannelHangupRequest(_ChannelEvent):
    cause: int | None = None
    soft: bool | None = None
    tech_cause: int | None = None

    @property
    def cause_txt(self) -> str:
        return cause_text(self.cause)


@dataclass(frozen=True)
class ChannelVarset(Event):
    variable: str = ""
    value: str = ""
    channel: Channel | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.channel.uri,) if self.channel else ()


@dataclass(frozen=True)
class ChannelDialplan(_ChannelEvent):
    dialplan_app: str = ""
    dialplan_app_data: str = ""


@dataclass(frozen=True)
class ChannelHold(_ChannelEvent):
    musicclass: str = ""


@dataclass(frozen=True)
class ChannelUnhold(_ChannelEvent):
    pass


@dataclass(frozen=True)
class ChannelCallerId(_ChannelEvent):
    caller_presentation: int = 0
    caller_presentation_txt: str = ""


@dataclass(frozen=True)
class ChannelConnectedLine(_ChannelEvent):
    pass


@dataclass(frozen=True)
class ChannelTalkingStarted(_ChannelEvent):
    pass


@dataclass(frozen=True)
class ChannelTalkingFinished(_ChannelEvent):
    duration: int = 0


@dataclass(frozen=True)
class _BridgeEvent(Event):
    bridge: Bridge = Bridge("")

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.bridge.uri,)


@dataclass(frozen=True)
class BridgeCreated(_BridgeEvent):
    pass


@dataclass(frozen=True)
class BridgeDestroyed(_BridgeEvent):
    pass


@dataclass(frozen=True)
class ChannelEnteredBridge(_BridgeEvent):
    channel: Channel | None = None

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.bridge.uri,) + ((self.channel.uri,) if self.channel else ())


@dataclass(frozen=True)
class ChannelLeftBridge(_BridgeEvent):
    channel: Channel = Channel("", "", "")

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.bridge.uri, self.channel.uri)


@dataclass(frozen=True)
class _PlaybackEvent(Event):
    playback: Playback = Playback("", "", "", "")

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.playback.target_uri,)


@dataclass(frozen=True)
class PlaybackStarted(_PlaybackEvent):
    pass


@dataclass(frozen=True)
class PlaybackContinuing(_PlaybackEvent):
    pass


@dataclass(frozen=True)
class PlaybackFinished(_PlaybackEvent):
    pass


@dataclass(frozen=True)
class _RecordingEvent(Event):
    recording: LiveRecording = LiveRecording("", "", "", "")

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.recording.target_uri,) if self.recording.target_uri else ()


@dataclass(frozen=True)
class RecordingStarted(_RecordingEvent):
    pass


@dataclass(frozen=True)
class RecordingFinished(_RecordingEvent):
    pass


@dataclass(frozen=True)
class RecordingFailed(_RecordingEvent):
    pass


@dataclass(frozen=True)
class Dial(Event):
    peer: Channel = Channel("", "", "")
    dialstatus: str = ""
    caller: Channel | None = None
    forward: str = ""
    forwarded: Channel | None = None
    dialstring: str = ""

    @property
    def targets(self) -> tuple[str, ...]:
        return (self.peer.uri,) + ((self.caller.uri,) if self.caller else ())


@dataclass(frozen=True)
class ApplicationReplaced(Event):
    pass


@dataclass(frozen=True)
class ApplicationRegistered(Event):
    pass


@dataclass(frozen=True)
class ApplicationUnregistered(Event):
    pass


@dataclass(frozen=True)
class ApplicationMoveFailed(_ChannelEvent):
    destination: str = ""
    args: tuple[str, ...] = ()


# --- parsing ---------------------------------------------------------------------------------------------

def _channel(d: Mapping[str, Any], key: str, where: str) -> Channel:
    return Channel.from_json(_req(d, key, dict, where), f"{where}.{key}")


def _channel_opt(d: Mapping[str, Any], key: str, where: str) -> Channel | None:
    value = d.get(key)
    return Channel.from_json(value, f"{where}.{key}") if value is not None else None


def _strings(d: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = _req(d, key, list, where)
    if not all(isinstance(x, str) for x in value):
        raise ModelError(f"{where}.{key}: expected a list of strings")
    return tuple(value)


Builder = Callable[[Mapping[str, Any], str], dict[str, Any]]


def _chan_only(d: Mapping[str, Any], w: str) -> dict[str, Any]:
    return {"channel": _channel(d, "channel", w)}


_BUILDERS: dict[str, tuple[type[Event], Builder]] = {
    "StasisStart": (StasisStart, lambda d, w: {
        "channel": _channel(d, "channel", w), "args": _strings(d, "args", w),
        "replace_channel": _channel_opt(d, "replace_channel", w)}),
    "StasisEnd": (StasisEnd, _chan_only),
    "ChannelCreated": (ChannelCreated, _chan_only),
    "ChannelDestroyed": (ChannelDestroyed, lambda d, w: {
        "channel": _channel(d, "channel", w), "cause": _req(d, "cause", int, w),
        "cause_txt": _req(d, "cause_txt", str, w), "tech_cause": _opt(d, "tech_cause", int, None, w)}),
    "ChannelStateChange": (ChannelStateChange, _chan_only),
    "ChannelDtmfReceived": (ChannelDtmfReceived, lambda d, w: {
        "channel": _channel(d, "channel", w), "digit": _req(d, "digit", str, w),
        "duration_ms": _req(d, "duration_ms", int, w)}),
    "ChannelHangupRequest": (ChannelHangupRequest, lambda d, w: {
        "channel": _channel(d, "channel", w), "cause": _opt(d, "cause", int, None, w),
        "soft": _opt(d, "soft", bool, None, w), "tech_cause": _opt(d, "tech_cause", int, None, w)}),
    "ChannelVarset": (ChannelVarset, lambda d, w: {
        "variable": _req(d, "variable", str, w), "value": _req(d, "value", str, w),
        "channel": _channel_opt(d, "channel", w)}),
    "ChannelDialplan": (ChannelDialplan, lambda d, w: {
        "channel": _channel(d, "channel", w), "dialplan_app": _req(d, "dialplan_app", str, w),
        "dialplan_app_data": _req(d, "dialplan_app_data", str, w)}),
    "ChannelHold": (ChannelHold, lambda d, w: {
        "channel": _channel(d, "channel", w), "musicclass": _opt(d, "musicclass", str, "", w)}),
    "ChannelUnhold": (ChannelUnhold, _chan_only),
    "ChannelCallerId": (ChannelCallerId, lambda d, w: {
        "channel": _channel(d, "channel", w), "caller_presentation": _req(d, "caller_presentation", int, w),
        "caller_presentation_txt": _req(d, "caller_presentation_txt", str, w)}),
    "ChannelConnectedLine": (ChannelConnectedLine, _chan_only),
    "ChannelTalkingStarted": (ChannelTalkingStarted, _chan_only),
    "ChannelTalkingFinished": (ChannelTalkingFinished, lambda d, w: {
        "channel": _channel(d, "channel", w), "duration": _req(d, "duration", int, w)}),
    "BridgeCreated": (BridgeCreated, lambda d, w: {"bridge": Bridge.from_json(_req(d, "bridge", dict, w))}),
    "BridgeDestroyed": (BridgeDestroyed, lambda d, w: {"bridge": Bridge.from_json(_req(d, "bridge", dict, w))}),
    "ChannelEnteredBridge": (ChannelEnteredBridge, lambda d, w: {
        "bridge": Bridge.from_json(_req(d, "bridge", dict, w)), "channel": _channel_opt(d, "channel", w)}),
    "ChannelLeftBridge": (ChannelLeftBridge, lambda d, w: {
        "bridge": Bridge.from_json(_req(d, "bridge", dict, w)), "channel": _channel(d, "channel", w)}),
    "PlaybackStarted": (PlaybackStarted, lambda d, w: {"playback": Playback.from_json(_req(d, "playback", dict, w))}),
    "PlaybackContinuing": (PlaybackContinuing,
                           lambda d, w: {"playback": Playback.from_json(_req(d, "playback", dict, w))}),
    "PlaybackFinished": (PlaybackFinished,
                         lambda d, w: {"playback": Playback.from_json(_req(d, "playback", dict, w))}),
    "RecordingStarted": (RecordingStarted,
                         lambda d, w: {"recording": LiveRecording.from_json(_req(d, "recording", dict, w))}),
    "RecordingFinished": (RecordingFinished,
                          lambda d, w: {"recording": LiveRecording.from_json(_req(d, "recording", dict, w))}),
    "RecordingFailed": (RecordingFailed,
                        lambda d, w: {"recording": LiveRecording.from_json(_req(d, "recording", dict, w))}),
    "Dial": (Dial, lambda d, w: {
        "peer": _channel(d, "peer", w), "dialstatus": _req(d, "dialstatus", str, w),
        "caller": _channel_opt(d, "caller", w), "forward": _opt(d, "forward", str, "", w),
        "forwarded": _channel_opt(d, "forwarded", w), "dialstring": _opt(d, "dialstring", str, "", w)}),
    "ApplicationReplaced": (ApplicationReplaced, lambda d, w: {}),
    "ApplicationRegistered": (ApplicationRegistered, lambda d, w: {}),
    "ApplicationUnregistered": (ApplicationUnregistered, lambda d, w: {}),
    "ApplicationMoveFailed": (ApplicationMoveFailed, lambda d, w: {
        "channel": _channel(d, "channel", w), "destination": _req(d, "destination", str, w),
        "args": _strings(d, "args", w)}),
    "MissingParams": (MissingParams, lambda d, w: {"params": _strings(d, "params", w)}),
}

MODELLED_TYPES = frozenset(_BUILDERS)


def parse_event(raw: str | bytes | Mapping[str, Any]) -> Event:
    """One websocket frame (text, bytes or already-decoded JSON) -> a typed event; never raises."""
    if isinstance(raw, (str, bytes, bytearray)):
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            text = raw[:200] if isinstance(raw, str) else bytes(raw[:200]).decode("utf-8", "replace")
            return UnknownEvent(type="", data={"raw": text}, error=f"not JSON: {exc}")
    else:
        data = raw
    if not isinstance(data, Mapping):
        return UnknownEvent(type="", data={"raw": repr(data)[:200]}, error="not a JSON object")
    kind = data.get("type")
    if not isinstance(kind, str) or not kind:
        return UnknownEvent(type="", data=dict(data), error="no 'type' field")
    try:
        common = {
            "type": kind,
            "application": _opt(data, "application", str, "", kind),
            "timestamp": parse_time(data.get("timestamp"), f"{kind}.timestamp"),
            "asterisk_id": _opt(data, "asterisk_id", str, "", kind),
        }
        entry = _BUILDERS.get(kind)
        if entry is None:
            return UnknownEvent(**common, data=dict(data))
        cls, build = entry
        return cls(**common, **build(_obj(data, kind), kind))
    except ModelError as exc:
        return UnknownEvent(type=kind, data=dict(data), error=str(exc))
