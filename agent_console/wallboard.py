"""Wallboard figures for the supervisor: today's answer rate, service level, abandons, per-agent ring-within-3
compliance, and calls per hour. Live queue lengths and agent states come from the ACD, not from here.

Definitions (hotline-rules.md, 002 篇3):
- answer rate (接通率) = answered / (answered + abandoned), over calls that reached the queue;
- service level = calls answered within the ring limit (ring count x cadence) of entering the queue / queued
  calls that have an outcome (answered, abandoned or callback);
- compliance per agent = offers answered / offers that ended (answered, not answered in time, rejected).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from ivr.db import Database
from ivr.db.models import Agent, Call, Offer, OfferResult, Violation

_RESOLVED = (OfferResult.ANSWERED, OfferResult.NO_ANSWER, OfferResult.REJECTED)


def start_of_day(now: dt.datetime, zone: dt.tzinfo) -> dt.datetime:
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.timezone.utc)


def _pct(num: int, den: int) -> float | None:
    return round(100.0 * num / den, 1) if den else None


async def daily_stats(db: Database, *, now: dt.datetime, zone: dt.tzinfo, limit_seconds: float) -> dict[str, Any]:
    since = start_of_day(now, zone)
    async with db.session() as s:
        calls = (await s.execute(select(Call.queued_at, Call.answered_at, Call.ended_at, Call.outcome)
                                 .where(Call.queued_at.is_not(None), Call.queued_at >= since))).all()
        offer_rows = (await s.execute(
            select(Offer.agent_pk, Offer.result, func.count(Offer.id))
            .where(Offer.ring_started_at >= since).group_by(Offer.agent_pk, Offer.result))).all()
        violation_rows = (await s.execute(
            select(Violation.agent_pk, func.count(Violation.id)).where(Violation.at >= since)
            .group_by(Violation.agent_pk))).all()
        agents = {pk: (agent_id, name) for pk, agent_id, name in
                  (await s.execute(select(Agent.id, Agent.agent_id, Agent.name))).all()}

    answered = abandoned = callbacks = within = 0
    hours = [{"hour": h, "queued": 0, "answered": 0} for h in range(24)]
    for queued_at, answered_at, ended_at, outcome in calls:
        if queued_at is None:
            continue  # excluded by the query; keeps the type checker honest
        hour = queued_at.astimezone(zone).hour
        hours[hour]["queued"] += 1
        if answered_at is not None:
            answered += 1
            hours[hour]["answered"] += 1
            if (answered_at - queued_at).total_seconds() <= limit_seconds:
                within += 1
        elif outcome == "callback":
            callbacks += 1
        elif ended_at is not None:
            abandoned += 1

    per_agent: dict[int, dict[str, Any]] = {}
    for agent_pk, result, count in offer_rows:
        row = per_agent.setdefault(agent_pk, {"offers": 0, "answered": 0, "missed": 0, "violations": 0})
        if result in _RESOLVED:
            row["offers"] += count
        if result is OfferResult.ANSWERED:
            row["answered"] += count
        elif result in (OfferResult.NO_ANSWER, OfferResult.REJECTED):
            row["missed"] += count
    for agent_pk, count in violation_rows:
        per_agent.setdefault(agent_pk, {"offers": 0, "answered": 0, "missed": 0, "violations": 0})["violations"] \
            = count
    compliance = []
    for pk, row in sorted(per_agent.items(), key=lambda kv: agents.get(kv[0], ("", ""))[0]):
        agent_id, name = agents.get(pk, ("?", "?"))
        compliance.append({"agent_pk": pk, "agent_id": agent_id, "name": name, **row,
                           "compliance": _pct(row["answered"], row["offers"])})

    decided = answered + abandoned + callbacks
    return {
        "since": since.isoformat(), "limit_seconds": limit_seconds,
        "queued": len(calls), "answered": answered, "abandoned": abandoned, "callbacks": callbacks,
        "answer_rate": _pct(answered, answered + abandoned),
        "service_level": _pct(within, decided),
        "compliance": compliance,
        "hours": hours,
    }
