"""Plain data the scorer works on and produces: no database, no I/O, so a score can be recomputed anywhere.

Transcript times are seconds from the moment the agent answered. The recordings start when the IVR answers;
recordings/qa/store.py shifts the stored times by that offset and leaves out what was said before the answer.
Timeline facts (ringing) are expressed on the same axis, so ringing shows up as negative times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from recordings.qa.text import join_words

SPEAKERS = ("caller", "agent")


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    conf: float = 1.0


@dataclass(frozen=True)
class Segment:
    speaker: str  # caller / agent
    start: float
    end: float
    text: str
    words: tuple[Word, ...] = ()
    confidence: float = 1.0

    def __post_init__(self) -> None:
        if self.speaker not in SPEAKERS:
            raise ValueError(f"speaker must be one of {SPEAKERS}, got {self.speaker!r}")
        if self.end < self.start:
            raise ValueError(f"segment ends ({self.end}) before it starts ({self.start})")

    def time_at(self, pos: int, *, end: bool = False) -> float:
        """The audio time of character pos of the text: from word times when known, else interpolated."""
        if self.words:
            text, spans = join_words([w.word for w in self.words])
            if text == self.text:  # words still describe the text (not the case for hand-edited segments)
                for w, (s, e) in zip(self.words, spans):
                    if (s < pos <= e) if end else (s <= pos < e):
                        return w.end if end else w.start
        n = max(len(self.text), 1)
        return self.start + (self.end - self.start) * min(max(pos, 0), n) / n

    @staticmethod
    def from_row(speaker: str, start: float, end: float, text: str, words: list[Any] | None = None,
                 confidence: float = 1.0) -> "Segment":
        ws = tuple(Word(word=str(w["w"]), start=float(w["s"]), end=float(w["e"]), conf=float(w.get("c", 1.0)))
                   for w in (words or []))
        return Segment(speaker=speaker, start=start, end=end, text=text, words=ws, confidence=confidence)

    def rounded(self) -> "Segment":
        """The segment as the database keeps it (millisecond times): score this, not the raw recogniser output,
        so that a score recomputed from the stored transcript is identical."""
        words = tuple(Word(w.word, round(w.start, 3), round(w.end, 3), round(w.conf, 3)) for w in self.words)
        return Segment(self.speaker, round(self.start, 3), round(self.end, 3), self.text, words,
                       round(self.confidence, 4))

    def words_json(self) -> list[dict[str, Any]]:
        return [{"w": w.word, "s": round(w.start, 3), "e": round(w.end, 3), "c": round(w.conf, 3)}
                for w in self.words]


@dataclass(frozen=True)
class CallFacts:
    """What the call timeline says, reduced to what the rules need."""

    call_id: int | None = None
    agent_id: str = ""  # 工号, expected in the greeting
    answer_ring_seconds: float | None = None  # ringing of the offer the agent answered
    ring_seconds_total: float = 0.0  # all offers' ringing: what the caller waited through
    queue_wait_seconds: float = 0.0  # queue entry to the answer: the console's apology rule (ivr/acd/offers.py)
    hangup_side: str | None = None  # caller / agent / system / unknown
    talk_seconds: float | None = None  # answer to hang-up
    holds: tuple[tuple[float, float], ...] = ()  # hold intervals on the transcript axis
    # The agent ended their leg to hand the caller to the satisfaction survey (the flows' survey entry runs
    # after the agent hangs up): the caller was not dropped, so that is not 坐席先挂机.
    handed_to_survey: bool = False
    satisfaction: int | None = None  # the caller's survey answer, 1 (very unhappy) to 5


@dataclass(frozen=True)
class Evidence:
    source: str  # caller / agent / timeline
    start: float
    end: float
    text: str

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "start": round(self.start, 2), "end": round(self.end, 2),
                "text": self.text}


@dataclass(frozen=True)
class RuleResult:
    rule_id: str
    title: str
    kind: str
    points: float
    max_points: float
    passed: bool
    applicable: bool = True
    instant_fail: bool = False  # this result fails the whole call
    detail: str = ""  # one line in Chinese for the QA page
    evidence: tuple[Evidence, ...] = ()
    review: bool = False  # the rule asks for a human look (e.g. caller complained)
    # Needs the transcript, which is not there yet: no points and no verdict (passed stays True, so it is
    # never counted as a failed rule).
    pending: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"id": self.rule_id, "title": self.title, "kind": self.kind, "points": round(self.points, 2),
                "max_points": self.max_points, "passed": self.passed, "applicable": self.applicable,
                "instant_fail": self.instant_fail, "detail": self.detail, "review": self.review,
                "pending": self.pending, "evidence": [e.as_json() for e in self.evidence]}


# Why a call cannot be scored (QaResult.unscorable; the QA pages word them): too short to judge, or nothing
# of the agent's to judge. Such a call has no verdict: counted apart, out of the pass rate, not reviewed as a
# low score.
SHORT_TALK = "short_talk"
NO_AGENT_SPEECH = "no_agent_speech"
UNSCORABLE = (SHORT_TALK, NO_AGENT_SPEECH)


@dataclass(frozen=True)
class QaResult:
    rubric_version: str
    rubric_hash: str
    total: float
    max_total: float
    passed: bool
    instant_fail: bool
    must_review: bool
    review_reasons: tuple[str, ...]
    rules: tuple[RuleResult, ...] = field(default_factory=tuple)
    unscorable: str = ""  # one of UNSCORABLE, "" when the call has a verdict
    spot_check: bool = False  # drawn for the spot-check list (抽检): passed, not in the must-review queue
    # Scored before the transcript exists (no speech model yet, or the job still waiting): the timeline rules
    # are decided, the speech rules pending. No pass until transcribed; a fail only when the points already
    # lost make the pass score unreachable.
    speech_pending: bool = False

    def rule(self, rule_id: str) -> RuleResult:
        for r in self.rules:
            if r.rule_id == rule_id:
                return r
        raise KeyError(rule_id)

    def results_json(self) -> list[dict[str, Any]]:
        return [r.as_json() for r in self.rules]
