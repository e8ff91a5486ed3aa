"""Loader for the Chinese transcript fixtures in fixtures/*.yaml (written from the seed regulations)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ivr.settings import Settings, load_settings
from recordings.qa.model import CallFacts, Segment

FIXTURES = Path(__file__).with_name("fixtures")
_LINE = re.compile(r"^(?P<who>[AC])\s+(?P<start>\d+(?:\.\d+)?)-(?P<end>\d+(?:\.\d+)?)\s+(?P<text>.+)$")


@dataclass
class FixtureCall:
    name: str
    about: str
    segments: list[Segment]
    facts: CallFacts
    settings: Settings
    expect: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    label: Label | None = None  # the reviewer's verdict on the whole call (bench/qa_calibration.py)


@dataclass(frozen=True)
class Label:
    """How a QA reviewer who read the seeds judges the call: its verdict, and every rule it fails (the others
    pass or do not apply). In YAML: `label: pass`, `label: unscorable`, or
    `label: {verdict: fail, fail: [forbidden_phrases, courtesy]}`."""

    verdict: str  # pass / fail / unscorable
    fail: frozenset[str] = frozenset()


def parse_label(raw: Any, where: str) -> Label | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        raw = {"verdict": raw}
    verdict = raw.get("verdict")
    if verdict not in ("pass", "fail", "unscorable") or set(raw) - {"verdict", "fail"}:
        raise ValueError(f"{where}: label needs verdict pass/fail/unscorable and an optional fail list: {raw!r}")
    return Label(verdict, frozenset(raw.get("fail") or ()))


def parse_transcript(text: str, where: str) -> list[Segment]:
    segs = []
    for n, line in enumerate(text.strip().splitlines(), 1):
        m = _LINE.match(line.strip())
        if not m:
            raise ValueError(f"{where}: transcript line {n} is not 'A|C START-END TEXT': {line!r}")
        segs.append(Segment(speaker="agent" if m["who"] == "A" else "caller", start=float(m["start"]),
                            end=float(m["end"]), text=m["text"].strip()))
    return segs


def _facts(raw: dict[str, Any]) -> CallFacts:
    return CallFacts(call_id=raw.get("call_id"), agent_id=str(raw.get("agent_id", "1024")), answer_ring_seconds=float(raw.get("ring", 4.0)),
                     ring_seconds_total=float(raw.get("ring_total", raw.get("ring", 4.0))),
                     queue_wait_seconds=float(raw.get("queue_wait", 0.0)),
                     hangup_side=raw.get("hangup", "caller"), talk_seconds=raw.get("talk"),
                     holds=tuple((float(a), float(b)) for a, b in raw.get("holds", [])),
                     handed_to_survey=bool(raw.get("survey", False)), satisfaction=raw.get("satisfaction"))


def load_fixture_calls() -> list[FixtureCall]:
    base = load_settings(env={})
    calls: list[FixtureCall] = []
    for path in sorted(FIXTURES.glob("*.yaml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")):
            where = f"{path.name}:{item['name']}"
            settings = base
            if item.get("settings"):
                settings = base.model_copy(update={"hotline": base.hotline.model_copy(update=item["settings"])})
            calls.append(FixtureCall(name=item["name"], about=item["about"],
                                     segments=parse_transcript(item["transcript"], where),
                                     facts=_facts(item.get("facts") or {}), settings=settings,
                                     expect=item.get("expect") or {}, source=path.name,
                                     label=parse_label(item.get("label"), where)))
    return calls
