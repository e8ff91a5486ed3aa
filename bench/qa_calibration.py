"""QA calibration on the labelled set: per-rule precision and recall and the verdict agreement with the
reviewers' labels, today's scorer next to the one before issue 16.

    .venv/bin/python bench/qa_calibration.py [--write] [--baseline REV] [--show-disagreements]

The labelled set is the Chinese transcripts of tests/recordings/fixtures/*.yaml that carry a `label`: the
verdict a QA reviewer who read the seed regulations gives the call, and every rule it fails. A rule "fails"
for the machine when its result is not passed (partial points included). Precision: of the calls the machine
failed on a rule, how many the reviewer failed too (false alarms lower it); recall: of the calls the reviewer
failed on a rule, how many the machine caught (misses lower it). Calls the reviewer marks unscorable count for
the verdict only.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.baseline import BEFORE_ISSUE_16, Baseline, call_json  # noqa: E402
from bench.benchmarks_md import write_section  # noqa: E402
from recordings.qa.rubric import load_rubric  # noqa: E402
from recordings.qa.scorer import score  # noqa: E402
from tests.recordings.fixture_calls import FixtureCall, load_fixture_calls  # noqa: E402


@dataclass(frozen=True)
class Judged:
    verdict: str  # pass / fail / unscorable
    failed: frozenset[str]


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    false_alarms: list[str] = field(default_factory=list)
    misses: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


def compare(calls: list[FixtureCall], judged: list[Judged], rules: list[str]) -> tuple[dict[str, Tally], int]:
    tallies = {r: Tally() for r in rules}
    agree = 0
    for call, machine in zip(calls, judged, strict=True):
        label = call.label
        assert label is not None
        agree += machine.verdict == label.verdict
        if label.verdict == "unscorable":
            continue
        for rule in rules:
            m, h = rule in machine.failed, rule in label.fail
            t = tallies[rule]
            if m and h:
                t.tp += 1
            elif m:
                t.fp += 1
                t.false_alarms.append(call.name)
            elif h:
                t.fn += 1
                t.misses.append(call.name)
    return tallies, agree


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="write the BENCHMARKS.md section")
    ap.add_argument("--baseline", default=BEFORE_ISSUE_16, help="git revision of the scorer to compare with")
    ap.add_argument("--show-disagreements", action="store_true")
    args = ap.parse_args()
    calls = [c for c in load_fixture_calls() if c.label is not None]
    rubric = load_rubric()
    rules = [r.id for r in rubric.spec.rules]
    today: list[Judged] = []
    for c in calls:
        r = score(c.segments, c.facts, rubric, c.settings)
        verdict = "unscorable" if r.unscorable else "pass" if r.passed else "fail"
        today.append(Judged(verdict, frozenset(x.rule_id for x in r.rules if not x.passed)))
    with Baseline(args.baseline) as old:
        got = old.run("results", [call_json(c.segments, c.facts, c.settings.hotline.model_dump(
            include={"name", "greeting"})) for c in calls])
    before = [Judged("pass" if x["passed"] else "fail", frozenset(x["failed"])) for x in got["results"]]
    new, agree_new = compare(calls, today, rules)
    old_t, agree_old = compare(calls, before, [r for r in rules])
    kinds = Counter(c.label.verdict for c in calls if c.label is not None)
    water = sum(1 for c in calls if "供水" in c.settings.hotline.name)
    titles = {r.id: r.title for r in rubric.spec.rules}
    n = len(calls)
    lines = [
        "`.venv/bin/python bench/qa_calibration.py --write`",
        "",
        f"Labelled set: {n} Chinese transcripts in tests/recordings/fixtures written from the seeds "
        f"({n - water} gas, {water} water; reviewer verdicts {kinds['pass']} pass, {kinds['fail']} fail, "
        f"{kinds['unscorable']} unscorable; homophone ASR errors and Vosk-style Chinese digits without "
        f"punctuation among them). Each label is the verdict a QA reviewer gives and every rule they fail. "
        f"*Before*: the scorer at {args.baseline[:10]} (before issue 16) with its own rubric "
        f"{got['rubric']['version']}; *today*: rubric {rubric.version}.",
        "",
        "In-sample, read it so: these transcripts are also the rule tests, and the rules of issue 16 were "
        "fixed against them; the calls of limits.yaml are kept to show what matching words cannot see "
        "(a refusal in other words, a risk word in an innocent sense). Precision and recall on a site's own "
        "reviewed calls come from the calibration page (/qa/calibration).",
        "",
        f"Verdict agreement: **{agree_new}/{n} ({100 * agree_new / n:.0f}%)** today, "
        f"{agree_old}/{n} ({100 * agree_old / n:.0f}%) before (the old scorer has no *unscorable*).",
        "",
        "| rule | reviewer fails | precision today | recall today | precision before | recall before |",
        "|---|---|---|---|---|---|",
    ]
    for rule in rules:
        t, o = new[rule], old_t[rule]
        lines.append(f"| {titles[rule]} (`{rule}`) | {t.tp + t.fn} | {pct(t.precision)} | {pct(t.recall)} | "
                     f"{pct(o.precision)} | {pct(o.recall)} |")
    disagreements = [(rule, "false alarm", name) for rule in rules for name in new[rule].false_alarms] + \
                    [(rule, "miss", name) for rule in rules for name in new[rule].misses]
    verdicts = [(c.name, m.verdict, c.label.verdict) for c, m in zip(calls, today) if c.label is not None
                and m.verdict != c.label.verdict]
    lines += ["", f"Where today's scorer and the reviewer still differ: {len(disagreements)} rule results, "
              f"{len(verdicts)} verdicts" + (":" if disagreements or verdicts else ".")]
    for rule, how, name in disagreements:
        lines.append(f"- {titles[rule]}: {how} on `{name}`")
    for name, m, h in verdicts:
        lines.append(f"- verdict of `{name}`: machine {m}, reviewer {h}")
    body = "\n".join(lines) + "\n"
    print(body)
    if args.show_disagreements:
        for rule in rules:
            o = old_t[rule]
            for name in o.false_alarms:
                print(f"before: {rule}: false alarm on {name}")
            for name in o.misses:
                print(f"before: {rule}: miss on {name}")
    if args.write:
        write_section("qa-calibration", "QA calibration: the labelled set (recordings/qa)", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
