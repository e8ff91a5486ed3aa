"""What the console's QA pages call: list and filter scored calls, one call's detail with segments and rule
evidence, reviews (overrides and comments), the must-review queue, CSV export, opening the audio.

Every method takes the Viewer (agent row id + role) and applies recordings/privacy.py: masking, ownership,
and a recording_access row for each transcript view, audio open and exported call.

Overrides: a review with points replaces that rule's points (the latest review per rule wins); giving an
instant-fail rule its full points lifts the instant fail (the reviewer found the hit was not real). A review
without a rule id is the reviewer's conclusion on the whole call and takes it off the must-review queue.

Keyword search looks in the transcript as the viewer may see it: a keyword with digits in it (12345, a phone
number) is matched against the masked text for roles without the right to see personal numbers, so a search
cannot be used to find out a masked number, and it also finds digits spoken as Chinese numerals (幺二三四五).
"""

from __future__ import annotations

import csv
import datetime as dt
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Select, func, select

from ivr.db import Database
from ivr.db.models import (
    Agent,
    Call,
    QaReview,
    QaScore,
    Recording,
    Role,
    TranscriptSegment,
    utcnow,
)
from ivr.settings import Settings
from recordings.privacy import (
    Viewer,
    exports_pii,
    log_access,
    mask_evidence,
    mask_phone,
    mask_text,
    mask_words,
    may_export,
    may_open_call,
    may_review,
    sees_pii,
)
from recordings.qa.exceptions import (
    AgentsCannotExport,
    CallNotFound,
    CommentRequired,
    EmptyReview,
    NotScored,
    OwnCallsOnly,
    PointsOutOfRange,
    ReasonRequired,
    RecordingNotFound,
    RecordingPurged,
    ReviewRolesOnly,
    ScoreNotFound,
    UnknownRule,
    WholeCallHasNoPoints,
)
from recordings.qa.model import NO_AGENT_SPEECH, SHORT_TALK
from recordings.qa.rubric import Rubric
from recordings.qa.store import answer_offset
from recordings.qa.text import DIGIT_CHARS, find_digits


@dataclass(frozen=True)
class ScoreFilter:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    agent_pk: int | None = None
    passed: bool | None = None  # on the effective (reviewed) result
    must_review: bool | None = None
    reviewed: bool | None = None
    min_total: float | None = None
    max_total: float | None = None
    failed_rule: str | None = None
    queue: str | None = None  # calls.queue_name
    category: str | None = None  # calls.category (set at wrap-up)
    team: str | None = None  # agents.team of the answering agent
    keyword: str | None = None  # a word in the transcript (either speaker)
    unscorable: bool | None = None  # True: only the calls with nothing to judge; False: only those with a verdict
    spot_check: bool | None = None  # drawn for the spot-check list (抽检)
    speech_pending: bool | None = None  # scored from the timeline, the speech rules waiting for the transcript
    rubric_version: str | None = None  # default: the service's current rubric
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class ScoreItem:
    score_id: int
    call_id: int
    call_uid: str
    started_at: dt.datetime
    talk_seconds: float | None
    agent_pk: int | None
    agent_id: str
    agent_name: str
    caller_number: str
    rubric_version: str
    total: float
    effective_total: float
    max_total: float
    passed: bool
    instant_fail: bool
    must_review: bool
    reviewed: bool
    review_reasons: tuple[str, ...]
    failed_rules: tuple[str, ...]
    queue: str = ""
    category: str = ""
    unscorable: str = ""  # why the call has no verdict (recordings/qa/model.py UNSCORABLE), "" when it has one
    spot_check: bool = False
    speech_pending: bool = False  # scored from the timeline: the speech rules wait for the transcript
    verdict: str = ""  # one of VERDICTS, after the reviewers' overrides


@dataclass(frozen=True)
class CallDetail:
    call: dict[str, Any]
    recordings: list[dict[str, Any]]
    segments: list[dict[str, Any]]
    score: ScoreItem | None
    rules: list[dict[str, Any]]  # per rule: results JSON + "override" (latest review points or None)
    reviews: list[dict[str, Any]] = field(default_factory=list)
    masked: bool = True


# What a scored call's result is: pass / fail, "pending" (the speech rules wait for the transcript and the pass
# score is still reachable), "unscorable" (nothing to judge).
VERDICTS = ("pass", "fail", "pending", "unscorable")
# The export's words for model.UNSCORABLE (the pages take theirs from the QA catalog).
UNSCORABLE_CSV = {SHORT_TALK: "通话过短", NO_AGENT_SPEECH: "无坐席语音"}
VERDICT_CSV = {"pass": "是", "fail": "否", "pending": "待转写", "unscorable": "无法评分"}


def has_digit(text: str) -> bool:
    """Digits as masking sees them: ASCII, full-width and Chinese numerals."""
    return any(ch in DIGIT_CHARS or unicodedata.normalize("NFKC", ch).isdigit() for ch in text)


def keyword_in(keyword: str, text: str) -> bool:
    """The keyword as written, or (all digits) as spoken: 12345 is found in 打幺二三四五投诉."""
    if keyword.lower() in text.lower():
        return True
    return keyword.isascii() and keyword.isdigit() and find_digits(keyword, text) is not None


def _overrides(reviews: list[QaReview]) -> dict[str, float]:
    latest: dict[str, float] = {}
    for r in sorted(reviews, key=lambda r: (r.at, r.id)):
        if r.rule_id and r.points is not None:
            latest[r.rule_id] = r.points
    return latest


class QaService:
    def __init__(self, db: Database, settings: Settings, rubric: Rubric) -> None:
        self.db = db
        self.settings = settings
        self.rubric = rubric

    # --- reading ---------------------------------------------------------------------------------------

    def _effective(self, sc: QaScore, reviews: list[QaReview]) -> tuple[float, str, bool, tuple[str, ...]]:
        """(total, verdict, instant_fail, failed rule ids) after the reviewers' overrides. The verdict is one of
        VERDICTS: a rule still waiting for the transcript keeps the call "pending" unless the points already
        lost make the pass score unreachable; a reviewer's points on such a rule decide it."""
        over = _overrides(reviews)
        total, instant, failed, open_points = 0.0, False, [], 0.0
        for r in sc.results:
            pts = over.get(r["id"], r["points"])
            total += pts
            if r.get("pending") and r["id"] not in over:
                open_points += r["max_points"]
            lifted = r["id"] in over and over[r["id"]] >= r["max_points"]
            if r.get("instant_fail") and not lifted:
                instant = True
            if (not r["passed"] and r["id"] not in over) or (r["id"] in over and over[r["id"]] < r["max_points"]):
                failed.append(r["id"])
        pass_score = self.rubric.spec.pass_score
        if sc.rubric_version != self.rubric.version and not over:
            old = "unscorable" if sc.unscorable else "pass" if sc.passed else \
                "pending" if sc.speech_pending and not sc.instant_fail else "fail"
            return round(total, 2), old, sc.instant_fail, tuple(failed)
        total = round(total, 2)
        if sc.unscorable:
            verdict = "unscorable"
        elif instant or total + open_points < pass_score:
            verdict = "fail"
        elif open_points:
            verdict = "pending"
        else:
            verdict = "pass" if total >= pass_score else "fail"
        return total, verdict, instant, tuple(failed)

    def _item(self, viewer: Viewer, sc: QaScore, call: Call, agent: Agent | None,
              reviews: list[QaReview]) -> ScoreItem:
        total, verdict, instant, failed = self._effective(sc, reviews)
        number = call.caller_number if sees_pii(viewer.role) else mask_phone(call.caller_number)
        talk = (call.ended_at - call.answered_at).total_seconds() if call.ended_at and call.answered_at else None
        return ScoreItem(score_id=sc.id, call_id=call.id, call_uid=call.uid, started_at=call.started_at,
                         talk_seconds=talk, agent_pk=call.agent_pk, agent_id=agent.agent_id if agent else "",
                         agent_name=agent.name if agent else "", caller_number=number,
                         rubric_version=sc.rubric_version, total=sc.total, effective_total=total,
                         max_total=sc.max_total, passed=verdict == "pass", instant_fail=instant,
                         must_review=sc.must_review, reviewed=any(not r.rule_id for r in reviews),
                         review_reasons=tuple(str(x) for x in sc.review_reasons), failed_rules=failed,
                         queue=call.queue_name, category=call.category, unscorable=sc.unscorable,
                         spot_check=sc.spot_check, speech_pending=sc.speech_pending, verdict=verdict)

    def _select(self, viewer: Viewer, flt: ScoreFilter) -> Select[Any]:
        """The SQL part of a filter: everything that does not depend on reviewers' overrides."""
        version = flt.rubric_version or self.rubric.version
        q = (select(QaScore, Call, Agent).join(Call, Call.id == QaScore.call_id)
             .outerjoin(Agent, Agent.id == Call.agent_pk).where(QaScore.rubric_version == version))
        if viewer.role is Role.AGENT:
            q = q.where(Call.agent_pk == viewer.agent_pk)
        if flt.agent_pk is not None:
            q = q.where(Call.agent_pk == flt.agent_pk)
        if flt.since is not None:
            q = q.where(Call.started_at >= flt.since)
        if flt.until is not None:
            q = q.where(Call.started_at < flt.until)
        if flt.must_review is not None:
            q = q.where(QaScore.must_review.is_(flt.must_review))
        if flt.unscorable is not None:
            q = q.where((QaScore.unscorable != "") if flt.unscorable else (QaScore.unscorable == ""))
        if flt.spot_check is not None:
            q = q.where(QaScore.spot_check.is_(flt.spot_check))
        if flt.speech_pending is not None:
            q = q.where(QaScore.speech_pending.is_(flt.speech_pending))
        if flt.queue:
            q = q.where(Call.queue_name == flt.queue)
        if flt.category:
            q = q.where(Call.category == flt.category)
        if flt.team:
            q = q.where(Agent.team == flt.team)
        if flt.keyword and not has_digit(flt.keyword):
            # Masking only touches digits, so a keyword without any matches the same calls in SQL.
            q = q.where(select(TranscriptSegment.id).where(
                TranscriptSegment.call_id == Call.id,
                TranscriptSegment.text.contains(flt.keyword, autoescape=True)).exists())
        return q

    @staticmethod
    def _needs_python(flt: ScoreFilter) -> bool:
        """Filters that SQL cannot answer: the reviewed result, and digit keywords (masked / spoken digits)."""
        digits = bool(flt.keyword) and has_digit(flt.keyword or "")
        return digits or any(v is not None for v in (flt.passed, flt.reviewed, flt.min_total, flt.max_total,
                                                     flt.failed_rule))

    async def _keyword_hits(self, viewer: Viewer, call_ids: list[int], keyword: str) -> set[int]:
        mask = not sees_pii(viewer.role)
        hits: set[int] = set()
        async with self.db.session() as s:
            for chunk in range(0, len(call_ids), 500):
                rows = await s.execute(select(TranscriptSegment.call_id, TranscriptSegment.text).where(
                    TranscriptSegment.call_id.in_(call_ids[chunk:chunk + 500])))
                for call_id, text in rows.all():
                    if call_id not in hits and keyword_in(keyword, mask_text(text) if mask else text):
                        hits.add(call_id)
        return hits

    async def _items(self, viewer: Viewer, q: Select[Any]) -> list[ScoreItem]:
        async with self.db.session() as s:
            rows = (await s.execute(q.order_by(Call.started_at.desc(), Call.id.desc()))).all()
            ids = [sc.id for sc, _, _ in rows]
            reviews: dict[int, list[QaReview]] = {}
            for chunk in range(0, len(ids), 500):
                for r in (await s.execute(select(QaReview).where(QaReview.score_id.in_(ids[chunk:chunk + 500])))
                          ).scalars():
                    reviews.setdefault(r.score_id, []).append(r)
        return [self._item(viewer, sc, call, agent, reviews.get(sc.id, [])) for sc, call, agent in rows]

    async def _query(self, viewer: Viewer, flt: ScoreFilter) -> list[ScoreItem]:
        items = await self._items(viewer, self._select(viewer, flt))
        if flt.keyword and has_digit(flt.keyword):
            hits = await self._keyword_hits(viewer, [i.call_id for i in items], flt.keyword)
            items = [i for i in items if i.call_id in hits]
        # Filters on the effective (reviewed) result are applied here: they depend on the overrides.
        return [i for i in items
                # An unscorable call neither passes nor fails; a pending one fails only once it cannot pass.
                if (flt.passed is None or i.verdict == ("pass" if flt.passed else "fail"))
                and (flt.reviewed is None or i.reviewed is flt.reviewed)
                and (flt.min_total is None or i.effective_total >= flt.min_total)
                and (flt.max_total is None or i.effective_total <= flt.max_total)
                and (flt.failed_rule is None or flt.failed_rule in i.failed_rules)]

    async def list_scores(self, viewer: Viewer, flt: ScoreFilter = ScoreFilter()) -> tuple[list[ScoreItem], int]:
        """One page of scored calls (newest first) and the number of matches.

        Plain listings page in SQL; filters on the reviewed result (passed, totals, failed rule, reviewed)
        read every score in the date range, so give those a date range.
        """
        if not self._needs_python(flt):
            q = self._select(viewer, flt)
            async with self.db.session() as s:
                total = (await s.execute(select(func.count()).select_from(q.subquery()))).scalar_one()
            return await self._items(viewer, q.limit(flt.limit).offset(flt.offset)), total
        items = await self._query(viewer, flt)
        return items[flt.offset:flt.offset + flt.limit], len(items)

    async def all_scores(self, viewer: Viewer, flt: ScoreFilter) -> list[ScoreItem]:
        """Every match, no paging (trends, reports): give it a date range."""
        return await self._query(viewer, replace(flt, limit=10**9, offset=0))

    async def review_queue(self, viewer: Viewer, limit: int = 50) -> list[ScoreItem]:
        """Calls that must be reviewed and have no whole-call review yet, oldest first."""
        if not may_review(viewer.role):
            raise ReviewRolesOnly(f"role {viewer.role.value} may not work the review queue")
        items = await self._query(viewer, ScoreFilter(must_review=True, reviewed=False))
        return sorted(items, key=lambda i: (i.started_at, i.call_id))[:limit]

    async def spot_checks(self, viewer: Viewer, limit: int = 50) -> list[ScoreItem]:
        """The spot-check list (抽检): passing calls drawn by the rubric's sample, not yet given a whole-call
        review, oldest first. Apart from the must-review queue: nothing is wrong with them as far as the
        machine can tell, which is what a person checks."""
        if not may_review(viewer.role):
            raise ReviewRolesOnly(f"role {viewer.role.value} may not work the spot-check list")
        items = await self._query(viewer, ScoreFilter(spot_check=True, reviewed=False))
        return sorted(items, key=lambda i: (i.started_at, i.call_id))[:limit]

    async def call_detail(self, viewer: Viewer, call_id: int, rubric_version: str | None = None) -> CallDetail:
        """Call facts, recordings, segments and the score with evidence; logged as a transcript view."""
        version = rubric_version or self.rubric.version
        mask = not sees_pii(viewer.role)
        async with self.db.begin() as s:
            call = await s.get(Call, call_id)
            if call is None:
                raise CallNotFound(f"no call {call_id}", call_id=call_id)
            if not may_open_call(viewer, call.agent_pk):
                raise OwnCallsOnly(f"call {call_id} is not this agent's", call_id=call_id)
            agent = await s.get(Agent, call.agent_pk) if call.agent_pk is not None else None
            recs = list((await s.execute(select(Recording).where(Recording.call_id == call_id)
                                         .order_by(Recording.direction))).scalars())
            segs = list((await s.execute(select(TranscriptSegment).where(TranscriptSegment.call_id == call_id)
                                         .order_by(TranscriptSegment.start_seconds, TranscriptSegment.id))).scalars())
            sc = (await s.execute(select(QaScore).where(QaScore.call_id == call_id,
                                                        QaScore.rubric_version == version))).scalar_one_or_none()
            reviews = list((await s.execute(select(QaReview).where(QaReview.score_id == sc.id)
                                            .order_by(QaReview.at, QaReview.id))).scalars()) if sc else []
            pks = {r.reviewer_pk for r in reviews if r.reviewer_pk is not None}
            reviewers = {a.id: a for a in (await s.execute(select(Agent).where(Agent.id.in_(pks)))).scalars()
                         } if pks else {}
            offset = await answer_offset(s, call_id)
            await log_access(s, viewer, call_id=call_id, action="view_transcript")
        segments = [{"id": g.id, "speaker": g.speaker, "start": g.start_seconds, "end": g.end_seconds,
                     "text": mask_text(g.text) if mask else g.text, "confidence": g.confidence,
                     "words": mask_words(list(g.words)) if mask else list(g.words)} for g in segs]
        item = self._item(viewer, sc, call, agent, reviews) if sc is not None else None
        over = _overrides(reviews)
        rules = [{**r, "override": over.get(r["id"])}
                 for r in ((mask_evidence(sc.results) if mask else sc.results) if sc is not None else [])]
        number = mask_phone(call.caller_number) if mask else call.caller_number
        return CallDetail(
            call={"id": call.id, "uid": call.uid, "started_at": call.started_at, "answered_at": call.answered_at,
                  "ended_at": call.ended_at, "caller_number": number, "queue": call.queue_name,
                  "agent_id": agent.agent_id if agent else "", "agent_name": agent.name if agent else "",
                  "hangup_side": call.hangup_side.value if call.hangup_side else None,
                  "ring_seconds_total": call.ring_seconds_total, "category": call.category,
                  # evidence is timed from the agent's answer; the audio and the segments from its start
                  "answer_offset": round(offset, 3)},
            recordings=[{"id": r.id, "direction": r.direction, "duration": r.duration_seconds, "sha256": r.sha256,
                         "size": r.size_bytes, "purged": r.purged_at is not None} for r in recs],
            segments=segments, score=item, rules=rules,
            reviews=[{"id": r.id, "rule_id": r.rule_id, "points": r.points,
                      "comment": mask_text(r.comment) if mask else r.comment, "reviewer_pk": r.reviewer_pk,
                      "reviewer_id": reviewers[r.reviewer_pk].agent_id if r.reviewer_pk in reviewers else "",
                      "reviewer_name": reviewers[r.reviewer_pk].name if r.reviewer_pk in reviewers else "",
                      "at": r.at} for r in reviews],
            masked=mask)

    async def open_recording(self, viewer: Viewer, recording_id: int, *, action: str = "play") -> Path:
        """The audio file to stream; checks ownership, refuses purged files, logs the listen.

        action names the access in the log: "play" for a listen from the start, "seek" for the further byte
        ranges a player asks for while the listener jumps around (each request is checked and logged)."""
        async with self.db.begin() as s:
            rec = await s.get(Recording, recording_id)
            if rec is None:
                raise RecordingNotFound(f"no recording {recording_id}", recording_id=recording_id)
            call = await s.get(Call, rec.call_id)
            if not may_open_call(viewer, call.agent_pk if call else None):
                raise OwnCallsOnly(f"recording {recording_id} is not of this agent's calls", call_id=rec.call_id)
            if rec.purged_at is not None:
                purged_on = f"{rec.purged_at.astimezone(self.settings.hotline.zone):%Y-%m-%d}"
                raise RecordingPurged(f"recording {recording_id} was purged on {purged_on}", purged_on=purged_on)
            await log_access(s, viewer, call_id=rec.call_id, recording_id=rec.id, action=action)
            return Path(rec.path)

    # --- writing ---------------------------------------------------------------------------------------

    async def add_review(self, viewer: Viewer, score_id: int, *, rule_id: str = "", points: float | None = None,
                         comment: str = "") -> int:
        """Store an override (rule_id + points) or a comment; rule_id "" is a conclusion on the whole call."""
        if not may_review(viewer.role):
            raise ReviewRolesOnly(f"role {viewer.role.value} may not review scores")
        if rule_id == "" and points is not None:
            raise WholeCallHasNoPoints("a review of the whole call changes no points: name the rule")
        if rule_id == "" and not comment.strip():
            raise CommentRequired("a review of the whole call needs a comment")
        async with self.db.begin() as s:
            sc = await s.get(QaScore, score_id)
            if sc is None:
                raise ScoreNotFound(f"no score {score_id}", score_id=score_id)
            if rule_id:
                rule = next((r for r in sc.results if r["id"] == rule_id), None)
                if rule is None:
                    raise UnknownRule(f"rule {rule_id!r} is not in rubric {sc.rubric_version}", rule_id=rule_id[:64],
                                      rubric_version=sc.rubric_version)
                if points is not None and not 0 <= points <= rule["max_points"]:
                    raise PointsOutOfRange(f"{rule_id}: points must be between 0 and {rule['max_points']:g}",
                                           title=rule["title"], max_points=f"{rule['max_points']:g}")
                if points is not None and not comment.strip():
                    raise ReasonRequired(f"{rule_id}: changing the points needs a reason", title=rule["title"])
                if points is None and not comment.strip():
                    raise EmptyReview("give points or a comment")
            review = QaReview(score_id=score_id, reviewer_pk=viewer.agent_pk, rule_id=rule_id, points=points,
                              comment=comment.strip(), at=utcnow())
            s.add(review)
            await s.flush()
            return review.id

    async def review_call(self, viewer: Viewer, call_id: int, *, rule_id: str = "", points: float | None = None,
                          comment: str = "") -> int:
        """add_review on the call's score under the current rubric (what the call's QA page shows)."""
        if not may_review(viewer.role):
            raise ReviewRolesOnly(f"role {viewer.role.value} may not review scores")
        async with self.db.session() as s:
            score_id = (await s.execute(select(QaScore.id).where(
                QaScore.call_id == call_id, QaScore.rubric_version == self.rubric.version))).scalar_one_or_none()
        if score_id is None:
            raise NotScored(f"call {call_id} has no score under rubric {self.rubric.version}", call_id=call_id,
                            rubric_version=self.rubric.version)
        return await self.add_review(viewer, score_id, rule_id=rule_id, points=points, comment=comment)

    # --- export ----------------------------------------------------------------------------------------

    async def export_csv(self, viewer: Viewer, flt: ScoreFilter, out: TextIO) -> int:
        """Write matching scores as CSV (UTF-8 text; add a BOM for Excel); returns rows written."""
        if not may_export(viewer.role):
            raise AgentsCannotExport("agents may not export QA data")
        items = await self._query(viewer, replace(flt, limit=10**9, offset=0))
        unmask = exports_pii(viewer.role)
        results: dict[int, list[Any]] = {}
        numbers: dict[int, str] = {}
        async with self.db.session() as s:
            for chunk in range(0, len(items), 500):
                part = items[chunk:chunk + 500]
                for sc in (await s.execute(select(QaScore).where(QaScore.id.in_([i.score_id for i in part])))
                           ).scalars():
                    results[sc.id] = sc.results
                for cid, num in (await s.execute(select(Call.id, Call.caller_number).where(
                        Call.id.in_([i.call_id for i in part])))).all():
                    numbers[cid] = num
        w = csv.writer(out)
        w.writerow(["通话ID", "开始时间(UTC)", "坐席工号", "坐席姓名", "来电号码", "通话时长(秒)", "队列", "来电分类",
                    "评分表版本",
                    "得分", "复核后得分", "满分", "合格", "一票否决", "需复核", "已复核", "复核原因", "未通过项", "证据",
                    "无法评分"])
        titles = {r.id: r.title for r in self.rubric.spec.rules}
        for i in items:
            rows = results.get(i.score_id, [])
            if not unmask:
                rows = mask_evidence(rows)
            evidence = "；".join(f"{r['title']}[{e['start']:g}-{e['end']:g}s {e['source']}] {e['text']}"
                                for r in rows if r["id"] in i.failed_rules for e in r.get("evidence", []))
            raw = numbers.get(i.call_id, "")
            number = raw if unmask else mask_phone(raw)
            w.writerow([i.call_id, i.started_at.strftime("%Y-%m-%d %H:%M:%S"), i.agent_id, i.agent_name, number,
                        "" if i.talk_seconds is None else round(i.talk_seconds), i.queue, i.category,
                        i.rubric_version, i.total,
                        i.effective_total, i.max_total, VERDICT_CSV.get(i.verdict, "否"),
                        "是" if i.instant_fail else "否",
                        "是" if i.must_review else "否", "是" if i.reviewed else "否", "；".join(i.review_reasons),
                        "、".join(titles.get(f, f) for f in i.failed_rules), evidence,
                        UNSCORABLE_CSV.get(i.unscorable, i.unscorable)])
        if items:
            async with self.db.begin() as s:
                for i in items:
                    await log_access(s, viewer, call_id=i.call_id, action="export")
        return len(items)
