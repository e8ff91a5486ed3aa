"""The rule kinds a rubric can use. Each is pure: (context, rule spec, params) -> RuleResult with evidence.

A rule that does not apply to a call (no apology needed when the caller did not wait) passes with full
points and applicable=False, so totals stay comparable between calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from pydantic import BaseModel, ConfigDict, Field

from recordings.qa.context import Context, Track
from recordings.qa.model import Evidence, RuleResult, Segment
from recordings.qa.rubric import ForbiddenPhrase, RuleSpec
from recordings.qa.text import best_match, find_digits, find_exact, find_number


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _result(spec: RuleSpec, passed: bool, *, points: float | None = None, applicable: bool = True,
            detail: str = "", evidence: list[Evidence] | tuple[Evidence, ...] = (), instant_fail: bool | None = None,
            review: bool = False) -> RuleResult:
    """A rule's result. A failed rule marked instant_fail in the rubric fails the whole call (一票否决),
    whatever its kind; a rule that refines this itself (forbidden phrases, per phrase) passes instant_fail."""
    pts = (spec.points if passed else 0.0) if points is None else max(0.0, min(spec.points, points))
    fatal = (spec.instant_fail and not passed and applicable) if instant_fail is None else instant_fail
    if fatal and "一票否决" not in detail:
        detail = f"{detail}，一票否决" if detail else "一票否决"
    return RuleResult(rule_id=spec.id, title=spec.title, kind=spec.kind, points=round(pts, 2),
                      max_points=spec.points, passed=passed, applicable=applicable, detail=detail,
                      evidence=tuple(evidence), instant_fail=fatal, review=review)


PENDING_DETAIL = "待转写：需要通话转写后评分"


def pending(spec: RuleSpec, detail: str = PENDING_DETAIL, evidence: list[Evidence] | None = None) -> RuleResult:
    """A rule that needs the transcript, scored before there is one: no points, no verdict."""
    return RuleResult(rule_id=spec.id, title=spec.title, kind=spec.kind, points=0.0, max_points=spec.points,
                      passed=True, detail=detail, evidence=tuple(evidence or ()), pending=True)


def _best_phrase(ctx: Context, track: Track, phrases: tuple[str, ...]) -> tuple[float, Evidence | None]:
    best_score, best_ev = 0.0, None
    hay = track.norm()
    for phrase in phrases:
        m = best_match(ctx.rubric.normalize(phrase), hay)
        if m is not None and m.score > best_score:
            best_score, best_ev = m.score, track.evidence(m.start, m.end)
    return best_score, best_ev


def _occurrences(ctx: Context, track: Track, phrase: str, *, pinyin_min_chars: int = 2,
                 folded_min_chars: int = 4) -> list[tuple[int, int]]:
    """Exact occurrences by characters, plus by pinyin when the phrase is long enough to be unambiguous.

    Short phrases match homophones only with identical syllables (谢些 = 谢谢); accent folding (zh=z, -ng=-n)
    is kept for longer phrases, where it cannot turn 器属 (qi shu) into 起诉 (qi su).
    """
    needle = ctx.rubric.normalize(phrase)
    hay = track.norm()
    spans = set(find_exact(needle, hay, by_pinyin=False))
    if len(needle.chars) >= pinyin_min_chars:
        spans.update(find_exact(needle, hay, by_pinyin=True, folded=False))
    if len(needle.chars) >= folded_min_chars:
        spans.update(find_exact(needle, hay, by_pinyin=True, folded=True))
    return sorted(spans)


def _inside(span: tuple[int, int], others: list[tuple[int, int]]) -> bool:
    return any(o[0] <= span[0] and span[1] <= o[1] for o in others)


# --- greeting, agent ID --------------------------------------------------------------------------------


class GreetingParams(_Params):
    within_seconds: float = Field(5.0, gt=0)
    window_seconds: float = Field(20.0, gt=0)
    min_similarity: float = Field(75.0, ge=0, le=100)


def greeting(ctx: Context, spec: RuleSpec, p: GreetingParams) -> RuleResult:
    agent = ctx.speaker_segments("agent")
    if not agent:
        return _result(spec, False, detail="坐席没有说话，未检测到问候语")
    first = agent[0].start
    track = ctx.track("agent", float("-inf"), first + p.window_seconds)
    hs = ctx.settings.hotline
    template = hs.greeting.format(name=hs.name, agent_id=ctx.facts.agent_id or "0")
    m = best_match(ctx.rubric.normalize(template, fold_numbers=True), track.norm(fold_numbers=True))
    score = m.score if m is not None else 0.0
    on_time = first <= p.within_seconds
    similar = score >= p.min_similarity
    # A poor match points nowhere useful: then the evidence is what the agent said first instead.
    ev = [track.evidence(m.start, m.end)] if m is not None and similar and m.end > m.start \
        else [track.segment_evidence(agent[0])]
    how = "拼音" if m is not None and m.by_pinyin else "文字"
    parts = [f"接听后 {first:.1f} 秒开口" + ("" if on_time else f"（超过 {p.within_seconds:g} 秒）"),
             f"与标准问候语{how}相似度 {score:.0f}%" + ("" if similar else f"（低于 {p.min_similarity:g}%）")]
    return _result(spec, on_time and similar, detail="，".join(parts), evidence=ev)


class AgentIdParams(_Params):
    within_seconds: float = Field(20.0, gt=0)


def agent_id(ctx: Context, spec: RuleSpec, p: AgentIdParams) -> RuleResult:
    wanted = ctx.facts.agent_id
    if not wanted:
        return _result(spec, True, applicable=False, detail="坐席工号未知，不评")
    agent = ctx.speaker_segments("agent")
    start = agent[0].start if agent else 0.0
    track = ctx.track("agent", float("-inf"), start + p.within_seconds)
    span = find_digits(wanted, track.text)
    if span is None:
        ev = [track.segment_evidence(agent[0])] if agent else []
        return _result(spec, False, detail=f"未听到工号 {wanted}", evidence=ev)
    return _result(spec, True, detail=f"报出工号 {wanted}", evidence=[track.evidence(*span, context=2)])


# --- ringing: answer time and apology ------------------------------------------------------------------


class NoParams(_Params):
    pass


def answer_time(ctx: Context, spec: RuleSpec, p: NoParams) -> RuleResult:
    ring = ctx.facts.answer_ring_seconds
    if ring is None:
        return _result(spec, True, applicable=False, detail="无振铃记录（非坐席振铃接听），不评")
    limit = ctx.ring_limit
    rings = ctx.settings.ring.count
    ev = Evidence("timeline", -round(ring, 2), 0.0, f"坐席振铃 {ring:.1f} 秒后接听（限 {limit:g} 秒，{rings} 声）")
    ok = ring <= limit
    return _result(spec, ok, detail=f"振铃 {ring:.1f} 秒" + ("，三声内接听" if ok else "，超过三声"), evidence=[ev])


class ApologyParams(_Params):
    within_seconds: float = Field(20.0, gt=0)
    min_similarity: float = Field(80.0, ge=0, le=100)
    phrases: tuple[str, ...] = Field(min_length=1)


def apology(ctx: Context, spec: RuleSpec, p: ApologyParams) -> RuleResult:
    # The console's rule (ivr/acd/offers.py): the caller's whole wait in the queue, not only the ringing,
    # so the script that opened with 对不起 and the score agree.
    f = ctx.facts
    waited = max(f.ring_seconds_total, f.answer_ring_seconds or 0.0, f.queue_wait_seconds)
    limit = ctx.ring_limit
    if waited <= limit:
        return _result(spec, True, applicable=False, detail=f"客户等待 {waited:.1f} 秒，未超过三声，无需致歉")
    what = "听振铃" if waited == max(f.ring_seconds_total, f.answer_ring_seconds or 0.0) else "排队等待"
    ring_ev = Evidence("timeline", -round(waited, 2), 0.0, f"客户{what} {waited:.1f} 秒（超过 {limit:g} 秒）")
    if not ctx.transcribed:  # an apology was due: whether it was given is in the transcript
        return pending(spec, f"需致歉（客户等待 {waited:.1f} 秒），{PENDING_DETAIL}", [ring_ev])
    agent = ctx.speaker_segments("agent")
    start = agent[0].start if agent else 0.0
    track = ctx.track("agent", float("-inf"), start + p.within_seconds)
    score, ev = _best_phrase(ctx, track, p.phrases)
    if ev is not None and score >= p.min_similarity:
        return _result(spec, True, detail=f"已致歉（相似度 {score:.0f}%）", evidence=[ring_ev, ev])
    first = [track.segment_evidence(agent[0])] if agent else []
    return _result(spec, False, detail="超过三声接听但未向客户致歉", evidence=[ring_ev, *first])


# --- forbidden phrases ---------------------------------------------------------------------------------


class ForbiddenParams(_Params):
    fuzzy_min_chars: int = Field(6, ge=2)
    fuzzy_min_similarity: float = Field(90.0, ge=0, le=100)


@dataclass(frozen=True)
class _Hit:
    phrase: ForbiddenPhrase
    span: tuple[int, int]


def forbidden(ctx: Context, spec: RuleSpec, p: ForbiddenParams) -> RuleResult:
    track = ctx.track("agent")
    hay = track.norm()
    hits: list[_Hit] = []
    for fp in ctx.rubric.phrases:
        spans = _occurrences(ctx, track, fp.phrase, pinyin_min_chars=3)
        needle = ctx.rubric.normalize(fp.phrase)
        if not spans and len(needle.chars) >= p.fuzzy_min_chars:
            m = best_match(needle, hay)
            if m is not None and m.by_pinyin and m.score >= p.fuzzy_min_similarity:
                spans = [(m.start, m.end)]
        if not spans:
            continue
        allowed = [s for ex in fp.except_ for s in _occurrences(ctx, track, ex, pinyin_min_chars=3)]
        hits.extend(_Hit(fp, s) for s in spans if not _inside(s, allowed))
    # "我不知道" also contains "不知道": keep the longest phrase for each stretch of speech.
    kept: list[_Hit] = []
    for h in sorted(hits, key=lambda h: (-(h.span[1] - h.span[0]), h.span[0])):
        if not any(h.span[0] < k.span[1] and k.span[0] < h.span[1] for k in kept):
            kept.append(h)
    kept.sort(key=lambda h: h.span[0])
    if not kept:
        return _result(spec, True, detail="未发现服务禁用语")
    penalty = sum(spec.points if h.phrase.penalty is None else h.phrase.penalty for h in kept)
    fatal = spec.instant_fail and any(h.phrase.instant_fail for h in kept)
    ev = [track.evidence(*h.span, context=4) for h in kept]
    names = "、".join(f"“{h.phrase.phrase}”（{h.phrase.source}）" if h.phrase.source else f"“{h.phrase.phrase}”"
                     for h in kept)
    detail = f"使用服务禁用语：{names}" + ("，一票否决" if fatal else "，请人工复核")
    return _result(spec, False, points=spec.points - penalty, detail=detail, evidence=ev, instant_fail=fatal,
                   review=not fatal)


# --- courtesy words ------------------------------------------------------------------------------------


class CourtesyGroup(_Params):
    id: str
    title: str
    phrases: tuple[str, ...] = Field(min_length=1)
    except_: tuple[str, ...] = Field((), alias="except")


class CourtesyParams(_Params):
    groups: tuple[CourtesyGroup, ...] = Field(min_length=1)
    min_groups: int = Field(2, ge=1)  # what any call needs, however short
    groups_per_minute: float = Field(1.0, ge=0)  # one more group for each full minute of talk ...
    max_groups: int = Field(4, ge=1)  # ... up to this many


def courtesy_needed(p: CourtesyParams, seconds: float) -> int:
    """How many of the groups a call of this length must show: a 20-second wrong number has no room for the
    服务七声 that a five-minute repair call has."""
    return max(1, min(len(p.groups), p.max_groups, p.min_groups + int(max(seconds, 0.0) / 60 * p.groups_per_minute)))


def courtesy(ctx: Context, spec: RuleSpec, p: CourtesyParams) -> RuleResult:
    """The seeds' 服务七声 (000) and polite replies (001, 002): each group of phrases the agent uses counts once;
    the number of groups asked for grows with the call's length (courtesy_needed). The greeting is the greeting
    rule's: its scripted 您好…请问 would otherwise meet a short call's need before the agent said a word of
    their own, so the search starts after the agent's first segment (when there is more than one)."""
    agent = ctx.speaker_segments("agent")
    track = ctx.track("agent", agent[0].end) if len(agent) > 1 else ctx.track("agent")
    found: list[Evidence] = []
    used: list[str] = []
    missing: list[str] = []
    for g in p.groups:
        allowed = [s for ex in g.except_ for s in _occurrences(ctx, track, ex)]
        spans = [s for ph in g.phrases for s in _occurrences(ctx, track, ph) if not _inside(s, allowed)]
        if spans:
            found.append(track.evidence(*min(spans), context=3))
            used.append(g.title)
        else:
            missing.append(g.title)
    need = courtesy_needed(p, ctx.end_time)
    ok = len(found) >= need
    detail = f"文明用语 {len(found)} 类（{ctx.end_time / 60:.1f} 分钟的通话需 {need} 类）"
    if used:
        detail += f"：{'、'.join(used)}"
    if not ok:
        detail += "，不足"
    points = spec.points * min(len(found), need) / need
    if not ok and track.segments:
        # Evidence of an absence: the stretch of the agent's speech that was searched.
        found.append(Evidence("agent", round(track.segments[0].start, 2), round(track.segments[-1].end, 2),
                              f"坐席发言中未出现：{'、'.join(missing)}"))
    return _result(spec, ok, points=points, detail=detail, evidence=found)


# --- interruption and silence --------------------------------------------------------------------------


class InterruptionParams(_Params):
    min_overlap_seconds: float = Field(0.8, gt=0)
    penalty_per_event: float = Field(5.0, ge=0)
    backchannel: tuple[str, ...] = ()


def speech_intervals(segments: list[Segment], *, join_gap: float = 0.3) -> list[tuple[float, float]]:
    """When a speaker is actually talking: word times merged across short gaps, else whole segments."""
    raw: list[tuple[float, float]] = []
    for s in segments:
        if s.words:
            raw.extend((w.start, w.end) for w in s.words)
        else:
            raw.append((s.start, s.end))
    raw.sort()
    merged: list[tuple[float, float]] = []
    for a, b in raw:
        if merged and a - merged[-1][1] <= join_gap:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def interruption(ctx: Context, spec: RuleSpec, p: InterruptionParams) -> RuleResult:
    caller = speech_intervals(ctx.speaker_segments("caller"))
    backchannel = {ctx.rubric.normalize(b).chars for b in p.backchannel}
    events: list[Evidence] = []
    for seg in ctx.speaker_segments("agent"):
        if ctx.rubric.normalize(seg.text).chars in backchannel:
            continue
        for cs, ce in caller:
            # The caller was already talking when the agent started, and the two went on together.
            if cs < seg.start < ce and min(seg.end, ce) - seg.start >= p.min_overlap_seconds:
                said = [c.text for c in ctx.speaker_segments("caller") if c.start < ce and c.end > cs]
                events.append(Evidence("agent", round(seg.start, 2), round(min(seg.end, ce), 2),
                                       f"坐席：{seg.text} ／ 客户：{''.join(said)}"))
                break
    if not events:
        return _result(spec, True, detail="未打断客户")
    return _result(spec, False, points=spec.points - p.penalty_per_event * len(events),
                   detail=f"打断客户 {len(events)} 次", evidence=events)


class SilenceParams(_Params):
    max_silence_seconds: float = Field(15.0, gt=0)
    max_hold_seconds: float = Field(60.0, gt=0)
    announce_within_seconds: float = Field(10.0, ge=0)
    hold_phrases: tuple[str, ...] = ()


def silence(ctx: Context, spec: RuleSpec, p: SilenceParams) -> RuleResult:
    if not ctx.transcribed:
        # Holds on the timeline are judged by their length alone; the silences between words must wait.
        long_holds = [Evidence("timeline", round(h0, 2), round(h1, 2),
                               f"保持通话 {h1 - h0:.1f} 秒（超过 {p.max_hold_seconds:g} 秒）")
                      for h0, h1 in ctx.facts.holds if h1 - h0 > p.max_hold_seconds]
        if long_holds:
            return _result(spec, False, detail=f"超长保持 {len(long_holds)} 处", evidence=long_holds)
        return pending(spec)
    spoken = speech_intervals(ctx.segments)
    if not spoken:
        return _result(spec, True, applicable=False, detail="无转写内容，不评")
    gaps: list[tuple[float, float]] = []
    cursor = 0.0
    for a, b in spoken:
        if a - cursor > p.max_silence_seconds:
            gaps.append((cursor, a))
        cursor = max(cursor, b)
    # The quiet after the last words is not counted: after 再见 the agent waits for the caller to hang up
    # first (001 六), and a call left hanging without a goodbye already fails the closing rules.
    bad: list[Evidence] = []
    agent = ctx.speaker_segments("agent")
    for g0, g1 in gaps:
        length = g1 - g0
        held = any(h0 <= g0 + 1.0 and h1 >= g1 - 1.0 for h0, h1 in ctx.facts.holds)
        announced = [s for s in agent if g0 - p.announce_within_seconds <= s.end <= g0 + 0.5
                     and _occurs_any(ctx, s, p.hold_phrases)]
        if (held or announced) and length <= p.max_hold_seconds:
            continue
        why = f"静音 {length:.1f} 秒" + (f"（请稍等后超过 {p.max_hold_seconds:g} 秒）" if held or announced
                                       else "，未告知客户稍等")
        bad.append(Evidence("timeline", round(g0, 2), round(g1, 2), why))
    # A hold on the timeline is judged by its own length: hold music or a recorded announcement that the
    # recogniser turns into words would otherwise hide it among "speech".
    for h0, h1 in ctx.facts.holds:
        if h1 - h0 > p.max_hold_seconds and not any(e.start <= h0 + 1.0 and e.end >= h1 - 1.0 for e in bad):
            bad.append(Evidence("timeline", round(h0, 2), round(h1, 2),
                                f"保持通话 {h1 - h0:.1f} 秒（超过 {p.max_hold_seconds:g} 秒）"))
    bad.sort(key=lambda e: e.start)
    if not bad:
        return _result(spec, True, detail="无超长静音")
    return _result(spec, False, detail=f"超长静音 {len(bad)} 处", evidence=bad)


def _occurs_any(ctx: Context, seg: Segment, phrases: tuple[str, ...]) -> bool:
    t = Track(seg.speaker, [seg], ctx.rubric)
    return any(_occurrences(ctx, t, ph) for ph in phrases)


# --- closing, hang-up order, complaint watch -----------------------------------------------------------


class ClosingParams(_Params):
    last_seconds: float = Field(60.0, gt=0)
    min_similarity: float = Field(80.0, ge=0, le=100)
    phrases: tuple[str, ...] = Field(min_length=1)


def closing(ctx: Context, spec: RuleSpec, p: ClosingParams) -> RuleResult:
    agent = ctx.speaker_segments("agent")
    if not agent:
        return _result(spec, False, detail="坐席没有说话")
    end = max(ctx.end_time, agent[-1].end)
    # The greeting's "有什么可以帮您" must not count as the closing question in a short call.
    track = ctx.track("agent", max(end - p.last_seconds, agent[0].end))
    score, ev = _best_phrase(ctx, track, p.phrases)
    if ev is not None and score >= p.min_similarity:
        return _result(spec, True, detail=f"结束前已说（相似度 {score:.0f}%）", evidence=[ev])
    last = [track.segment_evidence(track.segments[-1])] if track.segments else []
    return _result(spec, False, detail=f"通话最后 {p.last_seconds:g} 秒内未说“{p.phrases[0]}”", evidence=last)


def hangup_order(ctx: Context, spec: RuleSpec, p: NoParams) -> RuleResult:
    side = ctx.facts.hangup_side
    at = ctx.end_time
    last = ctx.segments[-1:] if ctx.segments else []
    tail = [Evidence(s.speaker, round(s.start, 2), round(s.end, 2), s.text) for s in last]
    if side == "caller":
        return _result(spec, True, detail="客户先挂机", evidence=[Evidence("timeline", at, at, "客户挂机")])
    if side == "agent" and ctx.facts.handed_to_survey:
        return _result(spec, True, detail="坐席结束通话后转满意度评价，客户未被挂断",
                       evidence=[Evidence("timeline", at, at, "转满意度评价")])
    if side == "agent":
        return _result(spec, False, detail="坐席先挂机", evidence=[Evidence("timeline", at, at, "坐席挂机"), *tail])
    return _result(spec, True, applicable=False, detail=f"挂机方为{side or '未知'}，不评")


def complaint(ctx: Context, spec: RuleSpec, p: NoParams) -> RuleResult:
    ev: list[Evidence] = []
    words: list[str] = []
    for speaker in ("caller", "agent"):
        track = ctx.track(speaker)
        for w in ctx.rubric.spec.complaint_words:
            # A number is a risk word only as a whole number: 12345 inside a landline or a bank card is not
            # the citizen hotline.
            # Two-syllable words by their characters only: by sound, 生效谢谢 (xiao xie) would be 消协.
            spans = find_number(w, track.text) if w.isdigit() else _occurrences(ctx, track, w, pinyin_min_chars=3)
            for sp in spans:
                ev.append(track.evidence(*sp, context=6))
                if w not in words:
                    words.append(w)
    if not ev:
        return _result(spec, True, detail="未发现投诉/曝光风险词")
    return _result(spec, False, points=spec.points, detail=f"提及：{'、'.join(words)}", evidence=ev, review=True)


@dataclass(frozen=True)
class RuleKind:
    params: type[_Params]
    run: Callable[..., RuleResult]
    # "speech": judged on the transcript only (pending until there is one); "timeline": on the call's facts
    # only; "both": decides what the timeline allows and leaves the rest pending (apology, silence).
    needs: str = "speech"


RULE_KINDS: dict[str, RuleKind] = {
    "greeting": RuleKind(GreetingParams, greeting),
    "agent_id": RuleKind(AgentIdParams, agent_id),
    "answer_time": RuleKind(NoParams, answer_time, "timeline"),
    "apology": RuleKind(ApologyParams, apology, "both"),
    "forbidden": RuleKind(ForbiddenParams, forbidden),
    "courtesy": RuleKind(CourtesyParams, courtesy),
    "interruption": RuleKind(InterruptionParams, interruption),
    "silence": RuleKind(SilenceParams, silence, "both"),
    "closing": RuleKind(ClosingParams, closing),
    "hangup_order": RuleKind(NoParams, hangup_order, "timeline"),
    "complaint": RuleKind(NoParams, complaint),
}
