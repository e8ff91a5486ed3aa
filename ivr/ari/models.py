"""Typed views of ARI's resource models (Channel, Bridge, Playback, LiveRecording), parsed from JSON.

Field names are exactly those of the API description (channels.json, bridges.json, ...), so a reader can go
from a log line to the docs without translation. Parsing is pure and raises `ModelError` on malformed input.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping


class ModelError(ValueError):
    """JSON that does not have the shape the API description promises."""


def _req(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in data:
        raise ModelError(f"{where}: missing field {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ModelError(f"{where}.{key}: unexpected {type(value).__name__}")
    return value


def _opt(data: Mapping[str, Any], key: str, kind: type | tuple[type, ...], default: Any, where: str) -> Any:
    value = data.get(key, default)
    if value is None:
        return default
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ModelError(f"{where}.{key}: unexpected {type(value).__name__}")
    return value


def _obj(data: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise ModelError(f"{where}: expected an object, got {type(data).__name__}")
    return data


def parse_time(value: Any, where: str = "timestamp") -> dt.datetime | None:
    """ARI's dates look like 2024-05-01T10:00:00.123+0000; None for absent values."""
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise ModelError(f"{where}: expected a date string")
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ModelError(f"{where}: not a date: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class CallerID:
    name: str = ""
    number: str = ""

    @classmethod
    def from_json(cls, data: Any, where: str = "CallerID") -> "CallerID":
        d = _obj(data, where)
        return cls(name=_opt(d, "name", str, "", where), number=_opt(d, "number", str, "", where))


@dataclass(frozen=True)
class DialplanCEP:
    context: str = ""
    exten: str = ""
    priority: int = 0
    app_name: str = ""
    app_data: str = ""

    @classmethod
    def from_json(cls, data: Any, where: str = "DialplanCEP") -> "DialplanCEP":
        d = _obj(data, where)
        return cls(context=_opt(d, "context", str, "", where), exten=_opt(d, "exten", str, "", where),
                   priority=_opt(d, "priority", int, 0, where), app_name=_opt(d, "app_name", str, "", where),
                   app_data=_opt(d, "app_data", str, "", where))


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    state: str
    protocol_id: str = ""
    caller: CallerID = CallerID()
    connected: CallerID = CallerID()
    accountcode: str = ""
    dialplan: DialplanCEP = DialplanCEP()
    creationtime: dt.datetime | None = None
    language: str = ""
    channelvars: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, where: str = "Channel") -> "Channel":
        d = _obj(data, where)
        return cls(
            id=_req(d, "id", str, where), name=_opt(d, "name", str, "", where),
            state=_opt(d, "state", str, "Unknown", where), protocol_id=_opt(d, "protocol_id", str, "", where),
            caller=CallerID.from_json(d.get("caller") or {}, f"{where}.caller"),
            connected=CallerID.from_json(d.get("connected") or {}, f"{where}.connected"),
            accountcode=_opt(d, "accountcode", str, "", where),
            dialplan=DialplanCEP.from_json(d.get("dialplan") or {}, f"{where}.dialplan"),
            creationtime=parse_time(d.get("creationtime"), f"{where}.creationtime"),
            language=_opt(d, "language", str, "", where),
            channelvars={str(k): "" if v is None else str(v)
                         for k, v in _opt(d, "channelvars", dict, {}, where).items()},
        )

    @property
    def uri(self) -> str:
        return f"channel:{self.id}"

    def stasis_args(self, app: str) -> tuple[str, ...] | None:
        """Arguments of Stasis(app,...) when the channel sits in that dialplan application, else None."""
        if self.dialplan.app_name.lower() != "stasis":
            return None
        parts = [p.strip() for p in self.dialplan.app_data.split(",")]
        if not parts or parts[0] != app:
            return None
        return tuple(parts[1:])


@dataclass(frozen=True)
class Bridge:
    id: str
    technology: str = ""
    bridge_type: str = ""
    bridge_class: str = ""
    creator: str = ""
    name: str = ""
    channels: tuple[str, ...] = ()
    creationtime: dt.datetime | None = None

    @classmethod
    def from_json(cls, data: Any, where: str = "Bridge") -> "Bridge":
        d = _obj(data, where)
        chans = _opt(d, "channels", list, [], where)
        return cls(id=_req(d, "id", str, where), technology=_opt(d, "technology", str, "", where),
                   bridge_type=_opt(d, "bridge_type", str, "", where),
                   bridge_class=_opt(d, "bridge_class", str, "", where), creator=_opt(d, "creator", str, "", where),
                   name=_opt(d, "name", str, "", where), channels=tuple(str(c) for c in chans),
                   creationtime=parse_time(d.get("creationtime"), f"{where}.creationtime"))

    @property
    def uri(self) -> str:
        return f"bridge:{self.id}"


@dataclass(frozen=True)
class Playback:
    id: str
    media_uri: str
    target_uri: str
    state: str
    next_media_uri: str = ""
    language: str = ""

    @classmethod
    def from_json(cls, data: Any, where: str = "Playback") -> "Playback":
        d = _obj(data, where)
        return cls(id=_req(d, "id", str, where), media_uri=_opt(d, "media_uri", str, "", where),
                   target_uri=_req(d, "target_uri", str, where), state=_opt(d, "state", str, "", where),
                   next_media_uri=_opt(d, "next_media_uri", str, "", where),
                   language=_opt(d, "language", str, "", where))


@dataclass(frozen=True)
class LiveRecording:
    name: str
    format: str
    target_uri: str
    state: str
    duration: int | None = None
    talking_duration: int | None = None
    silence_duration: int | None = None
    cause: str = ""

    @classmethod
    def from_json(cls, data: Any, where: str = "LiveRecording") -> "LiveRecording":
        d = _obj(data, where)
        return cls(name=_req(d, "name", str, where), format=_opt(d, "format", str, "", where),
                   target_uri=_opt(d, "target_uri", str, "", where), state=_opt(d, "state", str, "", where),
                   duration=_opt(d, "duration", int, None, where),
                   talking_duration=_opt(d, "talking_duration", int, None, where),
                   silence_duration=_opt(d, "silence_duration", int, None, where),
                   cause=_opt(d, "cause", str, "", where))


# Q.850 cause codes as Asterisk names them (causes.h); ChannelHangupRequest carries only the number.
Q850 = {
    0: "Unknown", 1: "Unallocated (unassigned) number", 2: "No route to specified transmit network",
    3: "No route to destination", 6: "Channel unacceptable", 16: "Normal Clearing", 17: "User busy",
    18: "No user responding", 19: "User alerting, no answer", 21: "Call Rejected", 22: "Number changed",
    27: "Destination out of order", 28: "Invalid number format", 29: "Facility rejected",
    31: "Normal, unspecified", 34: "Circuit/channel congestion", 38: "Network out of order",
    41: "Temporary failure", 42: "Switching equipment congestion", 44: "Requested channel not available",
    50: "Requested facility not subscribed", 58: "Bearer capability not available",
    65: "Bearer capability not implemented", 66: "Channel not implemented", 69: "Facility not implemented",
    81: "Invalid call reference value", 88: "Incompatible destination", 95: "Invalid message unspecified",
    96: "Mandatory information element is missing", 97: "Message type nonexist.",
    100: "Invalid information element contents", 102: "Recover on timer expiry",
    111: "Protocol error, unspecified", 127: "Interworking, unspecified",
}


def cause_text(cause: int | None) -> str:
    if cause is None:
        return ""
    return Q850.get(cause, f"cause {cause}")
