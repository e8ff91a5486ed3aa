"""The QA scorer as it was at an earlier git revision, run next to today's in the same benchmark run.

    with Baseline(REV) as old:
        results = old.run("results", calls)      # verdicts and failed rules of each call
        timings = old.run("time", calls, rounds=5)

The revision's `ivr` and `recordings` trees are extracted (git archive) into a temporary directory and a child
Python process imports them from there, so the old code runs unchanged with its own packaged rubric. Calls go
over as JSON: segments as (speaker, start, end, text) and the call facts the old CallFacts knows.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from recordings.qa.model import CallFacts, Segment

REPO = Path(__file__).resolve().parent.parent
# The scorer before issue 16 (keywords in numbers, unscorable calls, review policy, courtesy, honorifics ...).
BEFORE_ISSUE_16 = "d5fa80d82a3d791a2925597d021fbf81d1e2b995"

_CHILD = r"""
import dataclasses, json, sys, time
sys.path.insert(0, sys.argv[1])
from ivr.settings import load_settings
from recordings.qa.model import CallFacts, Segment
from recordings.qa.rubric import load_rubric
from recordings.qa.scorer import score

job = json.load(sys.stdin)
rubric = load_rubric()
base = load_settings(env={})
known = {f.name for f in dataclasses.fields(CallFacts)}
calls = []
for c in job["calls"]:
    settings = base.model_copy(update={"hotline": base.hotline.model_copy(update=c["settings"])}) \
        if c["settings"] else base
    facts = CallFacts(**{k: v for k, v in c["facts"].items() if k in known})
    calls.append(([Segment(*g) for g in c["segments"]], facts, settings))
if job["mode"] == "time":
    for segs, facts, settings in calls[:3]:  # warm the phrase caches, as today's side does
        score(segs, facts, rubric, settings)
    rounds = []
    for _ in range(job["rounds"]):
        t0 = time.perf_counter()
        for segs, facts, settings in calls:
            score(segs, facts, rubric, settings)
        rounds.append(time.perf_counter() - t0)
    out = {"rounds": rounds}
else:
    out = {"results": []}
    for segs, facts, settings in calls:
        r = score(segs, facts, rubric, settings)
        out["results"].append({"passed": r.passed, "instant_fail": r.instant_fail, "must_review": r.must_review,
                               "total": r.total, "failed": [x.rule_id for x in r.rules if not x.passed]})
out["rubric"] = {"version": rubric.version, "rules": len(rubric.spec.rules), "phrases": len(rubric.phrases)}
json.dump(out, sys.stdout)
"""


def call_json(segments: list[Segment], facts: CallFacts, settings: dict[str, Any] | None = None) -> dict[str, Any]:
    facts_json = {k: (list(map(list, v)) if k == "holds" else v) for k, v in dataclasses.asdict(facts).items()}
    return {"segments": [[g.speaker, g.start, g.end, g.text] for g in segments], "facts": facts_json,
            "settings": settings or {}}


class Baseline:
    def __init__(self, revision: str = BEFORE_ISSUE_16) -> None:
        self.revision = revision
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> "Baseline":
        self._tmp = tempfile.TemporaryDirectory(prefix="hotline-qa-baseline-")
        archive = subprocess.run(["git", "-C", str(REPO), "archive", self.revision, "ivr", "recordings"],
                                 check=True, capture_output=True).stdout
        tar = Path(self._tmp.name) / "tree.tar"
        tar.write_bytes(archive)
        with tarfile.open(tar) as t:
            t.extractall(self._tmp.name, filter="data")
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()

    def run(self, mode: str, calls: list[dict[str, Any]], rounds: int = 1) -> dict[str, Any]:
        assert self._tmp is not None, "use Baseline as a context manager"
        done = subprocess.run([sys.executable, "-c", _CHILD, self._tmp.name], input=json.dumps(
            {"mode": mode, "calls": calls, "rounds": rounds}, ensure_ascii=False), capture_output=True, text=True,
            cwd=self._tmp.name)
        if done.returncode != 0:
            raise RuntimeError(f"baseline scorer at {self.revision[:10]} failed:\n{done.stderr}")
        result: dict[str, Any] = json.loads(done.stdout)
        return result
