"""Grader calibration: where reviewers and the machine disagree, per rule and per reviewer.

A reviewer's override of a rule (qa_reviews with points, the latest per call and rule) is a disagreement with
the machine. Per rule: how many of the reviewed calls had it changed, in which direction (the machine failed a
rule the reviewer passed: a false alarm; the machine passed what the reviewer failed: a miss; or only points
moved), and which calls. Per reviewer the same counts, so a site sees both a rule that needs tuning and a
reviewer who grades apart from the others. Computed from the rows, nothing stored.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from ivr.db.models import Agent, Call, QaReview, QaScore
from recordings.privacy import Viewer, may_review
from recordings.qa.exceptions import ReviewRolesOnly
from recordings.qa.service import QaService

# What a reviewer did to a machine result.
FALSE_ALARM = "false_alarm"  # machine failed the rule, the reviewer gave full points
MISS = "miss"  # machine passed it, the reviewer took points
MORE = "more"  # both failed, the reviewer gave more points
LESS = "less"  # both failed, the reviewer gave fewer
DIRECTIONS = (FALSE_ALARM, MISS, MORE, LESS)


@dataclass(frozen=True)
class Change:
    call_id: int
    rule_id: str
    reviewer_pk: int | None
    machine: float
    reviewer: float
    max_points: float
    direction: str


@dataclass
class RuleLine:
    rule_id: str
    title: str
    reviewed: int = 0  # reviewed calls where the machine judged this rule (applicable, not pending)
    changed: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DIRECTIONS, 0))
    calls: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        """Percent of the reviewed calls where a reviewer changed this rule."""
        return round(100.0 * self.changed / self.reviewed, 1) if self.reviewed else None


@dataclass
class ReviewerLine:
    reviewer_pk: int | None
    label: str
    calls: int = 0  # calls this reviewer reviewed (any review)
    changed: int = 0  # rule results they changed
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(DIRECTIONS, 0))


@dataclass(frozen=True)
class Calibration:
    since: dt.datetime
    until: dt.datetime
    reviewed_calls: int
    changed_calls: int
    rules: list[RuleLine]
    reviewers: list[ReviewerLine]

    @property
    def agreement(self) -> float | None:
        """Percent of the reviewed calls where no reviewer changed any rule."""
        if not self.reviewed_calls:
            return None
        return round(100.0 * (self.reviewed_calls - self.changed_calls) / self.reviewed_calls, 1)


def direction(machine_points: float, machine_passed: bool, reviewer_points: float, max_points: float) -> str | None:
    """How a reviewer's points differ from the machine's result; None when they agree."""
    reviewer_passed = reviewer_points >= max_points
    if machine_passed and not reviewer_passed:
        return MISS
    if not machine_passed and reviewer_passed:
        return FALSE_ALARM
    if reviewer_points > machine_points:
        return MORE
    if reviewer_points < machine_points:
        return LESS
    return None


def summarize(scores: list[tuple[int, list[dict[str, Any]]]], reviews: dict[int, list[QaReview]],
              titles: dict[str, str], reviewer_labels: dict[int | None, str], since: dt.datetime,
              until: dt.datetime) -> Calibration:
    """Pure: scores as (call_id, results JSON) of the reviewed calls, their reviews by call id."""
    rules = {rid: RuleLine(rid, title) for rid, title in titles.items()}
    people: dict[int | None, ReviewerLine] = {}
    changed_calls = 0
    for call_id, results in scores:
        rows = sorted(reviews.get(call_id, []), key=lambda r: (r.at, r.id))
        latest: dict[str, QaReview] = {}
        for r in rows:
            people.setdefault(r.reviewer_pk, ReviewerLine(r.reviewer_pk, reviewer_labels.get(r.reviewer_pk, "-")))
            if r.rule_id and r.points is not None:
                latest[r.rule_id] = r
        for pk in {r.reviewer_pk for r in rows}:
            people[pk].calls += 1
        any_change = False
        for res in results:
            line = rules.get(res["id"])
            # The machine had no say on a rule that did not apply (unless a reviewer disagreed with that) or
            # that waited for the transcript: a reviewer's points there decide it, they do not correct it.
            if line is None or res.get("pending") or (not res.get("applicable", True) and res["id"] not in latest):
                continue
            line.reviewed += 1
            review = latest.get(res["id"])
            if review is None or review.points is None:
                continue
            how = direction(res["points"], bool(res["passed"]), review.points, res["max_points"])
            if how is None:
                continue
            any_change = True
            line.changed += 1
            line.counts[how] += 1
            line.calls.append(call_id)
            person = people[review.reviewer_pk]
            person.changed += 1
            person.counts[how] += 1
        changed_calls += any_change
    ordered = sorted(rules.values(), key=lambda r: (-(r.rate or 0.0), -r.changed, r.rule_id))
    return Calibration(since=since, until=until, reviewed_calls=len(scores), changed_calls=changed_calls,
                       rules=ordered, reviewers=sorted(people.values(), key=lambda p: (-p.changed, p.label)))


async def calibration_report(service: QaService, viewer: Viewer, since: dt.datetime,
                             until: dt.datetime) -> Calibration:
    """The disagreement report over calls started in [since, until) under the current rubric: QA roles only
    (it names reviewers). Only reviewed calls count: a call nobody looked at neither agrees nor disagrees."""
    if not may_review(viewer.role):
        raise ReviewRolesOnly(f"role {viewer.role.value} may not see the calibration report")
    version = service.rubric.version
    async with service.db.session() as s:
        rows = (await s.execute(
            select(QaScore.id, QaScore.call_id, QaScore.results).join(Call, Call.id == QaScore.call_id)
            .where(QaScore.rubric_version == version, Call.started_at >= since, Call.started_at < until,
                   select(QaReview.id).where(QaReview.score_id == QaScore.id).exists())
            .order_by(Call.started_at, Call.id))).all()
        by_score: dict[int, list[QaReview]] = {}
        ids = [sid for sid, _, _ in rows]
        for chunk in range(0, len(ids), 500):
            for r in (await s.execute(select(QaReview).where(QaReview.score_id.in_(ids[chunk:chunk + 500])))
                      ).scalars():
                by_score.setdefault(r.score_id, []).append(r)
        pks = {r.reviewer_pk for rs in by_score.values() for r in rs if r.reviewer_pk is not None}
        agents = {a.id: a for a in (await s.execute(select(Agent).where(Agent.id.in_(pks)))).scalars()} if pks else {}
    labels: dict[int | None, str] = {pk: f"{a.agent_id} {a.name}".strip() for pk, a in agents.items()}
    titles = {r.id: r.title for r in service.rubric.spec.rules}
    call_of = {sid: cid for sid, cid, _ in rows}
    reviews = {call_of[sid]: rs for sid, rs in by_score.items()}
    return summarize([(cid, list(results)) for _, cid, results in rows], reviews, titles, labels, since, until)
