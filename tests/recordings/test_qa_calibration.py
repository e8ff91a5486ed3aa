"""The disagreement report (grader calibration): per rule and per reviewer, which way reviewers changed the
machine's results, on real scores and reviews in the database."""

from __future__ import annotations

import datetime as dt

import pytest

from ivr.db import Database
from ivr.db.models import Role, utcnow
from ivr.settings import Settings
from recordings.privacy import Viewer
from recordings.qa.calibration import FALSE_ALARM, LESS, MISS, calibration_report, direction
from recordings.qa.exceptions import AccessDenied
from recordings.qa.rubric import Rubric
from recordings.qa.service import QaService
from recordings.qa.store import score_call
from tests.recordings.fixture_calls import load_fixture_calls
from tests.recordings.helpers import agent, finished_call, store_segments

FIXTURES = {c.name: c for c in load_fixture_calls()}


def test_direction() -> None:
    assert direction(0, False, 20, 20) == FALSE_ALARM
    assert direction(10, True, 5, 10) == MISS
    assert direction(5, False, 2, 10) == LESS
    assert direction(10, True, 10, 10) is None


async def test_disagreements_per_rule_and_reviewer(db: Database, settings: Settings, rubric: Rubric) -> None:
    calls: dict[str, int] = {}
    for hours, name in enumerate(("bu_gui_wo_guan", "gas_arrears_standard", "complaint_12345",
                                  "late_answer_no_apology", "praise_call"), start=1):
        ring = 25.0 if name == "late_answer_no_apology" else 4.0
        c = await finished_call(db, ring=ring, started=utcnow() - dt.timedelta(hours=hours))
        await store_segments(db, c.call_id, FIXTURES[name].segments)
        await score_call(db, c.call_id, rubric, settings)
        calls[name] = c.call_id
    svc = QaService(db, settings, rubric)
    qa = Viewer(await agent(db, "2001", Role.QA, name="孙质检"), Role.QA)
    boss = Viewer(await agent(db, "3001", Role.SUPERVISOR, name="王主管"), Role.SUPERVISOR)
    # The forbidden phrase was a recognition error (false alarm), then changed again: the latest counts.
    await svc.review_call(qa, calls["bu_gui_wo_guan"], rule_id="forbidden_phrases", points=10, comment="先改一半")
    await svc.review_call(qa, calls["bu_gui_wo_guan"], rule_id="forbidden_phrases", points=20, comment="识别错误")
    # The machine passed courtesy on a call where the agent's tone was rude (a miss).
    await svc.review_call(boss, calls["gas_arrears_standard"], rule_id="courtesy", points=4, comment="语气生硬")
    # The late call: apology points back only in part (the machine failed it, the reviewer gives more).
    await svc.review_call(boss, calls["late_answer_no_apology"], rule_id="apology_when_late", points=5,
                          comment="有一句抱歉，但不完整")
    # A reviewed call with no change: agreement.
    await svc.review_call(qa, calls["complaint_12345"], comment="已回访，客户满意")
    # praise_call: nobody looked at it, it is not in the report.

    now = utcnow()
    report = await calibration_report(svc, qa, now - dt.timedelta(days=1), now + dt.timedelta(hours=1))
    assert report.reviewed_calls == 4 and report.changed_calls == 3 and report.agreement == 25.0
    rules = {r.rule_id: r for r in report.rules}
    forbidden = rules["forbidden_phrases"]
    assert (forbidden.reviewed, forbidden.changed, forbidden.counts[FALSE_ALARM]) == (4, 1, 1)
    assert forbidden.calls == [calls["bu_gui_wo_guan"]] and forbidden.rate == 25.0
    assert rules["courtesy"].counts[MISS] == 1 and rules["courtesy"].calls == [calls["gas_arrears_standard"]]
    assert rules["apology_when_late"].counts["more"] == 1
    assert rules["apology_when_late"].reviewed == 1, "only where an apology was due"
    assert rules["greeting"].changed == 0 and rules["greeting"].rate == 0.0
    assert report.rules[0].changed == 1, "the most-changed rules first"
    people = {p.label: p for p in report.reviewers}
    assert (people["2001 孙质检"].calls, people["2001 孙质检"].changed) == (2, 1)
    assert people["3001 王主管"].counts == {FALSE_ALARM: 0, MISS: 1, "more": 1, LESS: 0}
    empty = await calibration_report(svc, qa, now + dt.timedelta(days=1), now + dt.timedelta(days=2))
    assert empty.reviewed_calls == 0 and empty.agreement is None
    with pytest.raises(AccessDenied):
        await calibration_report(svc, Viewer(await agent(db, "1024"), Role.AGENT), now, now)
