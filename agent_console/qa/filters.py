"""The QA list's filter form: query string <-> ScoreFilter, with a clear message for every bad value.

Pure (no I/O): the views pass in the choices (agents, rules) read from the database and the rubric. Dates
are calendar days in China Standard Time; "to" includes the whole day.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Mapping
from urllib.parse import urlencode

from agent_console.inputs import ascii_int
from recordings.qa.service import ScoreFilter

FIELDS = ("since", "until", "agent", "queue", "category", "team", "min", "max", "result", "failed_rule", "keyword",
          "must_review")
PAGE_SIZE = 50
MAX_KEYWORD = 50
KEYWORD_HINTS = ("投诉", "曝光", "12345", "媒体", "记者", "律师", "市长热线")


@dataclass(frozen=True)
class Choices:
    agents: list[tuple[int, str, str]] = field(default_factory=list)  # pk, 工号, name
    queues: list[tuple[str, str]] = field(default_factory=list)  # name, label
    categories: tuple[str, ...] = ()
    teams: list[str] = field(default_factory=list)
    rules: list[tuple[str, str]] = field(default_factory=list)  # rule id, title

    def agent_pk(self, agent_id: str) -> int | None:
        return next((pk for pk, aid, _ in self.agents if aid == agent_id), None)


@dataclass(frozen=True)
class Parsed:
    flt: ScoreFilter
    form: dict[str, str]  # what the user typed, to show the form again as it was
    errors: list[str]
    page: int


def day_start(day: dt.date, zone: dt.tzinfo) -> dt.datetime:
    """Midnight of a day in the hotline's timezone, in UTC (what the database stores)."""
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.timezone.utc)


def local_today(zone: dt.tzinfo, now: dt.datetime | None = None) -> dt.date:
    return (now or dt.datetime.now(dt.timezone.utc)).astimezone(zone).date()


def _date(text: str, label: str, errors: list[str]) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors.append(f"{label}“{text}”不是有效日期，请用 年-月-日（如 2026-03-01）")
        return None


def _number(text: str, label: str, errors: list[str]) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= 1000:
        errors.append(f"{label}“{text}”不是有效分数")
        return None
    return value


def parse_filter(query: Mapping[str, str], choices: Choices, zone: dt.tzinfo) -> Parsed:
    form = {k: str(query.get(k, "")).strip() for k in FIELDS}
    errors: list[str] = []
    since = _date(form["since"], "开始日期", errors)
    until = _date(form["until"], "结束日期", errors)
    if since and until and since > until:
        errors.append("开始日期不能晚于结束日期")
    agent_pk = None
    if form["agent"]:
        agent_pk = choices.agent_pk(form["agent"])
        if agent_pk is None:
            errors.append(f"没有工号为“{form['agent']}”的坐席")
    low = _number(form["min"], "最低分", errors)
    high = _number(form["max"], "最高分", errors)
    if low is not None and high is not None and low > high:
        errors.append("最低分不能高于最高分")
    passed = {"": None, "pass": True, "fail": False}.get(form["result"], None)
    if form["result"] not in ("", "pass", "fail", "pending", "unscorable"):
        errors.append(f"未知的质检结果“{form['result']}”")
    rule = form["failed_rule"] or None
    if rule and rule not in {r for r, _ in choices.rules}:
        errors.append(f"评分表中没有评分项“{rule}”")
    keyword = form["keyword"]
    if len(keyword) > MAX_KEYWORD:
        errors.append(f"关键词不能超过 {MAX_KEYWORD} 个字")
    for name, label in (("queue", "队列"), ("category", "来电分类"), ("team", "班组")):
        if len(form[name]) > 64:
            errors.append(f"{label}名称过长")
    page_text = str(query.get("page", "1")).strip()
    page = ascii_int(page_text, max_digits=5) or 1
    flt = ScoreFilter(
        since=day_start(since, zone) if since else None,
        until=day_start(until + dt.timedelta(days=1), zone) if until else None,
        agent_pk=agent_pk, passed=passed, must_review=True if form["must_review"] else None,
        min_total=low, max_total=high, failed_rule=rule, queue=form["queue"] or None,
        category=form["category"] or None, team=form["team"] or None, keyword=keyword or None,
        unscorable=True if form["result"] == "unscorable" else None,
        speech_pending=True if form["result"] == "pending" else None, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return Parsed(flt=flt, form=form, errors=errors, page=page)


def query_string(form: Mapping[str, str], **changes: object) -> str:
    """The form as a query string (empty fields left out), e.g. for paging and the CSV link."""
    values = {k: v for k, v in form.items() if v}
    values.update({k: str(v) for k, v in changes.items() if v not in (None, "")})
    return urlencode(values)
