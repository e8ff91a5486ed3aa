"""Team trends for supervisors: average score and pass rate per day and per agent, the most-failed rules.

Computed from the effective (reviewed) results, so an override shows up in the trend at once. Days are
calendar days in China Standard Time, the hotline's own clock, whatever the server's time zone.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from recordings.privacy import Viewer, may_review
from recordings.qa.exceptions import OwnCallsOnly
from recordings.qa.service import QaService, ScoreFilter, ScoreItem


@dataclass(frozen=True)
class Bucket:
    key: str  # a day (YYYY-MM-DD) or an agent's 工号
    label: str
    calls: int
    average: float
    pass_rate: float  # percent


@dataclass(frozen=True)
class RuleCount:
    rule_id: str
    title: str
    failed: int
    share: float  # percent of the scored calls


@dataclass(frozen=True)
class Trends:
    since: dt.datetime
    until: dt.datetime
    calls: int
    average: float | None
    pass_rate: float | None
    days: list[Bucket] = field(default_factory=list)
    agents: list[Bucket] = field(default_factory=list)
    rules: list[RuleCount] = field(default_factory=list)
    unscorable: int = 0  # calls with nothing to judge: counted here, not in calls, average or pass rate
    pending: int = 0  # calls whose speech rules wait for the transcript: counted here only, like unscorable

    def as_json(self) -> dict[str, Any]:
        def bucket(b: Bucket) -> dict[str, Any]:
            return {"key": b.key, "label": b.label, "calls": b.calls, "average": b.average, "pass_rate": b.pass_rate}

        return {"since": self.since.isoformat(), "until": self.until.isoformat(), "calls": self.calls,
                "average": self.average, "pass_rate": self.pass_rate, "days": [bucket(b) for b in self.days],
                "agents": [bucket(b) for b in self.agents],
                "rules": [{"id": r.rule_id, "title": r.title, "failed": r.failed, "share": r.share}
                          for r in self.rules], "unscorable": self.unscorable, "pending": self.pending}


def _bucket(key: str, label: str, items: list[ScoreItem]) -> Bucket:
    n = len(items)
    return Bucket(key=key, label=label, calls=n, average=round(sum(i.effective_total for i in items) / n, 1),
                  pass_rate=round(100.0 * sum(i.passed for i in items) / n, 1))


def summarize(items: list[ScoreItem], since: dt.datetime, until: dt.datetime,
              titles: dict[str, str], zone: dt.tzinfo) -> Trends:
    """Pure: the trend figures of a list of scored calls. Unscorable calls and those still waiting for their
    transcript are only counted: a partial total would pull the average down."""
    unscorable = sum(1 for i in items if i.unscorable)
    pending = sum(1 for i in items if i.speech_pending and not i.unscorable)
    items = [i for i in items if not i.unscorable and not i.speech_pending]
    if not items:
        return Trends(since=since, until=until, calls=0, average=None, pass_rate=None, unscorable=unscorable,
                      pending=pending)
    by_day: dict[str, list[ScoreItem]] = {}
    by_agent: dict[str, list[ScoreItem]] = {}
    names: dict[str, str] = {}
    for i in items:
        by_day.setdefault(i.started_at.astimezone(zone).strftime("%Y-%m-%d"), []).append(i)
        key = i.agent_id or "-"
        by_agent.setdefault(key, []).append(i)
        names[key] = f"{i.agent_id} {i.agent_name}".strip() or "-"
    failed = Counter(rule for i in items for rule in i.failed_rules)
    total = _bucket("all", "", items)
    return Trends(
        since=since, until=until, calls=total.calls, average=total.average, pass_rate=total.pass_rate,
        days=[_bucket(d, d[5:], by_day[d]) for d in sorted(by_day)],
        agents=sorted((_bucket(a, names[a], v) for a, v in by_agent.items()), key=lambda b: (b.average, b.key)),
        rules=[RuleCount(rule_id=r, title=titles.get(r, r), failed=n, share=round(100.0 * n / len(items), 1))
               for r, n in sorted(failed.items(), key=lambda kv: (-kv[1], kv[0]))], unscorable=unscorable,
        pending=pending)


async def team_trends(service: QaService, viewer: Viewer, since: dt.datetime, until: dt.datetime, *,
                      team: str | None = None, agent_pk: int | None = None) -> Trends:
    """Trends over [since, until) for QA roles; agents only get their own calls (use agent_pk=self)."""
    if not may_review(viewer.role) and agent_pk != viewer.agent_pk:
        raise OwnCallsOnly("an agent sees the trends of their own calls only")
    items = await service.all_scores(viewer, ScoreFilter(since=since, until=until, team=team or None,
                                                         agent_pk=agent_pk))
    titles = {r.id: r.title for r in service.rubric.spec.rules}
    return summarize(items, since, until, titles, service.settings.hotline.zone)
