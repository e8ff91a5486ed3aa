"""State objects of the fake ARI (tests.fakes.ari): channels and live recordings as Asterisk reports them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any


def now() -> str:
    t = dt.datetime.now(dt.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}+0000"


class FakeError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class AriChannelState:
    id: str
    name: str
    state: str
    caller: dict[str, str]
    context: str
    exten: str
    app_name: str = ""
    app_data: str = ""
    priority: int = 1
    stasis_app: str | None = None
    vars: dict[str, str] = field(default_factory=dict)
    created: str = field(default_factory=now)
    pending_app: tuple[str, list[str]] | None = None  # originated into an app: enters it when answered
    snoop_target: str | None = None
    recording: str | None = None  # live recording name on this channel
    bridge: str | None = None

    def json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "state": self.state, "protocol_id": "",
                "caller": dict(self.caller), "connected": {"name": "", "number": ""}, "accountcode": "",
                "dialplan": {"context": self.context, "exten": self.exten, "priority": self.priority,
                             "app_name": self.app_name, "app_data": self.app_data},
                "creationtime": self.created, "language": "en"}


@dataclass
class FakeLiveRecording:
    name: str
    target: str  # channel:<id> or bridge:<id>
    state: str = "recording"
    terminate_on: str = "none"

    def json(self) -> dict[str, Any]:
        return {"name": self.name, "format": "wav", "target_uri": self.target, "state": self.state}
