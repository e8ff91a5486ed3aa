"""The one Channel interface that call flows, the ACD and the console services talk to.

Both protocol adapters implement it: `ivr.ari.channel.AriChannel` (Stasis) and `ivr.agi.channel.AgiChannel`
(FastAGI). Nothing above this layer ever sees JSON, AGI lines or ARI resource names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable


class ChannelError(Exception):
    """Base of every failure a Channel operation can raise."""


class ChannelHungUp(ChannelError):
    """The far end hung up before or during the operation."""


class ChannelGone(ChannelError):
    """The channel no longer exists in Asterisk (404 / AGI 511)."""


class OperationFailed(ChannelError):
    """Asterisk refused or failed the operation (AGI 5xx, ARI 4xx/5xx other than 404)."""


class Unsupported(ChannelError):
    """The adapter cannot do this (e.g. bridging over plain AGI)."""


class Direction(enum.StrEnum):
    CALLER = "caller"
    AGENT = "agent"
    MIXED = "mixed"


@dataclass(frozen=True)
class CallerInfo:
    channel_id: str
    caller_number: str
    caller_name: str = ""
    dialed: str = ""
    protocol: str = ""  # "ari" or "agi"
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DigitsResult:
    digits: str
    timed_out: bool  # True when the inter-digit or first-digit timeout ended the collection


@dataclass(frozen=True)
class RecordingHandle:
    """A recording in progress: one file per direction plus a mix, all below the recordings dir."""

    name: str
    paths: dict[Direction, str]


@runtime_checkable
class Channel(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def info(self) -> CallerInfo: ...

    @property
    def hung_up(self) -> bool: ...

    async def answer(self) -> None: ...

    async def play(self, media: Sequence[str], *, interrupt_dtmf: bool = False) -> str | None:
        """Play media URIs in order ("sound:x", "recording:x", "digits:123", "number:42", "file:/path").

        With interrupt_dtmf, a key stops the playback and is returned (it is also kept for collect_digits);
        a key already waiting skips the prompt. Without it, the prompt plays to its end and keys pressed
        meanwhile are kept for collect_digits all the same (type-ahead, as Background()/Read()).
        """
        ...

    async def collect_digits(
        self,
        *,
        max_digits: int,
        first_timeout: float,
        inter_timeout: float = 3.0,
        terminators: str = "#",
        prompt: Sequence[str] = (),
    ) -> DigitsResult: ...

    async def record(self, name: str, *, max_seconds: float, silence_seconds: float = 3.0,
                     beep: bool = True) -> str:
        """Record what the caller says (voicemail, speech input); returns the file path."""
        ...

    async def start_call_recording(self, name: str) -> RecordingHandle:
        """Two-track recording from now: caller and agent directions in separate files, plus a mix."""
        ...

    async def stop_call_recording(self, handle: RecordingHandle) -> None: ...

    async def set_variable(self, name: str, value: str) -> None: ...

    async def get_variable(self, name: str) -> str | None: ...

    async def hold(self) -> None: ...

    async def unhold(self) -> None: ...

    async def start_moh(self, moh_class: str = "default") -> None: ...

    async def stop_moh(self) -> None: ...

    async def ring(self) -> None:
        """Play ringback to the caller (queue offers)."""
        ...

    async def bridge_with(self, other: "Channel") -> str:
        """Bridge this channel with another; returns a bridge id."""
        ...

    async def transfer(self, context: str, extension: str, priority: int = 1) -> None:
        """Leave our application and continue in the dialplan at context,extension,priority."""
        ...

    async def continue_in_dialplan(self, context: str | None = None, extension: str | None = None,
                                   priority: int | None = None) -> None:
        """Hand the call back to the dialplan (the fallback path when our code fails)."""
        ...

    async def hangup(self, cause: str = "normal") -> None: ...
