"""The scorer: (transcript segments, call facts, rubric, settings) -> QaResult. Pure and deterministic.

The same inputs always give the same result, which is what lets QA staff trust a score and lets
`hotline qa rescore` recompute history under a rubric version.
"""

from __future__ import annotations

import hashlib
import json

from ivr.settings import Settings
from recordings.qa.context import Context
from recordings.qa.model import NO_AGENT_SPEECH, SHORT_TALK, CallFacts, QaResult, RuleResult, Segment
from recordings.qa.rubric import Rubric
from recordings.qa.rules import RULE_KINDS, pending


def fingerprint(rubric: Rubric, settings: Settings) -> str:
    """Hash of everything a score depends on: the rubric files and the settings the rules read."""
    hs = settings.hotline
    used = {"rubric": rubric.hash, "greeting": hs.greeting, "name": hs.name,
            "ring_limit": settings.ring.limit_seconds, "ring_count": settings.ring.count}
    return hashlib.sha256(json.dumps(used, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def unscorable(segments: list[Segment], facts: CallFacts, rubric: Rubric, *, transcribed: bool = True) -> str:
    """Why the call has nothing to judge (model.UNSCORABLE), or "". A call the agent hung up is judged, and so is
    one with an instant fail (see score). Without a transcript only the talk time can tell."""
    spec = rubric.spec.unscorable
    if facts.hangup_side == "agent":
        return ""
    if facts.talk_seconds is not None and facts.talk_seconds < spec.min_talk_seconds:
        return SHORT_TALK
    if transcribed and spec.need_agent_speech and not any(s.speaker == "agent" for s in segments):
        return NO_AGENT_SPEECH
    return ""


def score(segments: list[Segment] | None, facts: CallFacts, rubric: Rubric, settings: Settings) -> QaResult:
    """Score a call. segments None: there is no transcript yet (no speech model installed, or the job is
    waiting): the timeline rules are decided now and the speech rules are pending (model.RuleResult.pending)."""
    transcribed = segments is not None
    ordered = sorted(segments or [], key=lambda s: (s.start, s.end, s.speaker))
    ctx = Context(segments=ordered, facts=facts, rubric=rubric, settings=settings, transcribed=transcribed)
    results: list[RuleResult] = []
    for spec in rubric.spec.rules:
        kind = RULE_KINDS[spec.kind]
        if not transcribed and kind.needs == "speech":
            results.append(pending(spec))
        else:
            results.append(kind.run(ctx, spec, rubric.params[spec.id]))
    # An instant fail in a short call (a forbidden phrase, then the caller gone) is the agent's to answer for.
    why = "" if any(r.instant_fail for r in results) else unscorable(ordered, facts, rubric, transcribed=transcribed)
    return summarize(results, rubric, settings, facts, unscorable=why)


def drawn_for_spot_check(call_id: int | None, rubric: Rubric) -> bool:
    """The spot-check sample (抽检): a fixed share of calls by a hash of the call and the rubric version, so a
    rescore draws the same calls and nobody can steer which calls are drawn."""
    percent = rubric.spec.review.spot_check_percent
    if call_id is None or percent <= 0:
        return False
    digest = hashlib.sha256(f"spot-check:{rubric.version}:{call_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10000 < percent * 100


def summarize(results: list[RuleResult], rubric: Rubric, settings: Settings, facts: CallFacts | None = None, *,
              unscorable: str = "") -> QaResult:
    """Totals, the verdict and the review policy's reasons (rubric `review`) from per-rule results.

    The must-review queue gets every failed call, every instant fail, risk words and low satisfaction by
    default; each reason is written down for the queue page. An unscorable call keeps its rule results (what
    was there to see) but has no verdict: it neither passes nor fails, and only what a person must hear
    regardless (risk words, an unhappy caller) sends it to review. A passing call outside the queue may be
    drawn for the spot-check list.
    """
    total = round(sum(r.points for r in results), 2)
    max_total = rubric.max_total
    instant = any(r.instant_fail for r in results) and not unscorable
    spec = rubric.spec
    policy = spec.review
    # Pending speech rules could still earn their points: a verdict only when it cannot change any more.
    open_points = sum(r.max_points for r in results if r.pending)
    speech_pending = any(r.pending for r in results)
    best = total + open_points
    passed = not instant and total >= spec.pass_score and not unscorable and not speech_pending
    reasons: list[str] = []
    if instant and (policy.instant_fail or policy.failed):
        what = "、".join(f"{r.title}（{r.detail.removesuffix('，一票否决')}）" if r.detail else r.title
                         for r in results if r.instant_fail)
        reasons.append(f"一票否决：{what}")
    if not unscorable and not instant:
        if policy.failed and best < spec.pass_score:
            reasons.append(f"不合格：得分 {total:g} 低于合格线 {spec.pass_score:g}" if not speech_pending else
                           f"不合格：已扣 {max_total - best:g} 分，转写前已低于合格线 {spec.pass_score:g}")
        elif policy.below is not None and best < policy.below:
            reasons.append(f"得分 {total:g} 低于 {policy.below:g}")
    for r in results:
        if not r.review or (r.kind == "complaint" and not policy.risk_words):
            continue
        if not unscorable or r.kind == "complaint":
            reasons.append(f"{r.title}：{r.detail}")
    rating = facts.satisfaction if facts is not None else None
    if rating is not None and 1 <= rating <= policy.satisfaction_at_most:
        reasons.append(f"客户满意度评价 {rating} 分（{SATISFACTION.get(rating, '')}）")
    spot = passed and not reasons and drawn_for_spot_check(facts.call_id if facts else None, rubric)
    return QaResult(rubric_version=rubric.version, rubric_hash=fingerprint(rubric, settings), total=total,
                    max_total=max_total, passed=passed, instant_fail=instant, must_review=bool(reasons),
                    review_reasons=tuple(reasons), rules=tuple(results), unscorable=unscorable, spot_check=spot,
                    speech_pending=speech_pending)


# The survey's words for its keys (call_flows/*.yaml: 非常满意请按5 ... 非常不满意请按1).
SATISFACTION = {1: "非常不满意", 2: "不满意", 3: "一般", 4: "满意", 5: "非常满意"}
