"""What a waiting caller hears: hold music, position/wait announcements, and the overflow callback offer.

Runs as one task per waiting call, separate from the offers, so an agent's phone rings the moment the agent
is free even while an announcement is playing; the task is cancelled when the agent answers.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Awaitable, Protocol

from ivr.acd.clock import Clock
from ivr.acd.entry import Entry, EntryState
from ivr.channel import ChannelError, ChannelGone, ChannelHungUp

log = logging.getLogger(__name__)

# Texts of the prompts below, for the prompt generator (espeak-ng cmn -> 8 kHz wav under sounds/hotline/).
PROMPT_TEXTS: dict[str, str] = {
    "acd-position-before": "您前面还有",
    "acd-position-after": "位用户在等待，请您耐心等候。",
    "acd-wait-before": "预计等待时间约",
    "acd-wait-after": "分钟。",
    "acd-overflow": "当前坐席全忙，如需预约回电，请按1；继续等待，请按2。",
    "acd-no-agents": "现在暂时没有坐席可以接听您的电话。",
    "acd-callback-ok": "已为您登记预约回电，我们将尽快与您联系。感谢您的来电，再见。",
}


@dataclass(frozen=True)
class AcdPrompts:
    base: str = "sound:hotline/"
    moh_class: str = "default"
    callback_digit: str = "1"
    callback_timeout_seconds: float = 8.0

    say_base: str = "sound:hotline/zh/say/"  # Chinese number words rendered by `hotline prompts build`

    def media(self, name: str) -> str:
        if name not in PROMPT_TEXTS:
            raise KeyError(f"unknown ACD prompt {name!r}")
        return f"{self.base}{name}"

    def number(self, n: int) -> list[str]:
        """A number read the Chinese way (Asterisk's own number: sounds are English)."""
        from call_flows.say import integer

        return [f"{self.say_base}{word}" for word in integer(n)]


class QueueView(Protocol):
    """What the media task needs to know about the queue, provided by the Acd service."""

    clock: Clock
    prompts: AcdPrompts

    def ahead_of(self, entry: Entry) -> int: ...

    def agents_for(self, skill: str) -> int:
        """Logged-in agents (any state but offline) who have the skill."""
        ...

    def average_handle_seconds(self) -> float: ...

    async def take_callback(self, entry: Entry) -> bool:
        """Take the call out of line for a callback (work order); False if that was not possible."""
        ...

    def callback_done(self, entry: Entry) -> None:
        """The confirmation was played (or the caller hung up during it): the call leaves the ACD."""
        ...

    def caller_left(self, entry: Entry) -> None: ...


def estimated_wait_minutes(ahead: int, agents: int, handle_seconds: float) -> int:
    return max(1, math.ceil((ahead + 1) * handle_seconds / max(1, agents) / 60))


async def _try(entry: Entry, what: str, aw: Awaitable[object]) -> bool:
    """One media step. A hang-up ends the wait (raised); any other failure (a missing prompt, no MOH class)
    is logged and the caller keeps their place in line."""
    try:
        await aw
        return True
    except (ChannelHungUp, ChannelGone):
        raise
    except ChannelError as exc:
        log.warning("call %s: %s failed: %s", entry.call_id, what, exc)
        return False


async def caller_media(view: QueueView, entry: Entry) -> None:
    """Hold music with announcements until cancelled; offers a callback on overflow (long wait or nobody
    logged in)."""
    ch, clock, prompts = entry.channel, view.clock, view.prompts
    every = max(5.0, entry.queue.announce_every_seconds)
    try:
        await _try(entry, "music on hold", ch.start_moh(prompts.moh_class))
        now = clock.monotonic()
        next_announce = now + every
        offer_at = entry.queued_mono + entry.queue.max_wait_seconds
        nobody_offered = False
        if view.agents_for(entry.waiting.skill) == 0:
            offer_at, nobody_offered = now, True
        while True:
            now = clock.monotonic()
            wake = min(next_announce, offer_at)
            if wake > now:
                await clock.sleep(wake - now)
                now = clock.monotonic()
            if entry.state is not EntryState.WAITING:
                # An agent's phone is ringing: no announcement now, try again a period later.
                next_announce = now + every
                offer_at = max(offer_at, now + every)
                continue
            await _try(entry, "stopping music on hold", ch.stop_moh())
            if now >= offer_at:
                if await _offer_callback(view, entry, nobody=view.agents_for(entry.waiting.skill) == 0):
                    return
                now = clock.monotonic()
                offer_at, next_announce = now + entry.queue.max_wait_seconds, now + every
            else:
                ahead = view.ahead_of(entry)
                minutes = estimated_wait_minutes(ahead, view.agents_for(entry.waiting.skill),
                                                 view.average_handle_seconds())
                await _try(entry, "position announcement", ch.play([
                    prompts.media("acd-position-before"), *prompts.number(ahead), prompts.media("acd-position-after"),
                    prompts.media("acd-wait-before"), *prompts.number(minutes), prompts.media("acd-wait-after")]))
                now = clock.monotonic()
                next_announce = now + every
                if not nobody_offered and view.agents_for(entry.waiting.skill) == 0:
                    offer_at, nobody_offered = now, True
            await _try(entry, "music on hold", ch.start_moh(prompts.moh_class))
    except (ChannelHungUp, ChannelGone):
        view.caller_left(entry)


async def _offer_callback(view: QueueView, entry: Entry, *, nobody: bool) -> bool:
    prompts = view.prompts
    prompt = ([prompts.media("acd-no-agents")] if nobody else []) + [prompts.media("acd-overflow")]
    try:
        got = await entry.channel.collect_digits(max_digits=1, first_timeout=prompts.callback_timeout_seconds,
                                                 terminators="", prompt=prompt)
    except (ChannelHungUp, ChannelGone):
        raise
    except ChannelError as exc:
        log.warning("call %s: callback offer failed: %s", entry.call_id, exc)
        return False
    if got.digits != prompts.callback_digit:
        return False
    if not await view.take_callback(entry):
        return False
    try:
        await entry.channel.play([prompts.media("acd-callback-ok")])
    except ChannelError:
        pass  # hung up during the goodbye: the callback is registered all the same
    finally:
        view.callback_done(entry)
    return True
