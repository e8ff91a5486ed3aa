"""Hand a call back to the dialplan's fallback (app_queue, then a message) when our code cannot carry it.

The generated dialplan (ivr/asterisk/config.py, [hotline-inbound]) runs Stasis(<app>,inbound,${EXTEN}) and,
when Stasis returns with HOTLINE_CONTINUE=fallback, goes to [hotline-fallback]. So the normal path is: set the
variable, then POST /channels/{id}/continue with no target (the next priority). If that is refused, we send
the channel straight to the fallback context: the call must reach a human or a message either way.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass

from ivr.channel import Channel, ChannelError, ChannelHungUp

log = logging.getLogger(__name__)


class FallbackResult(enum.StrEnum):
    CONTINUED = "continued"  # the dialplan has the call
    GONE = "gone"  # the caller had hung up; nothing to hand over
    FAILED = "failed"  # Asterisk refused both ways (logged loudly)


@dataclass(frozen=True)
class FallbackTarget:
    variable: str = "HOTLINE_CONTINUE"
    value: str = "fallback"
    reason_variable: str = "HOTLINE_FALLBACK_DETAIL"  # our reason in words, for the logs and the sidecar
    # The dialplan sets HOTLINE_FALLBACK_REASON itself on the normal path; on the direct path we must.
    dialplan_reason_variable: str = "HOTLINE_FALLBACK_REASON"
    dialplan_reason: str = "app-requested"
    # Where to go when continuing at the next priority is refused.
    context: str = "hotline-fallback"
    extension: str = "s"
    priority: int = 1


def _clean(reason: str) -> str:
    # Channel variables end up in dialplan expressions: keep them to plain printable text.
    return "".join(c if c.isalnum() or c in " .:_-/" else "_" for c in reason)[:200]


async def continue_to_fallback(channel: Channel, reason: str, target: FallbackTarget = FallbackTarget()) -> \
        FallbackResult:
    if channel.hung_up:
        return FallbackResult.GONE
    try:
        await channel.set_variable(target.variable, target.value)
        await channel.set_variable(target.reason_variable, _clean(reason))
        await channel.continue_in_dialplan()
        return FallbackResult.CONTINUED
    except ChannelHungUp:
        return FallbackResult.GONE
    except ChannelError as exc:
        log.warning("continuing %s to the next priority failed (%s); sending it to %s,%s,%d", channel.id, exc,
                    target.context, target.extension, target.priority)
    try:
        try:
            await channel.set_variable(target.dialplan_reason_variable, target.dialplan_reason)
        except ChannelError as exc:
            if isinstance(exc, ChannelHungUp):
                raise
            log.warning("setting %s on %s failed: %s", target.dialplan_reason_variable, channel.id, exc)
        await channel.continue_in_dialplan(target.context, target.extension, target.priority)
        return FallbackResult.CONTINUED
    except ChannelHungUp:
        return FallbackResult.GONE
    except ChannelError as exc:
        log.error("CALL AT RISK: channel %s could not be handed to the dialplan fallback: %s", channel.id, exc)
        return FallbackResult.FAILED
