"""Typed AGI failures, rooted in the Channel exceptions so flows handle AGI and ARI calls alike.

A flow catches ChannelHungUp / ChannelGone / OperationFailed and never needs to know which protocol raised.
AgiProtocolError (garbage from the peer, a line too long, a bad environment block) is not a ChannelError on
purpose: it means the session itself is unusable and only the server may handle it (log, close).
"""

from __future__ import annotations

from ivr.channel import ChannelError, ChannelGone, ChannelHungUp, OperationFailed


class AgiError(ChannelError):
    """Base of the AGI failures a flow may see."""


class AgiCommandFailed(AgiError, OperationFailed):
    """200 with result=-1 (or -2 for EXEC of an unknown application): Asterisk ran the command and it failed."""

    def __init__(self, command: str, result: str, data: str | None = None) -> None:
        self.command = command
        self.result = result
        self.data = data
        extra = f" ({data})" if data else ""
        super().__init__(f"{command}: result={result}{extra}")


class AgiInvalidCommand(AgiError, OperationFailed):
    """510: Asterisk does not know the command (a bug on our side, or a module that is not loaded)."""


class AgiUsageError(AgiError, OperationFailed):
    """520: wrong arguments; `usage` holds the usage text Asterisk sent."""

    def __init__(self, command: str, usage: str) -> None:
        self.command = command
        self.usage = usage
        super().__init__(f"{command}: invalid syntax; usage: {usage}" if usage else f"{command}: invalid syntax")


class AgiDeadChannel(AgiError, ChannelGone):
    """511: the channel is dead (caller hung up); only a few commands are still allowed."""


class AgiHangup(AgiError, ChannelHungUp):
    """The caller hung up: a HANGUP notification, a (hangup) result, or Asterisk closed the connection."""


class AgiEncodingError(AgiError, ValueError):
    """A command argument we refuse to send (newline, NUL, oversized): would break or inject AGI commands."""


class AgiProtocolError(Exception):
    """The peer broke the protocol; the session cannot continue."""


class AgiEnvError(AgiProtocolError):
    """The agi_* environment block is missing, truncated or malformed."""


class AgiLineTooLong(AgiProtocolError):
    """A line exceeded the configured maximum; raised before buffering it."""


class AgiGarbage(AgiProtocolError):
    """A reply line that is not AGI."""
