"""The ACD's telephony over ARI: ring an agent's PJSIP endpoint, learn the answer, bridge, cancel.

An agent leg is originated as PJSIP/<endpoint> into our Stasis app with args `agent,<call uid>`, with a
channel id we choose, so the leg's events are routed to it before Asterisk even answers the request.
Asterisk puts an originated channel into Stasis only once it is answered (NOTES.md gotcha 9): the call
service sees that StasisStart and hands the channel to `on_agent_leg` (its AgentLegHandler seam), which is
the answer. A leg that ends before that (busy, rejected, unreachable, cancelled) ends with ChannelDestroyed,
whose Q.850 cause says why.
"""

from __future__ import annotations

import asyncio
import logging
import math
import uuid

from ivr.acd.ports import AgentLeg, DialError, LegOutcome
from ivr.ari.channel import AriChannel
from ivr.ari.client import AriClient, AriError, AriNotFound, AriUnavailable
from ivr.ari.events import ChannelDestroyed, Event
from ivr.ari.router import EventRouter
from ivr.calls.handler import AgentLegContext
from ivr.channel import Channel, ChannelGone, ChannelHungUp

log = logging.getLogger(__name__)

# Q.850 causes of a leg that ended unanswered.
_CAUSES = {17: LegOutcome.BUSY, 21: LegOutcome.BUSY, 18: LegOutcome.NO_ANSWER, 19: LegOutcome.NO_ANSWER}


def outcome_for_cause(cause: int) -> LegOutcome:
    return _CAUSES.get(cause, LegOutcome.FAILED)


class AriLeg:
    def __init__(self, channel_id: str, endpoint: str) -> None:
        self.id = channel_id
        self.endpoint = endpoint
        loop = asyncio.get_running_loop()
        self._answered: asyncio.Future[LegOutcome] = loop.create_future()
        self._ended: asyncio.Future[str] = loop.create_future()
        self.channel: AriChannel | None = None

    def on_event(self, event: Event) -> None:
        if isinstance(event, ChannelDestroyed):
            if not self._answered.done():
                self._answered.set_result(outcome_for_cause(event.cause))
            if not self._ended.done():
                self._ended.set_result(event.cause_txt or str(event.cause))

    def adopt(self, channel: AriChannel) -> None:
        self.channel = channel
        if not self._answered.done():
            self._answered.set_result(LegOutcome.ANSWERED)

    @property
    def ended(self) -> bool:
        return self._ended.done()

    async def wait_answered(self) -> LegOutcome:
        return await asyncio.shield(self._answered)

    async def wait_ended(self) -> str:
        return await asyncio.shield(self._ended)


class AriDialer:
    def __init__(self, client: AriClient, router: EventRouter, app: str) -> None:
        self.client = client
        self.router = router
        self.app = app
        self._legs: dict[str, AriLeg] = {}

    def _forget(self, leg: AriLeg) -> None:
        self.router.unroute(f"channel:{leg.id}", leg.on_event)
        if self._legs.get(leg.id) is leg:
            del self._legs[leg.id]

    async def ring(self, endpoint: str, *, call_uid: str, caller_id: str, timeout: float) -> AriLeg:
        leg = AriLeg(f"agent-{uuid.uuid4().hex[:24]}", endpoint)
        self._legs[leg.id] = leg
        self.router.route(f"channel:{leg.id}", leg.on_event)  # before the request: no event can be missed
        try:
            await self.client.originate(f"PJSIP/{endpoint}", app=self.app, app_args=f"agent,{call_uid}",
                                        channel_id=leg.id, caller_id=caller_id or None,
                                        timeout=max(1, math.ceil(timeout)))
        except (AriError, AriUnavailable) as exc:
            self._forget(leg)
            raise DialError(f"cannot ring {endpoint}: {exc}") from None
        leg._ended.add_done_callback(lambda _f: self._forget(leg))
        return leg

    async def on_agent_leg(self, channel: Channel, ctx: AgentLegContext) -> None:
        """The call service's AgentLegHandler: an agent leg entered Stasis, i.e. the agent answered."""
        leg = self._legs.get(channel.id)
        if leg is None or not isinstance(channel, AriChannel):
            # Ours from before a restart, or cancelled the instant it was answered: nobody waits for it.
            log.info("agent leg %s (call %s) is not expected: hanging it up", channel.id, ctx.call_uid)
            await channel.hangup()
            return
        leg.adopt(channel)

    @staticmethod
    def _ours(leg: AgentLeg) -> AriLeg:
        if not isinstance(leg, AriLeg):
            raise TypeError(f"not an ARI agent leg: {leg!r}")
        return leg

    async def cancel(self, leg: AgentLeg) -> None:
        leg = self._ours(leg)
        if leg.ended:
            return
        try:
            await self.client.hangup(leg.id)
        except AriNotFound:
            pass  # gone already
        except (AriError, AriUnavailable) as exc:
            log.warning("could not hang up agent leg %s: %s", leg.id, exc)

    async def bridge(self, caller: Channel, leg: AgentLeg) -> str:
        leg = self._ours(leg)
        if leg.channel is None:
            raise ChannelGone(f"agent leg {leg.id} was never answered")
        if leg.ended:
            raise ChannelHungUp(f"agent leg {leg.id} is gone")
        return await caller.bridge_with(leg.channel)

    async def unbridge(self, bridge_id: str) -> None:
        try:
            await self.client.destroy_bridge(bridge_id)
        except AriNotFound:
            pass
        except (AriError, AriUnavailable) as exc:
            log.warning("could not destroy bridge %s: %s", bridge_id, exc)
