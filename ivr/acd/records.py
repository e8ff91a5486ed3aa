"""What the ACD writes: offers (the ring clock), violations, call fields and timeline events.

Kept apart from the service so the routing code reads as routing. Every method is one short transaction;
the service calls them after the time-critical step (ringing the next phone) has been started.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import (
    Call,
    CallState,
    Customer,
    Offer,
    OfferResult,
    Queue,
    Violation,
)

VIOLATION_KINDS = {OfferResult.NO_ANSWER: "ring_no_answer", OfferResult.REJECTED: "ring_rejected"}


@dataclass(frozen=True)
class CallFacts:
    call_id: int
    uid: str
    caller_number: str
    customer_id: int | None
    special_care: bool
    agent_pk: int | None  # first agent who answered (首问负责), if any


class AcdRecords:
    def __init__(self, db: Database, timeline: Timeline) -> None:
        self.db = db
        self.timeline = timeline

    async def call_facts(self, call_id: int) -> CallFacts:
        async with self.db.session() as s:
            call = await s.get(Call, call_id)
            if call is None:
                raise LookupError(f"no call {call_id}")
            special = False
            if call.customer_id is not None:
                cust = await s.get(Customer, call.customer_id)
                special = bool(cust and cust.special_care)
            return CallFacts(call_id=call.id, uid=call.uid, caller_number=call.caller_number,
                             customer_id=call.customer_id, special_care=special, agent_pk=call.agent_pk)

    async def queue_rows(self) -> list[Queue]:
        async with self.db.session() as s:
            return list((await s.execute(select(Queue).order_by(Queue.name))).scalars())

    async def queue_enter(self, call_id: int, *, at: dt.datetime, queue: str, skill: str, priority: int,
                          requeued: bool, first: bool) -> None:
        fields: dict[str, Any] = {"state": CallState.QUEUED, "queue_name": queue, "skill": skill,
                                  "priority": priority}
        if first:
            fields["queued_at"] = at
        await self.timeline.update(call_id, **fields)
        kind = "queue.requeue" if requeued else "queue.enter"
        await self.timeline.add_event(call_id, kind, {"queue": queue, "skill": skill, "priority": priority}, at=at)

    async def offer_start(self, call_id: int, *, agent_pk: int, agent_id: str, endpoint: str, started: dt.datetime,
                          deadline: dt.datetime, attempt: int) -> int:
        async with self.db.begin() as s:
            offer = Offer(call_id=call_id, agent_pk=agent_pk, ring_started_at=started, deadline_at=deadline,
                          result=OfferResult.RINGING)
            s.add(offer)
            call = await s.get(Call, call_id)
            if call is not None:
                call.state = CallState.OFFERING
            await s.flush()
            offer_id = offer.id
        await self.timeline.add_event(call_id, "offer.ring", {
            "offer_id": offer_id, "agent_id": agent_id, "endpoint": endpoint, "attempt": attempt,
            "deadline": deadline.isoformat()}, at=started)
        return offer_id

    async def offer_not_answered(self, offer_id: int | None, *, call_id: int, agent_pk: int, agent_id: str,
                                 result: OfferResult, at: dt.datetime, ring_seconds: float, ring_total: float,
                                 limit_seconds: float, back_in_queue: bool) -> int | None:
        """Close the offer; for a no-answer or a rejection also store the violation. Returns its id."""
        violation_id = None
        async with self.db.begin() as s:
            if offer_id is not None:
                offer = await s.get(Offer, offer_id)
                if offer is not None:
                    offer.result, offer.ended_at = result, at
            call = await s.get(Call, call_id)
            if call is not None:
                call.ring_seconds_total = ring_total
                if back_in_queue and call.state is CallState.OFFERING:
                    call.state = CallState.QUEUED
            kind = VIOLATION_KINDS.get(result)
            if kind is not None:
                v = Violation(agent_pk=agent_pk, call_id=call_id, offer_id=offer_id, kind=kind, at=at,
                              detail=f"坐席{agent_id}响铃{ring_seconds:.1f}秒未接听（限{limit_seconds:g}秒）"
                              if result is OfferResult.NO_ANSWER else f"坐席{agent_id}拒接")
                s.add(v)
                await s.flush()
                violation_id = v.id
        await self.timeline.add_event(call_id, f"offer.{result.value}", {
            "offer_id": offer_id, "agent_id": agent_id, "ring_seconds": round(ring_seconds, 3),
            "violation_id": violation_id}, at=at)
        return violation_id

    async def offer_answered(self, offer_id: int | None, *, call_id: int, agent_pk: int, agent_id: str,
                             at: dt.datetime, ring_seconds: float, ring_total: float, waited: float,
                             apology: bool, greeting: str) -> None:
        async with self.db.begin() as s:
            if offer_id is not None:
                offer = await s.get(Offer, offer_id)
                if offer is not None:
                    offer.result, offer.answered_at = OfferResult.ANSWERED, at
            call = await s.get(Call, call_id)
            if call is not None:
                call.state = CallState.TALKING
                call.ring_seconds_total = ring_total
                if call.agent_pk is None:  # the first agent who answered owns the call (首问负责)
                    call.agent_pk, call.answered_at = agent_pk, at
        await self.timeline.add_event(call_id, "offer.answer", {
            "offer_id": offer_id, "agent_id": agent_id, "ring_seconds": round(ring_seconds, 3),
            "waited_seconds": round(waited, 3), "apology": apology}, at=at)
        await self.timeline.add_event(call_id, "script.greeting", {"text": greeting, "apology": apology}, at=at)

    async def offer_closed(self, offer_id: int | None, at: dt.datetime) -> None:
        if offer_id is None:
            return
        async with self.db.begin() as s:
            offer = await s.get(Offer, offer_id)
            if offer is not None and offer.ended_at is None:
                offer.ended_at = at

    async def event(self, call_id: int, kind: str, data: dict[str, Any], at: dt.datetime) -> None:
        await self.timeline.add_event(call_id, kind, data, at=at)

    async def update_call(self, call_id: int, **fields: Any) -> None:
        await self.timeline.update(call_id, **fields)
