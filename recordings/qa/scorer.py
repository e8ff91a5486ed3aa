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
from recordings.qa.rules import RULE_KINDS


def fingerprint(rubric: Rubric, settings: Settings) -> str:
    """Hash of everything a score depends on: the rubric files and the settings the rules read."""
    hs = settings.hotline
    used = {"rubric": rubric.hash, "greeting": hs.greeting, "name": hs.name,
            "ring_limit": settings.ring.limit_seconds, "ring_count": settings.ring.count}
    return hashlib.sha256(json.dumps(used, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def unscorable(segments: list[Segment], facts: CallFacts, rubric: Rubric) -> str:
    """Why the call has nothing to judge (model.UNSCORABLE), or "". A call the agent hung up is judged, and so is
    one with an instant fail (see score)."""
    spec = rubric.spec.unscorable
    if facts.hangup_side == "agent":
        return ""
    if facts.talk_seconds is not None and facts.talk_seconds < spec.min_talk_seconds:
        return SHORT_TALK
    if spec.need_agent_speech and not any(s.speaker == "agent" for s in segments):
        return NO_AGENT_SPEECH
    return ""


def score(segments: list[Segment], facts: CallFacts, rubric: Rubric, settings: Settings) -> QaResult:
    ordered = sorted(segments, key=lambda s: (s.start, s.end, s.speaker))
    ctx = Context(segments=ordered, facts=facts, rubric=rubric, settings=settings)
    results: list[RuleResult] = []
    for spec in rubric.spec.rules:
        kind = RULE_KINDS[spec.kind]
        results.append(kind.run(ctx, spec, rubric.params[spec.id]))
    # An instant fail in a short call (a forbidden phrase, then the caller gone) is the agent's to answer for.
    why = "" if any(r.instant_fail for r in results) else unscorable(ordered, facts, rubric)
    return summarize(results, rubric, settings, unscorable=why)


def summarize(results: list[RuleResult], rubric: Rubric, settings: Settings, *, unscorable: str = "") -> QaResult:
    """Totals, pass/fail and the must-review reasons from per-rule results (also used after overrides).

    An unscorable call keeps its rule results (what was there to see) but has no verdict: it neither passes nor
    fails, and only what a person must hear regardless (risk words) sends it to review.
    """
    total = round(sum(r.points for r in results), 2)
    max_total = rubric.max_total
    instant = any(r.instant_fail for r in results) and not unscorable
    spec = rubric.spec
    reasons: list[str] = []
    if instant:
        failed = "、".join(r.title for r in results if r.instant_fail)
        reasons.append(f"一票否决：{failed}")
    if total < spec.must_review_below and not unscorable:
        reasons.append(f"得分 {total:g} 低于 {spec.must_review_below:g}")
    for r in results:
        if r.review and (not unscorable or r.kind == "complaint"):
            reasons.append(f"{r.title}：{r.detail}")
    passed = not instant and total >= spec.pass_score and not unscorable
    return QaResult(rubric_version=rubric.version, rubric_hash=fingerprint(rubric, settings), total=total,
                    max_total=max_total, passed=passed, instant_fail=instant, must_review=bool(reasons),
                    review_reasons=tuple(reasons), rules=tuple(results), unscorable=unscorable)
