"""QA scoring rate: transcripts scored per second, pure scorer and through the database (`qa rescore`), today's
scorer side by side with an earlier revision's (default: before issue 16) on the same inputs in the same run.

    .venv/bin/python bench/qa_scoring.py [--rounds 5] [--db-calls 200] [--baseline REV] [--write]

Inputs: the Chinese transcript fixtures of tests/recordings/fixtures (10-240 s calls) and long calls made by
chaining them (about 5 minutes, ~80 segments). Each scorer uses its own packaged rubric. The baseline runs in
a child process (bench/baseline.py) right after today's, so both see the same machine state.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.baseline import BEFORE_ISSUE_16, Baseline, call_json  # noqa: E402
from bench.benchmarks_md import write_section  # noqa: E402
from ivr.db import Database  # noqa: E402
from ivr.settings import load_settings  # noqa: E402
from recordings.qa.model import CallFacts, Segment  # noqa: E402
from recordings.qa.rubric import load_rubric  # noqa: E402
from recordings.qa.scorer import score  # noqa: E402
from recordings.qa.store import rescore  # noqa: E402
from tests.recordings.fixture_calls import FixtureCall, load_fixture_calls  # noqa: E402
from tests.recordings.helpers import finished_call, store_segments  # noqa: E402


def long_call(calls: list[FixtureCall], minutes: float = 5.0) -> tuple[list[Segment], CallFacts]:
    segs: list[Segment] = []
    offset = 0.0
    i = 0
    while offset < minutes * 60:
        c = calls[i % len(calls)]
        i += 1
        for g in c.segments:
            segs.append(Segment(g.speaker, g.start + offset, g.end + offset, g.text))
        offset = segs[-1].end + 1.0
    return segs, CallFacts(agent_id="1024", answer_ring_seconds=4.0, ring_seconds_total=4.0, hangup_side="caller",
                           talk_seconds=offset)


def summary(per_round: list[float], n: int) -> tuple[float, float]:
    """(transcripts per second in the best round, median ms per transcript)."""
    return n / min(per_round), statistics.median(per_round) / n * 1000


def rounds_today(items: list[tuple[list[Segment], CallFacts]], rounds: int) -> list[float]:
    rubric, settings = load_rubric(), load_settings(env={})
    for segs, facts in items[:3]:  # warm the phrase caches as a running worker has them
        score(segs, facts, rubric, settings)
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for segs, facts in items:
            score(segs, facts, rubric, settings)
        out.append(time.perf_counter() - t0)
    return out


def side_by_side(old: Baseline, items: list[tuple[list[Segment], CallFacts]], rounds: int,
                 reps: int = 2) -> tuple[list[float], list[float]]:
    """Round times of today's scorer and the baseline's, interleaved (today, before, today, ...) so that a
    change in the machine's load during the run falls on both."""
    payload = [call_json(segs, facts) for segs, facts in items]
    today: list[float] = []
    before: list[float] = []
    for _ in range(reps):
        today += rounds_today(items, rounds)
        before += old.run("time", payload, rounds=rounds)["rounds"]
    return today, before


async def db_rate(calls: list[FixtureCall], n: int) -> float:
    with tempfile.TemporaryDirectory(prefix="hotline-qa-bench-") as tmp:
        db = Database(f"sqlite+aiosqlite:///{tmp}/qa.db")
        await db.upgrade()
        since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
        for i in range(n):
            made = await finished_call(db, started=since + dt.timedelta(minutes=1 + i % 600))
            await store_segments(db, made.call_id, calls[i % len(calls)].segments)
        t0 = time.perf_counter()
        report = await rescore(db, load_rubric(), load_settings(env={}), since)
        took = time.perf_counter() - t0
        await db.dispose()
        assert report.scored == n, report
        return n / took


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--db-calls", type=int, default=200)
    ap.add_argument("--baseline", default=BEFORE_ISSUE_16, help="git revision to compare with")
    ap.add_argument("--write", action="store_true", help="write the BENCHMARKS.md section")
    args = ap.parse_args()
    # Calls scored with the default settings (the water fixtures configure their own company): the same
    # inputs for both scorers.
    calls = [c for c in load_fixture_calls() if c.settings.hotline == load_settings(env={}).hotline]
    short = [(c.segments, c.facts) for c in calls]
    long = [long_call(calls[i:] + calls[:i]) for i in range(10)]
    with Baseline(args.baseline) as old:
        short_today, short_before = side_by_side(old, short, args.rounds)
        long_today, long_before = side_by_side(old, long, args.rounds)
    short_rate, short_ms = summary(short_today, len(short))
    long_rate, long_ms = summary(long_today, len(long))
    old_short_ms = summary(short_before, len(short))[1]
    old_long_ms = summary(long_before, len(long))[1]
    best = {k: min(v) / n * 1000 for k, v, n in (("short", short_today, len(short)), ("long", long_today, len(long)),
                                                  ("old_short", short_before, len(short)),
                                                  ("old_long", long_before, len(long)))}
    seg_long = statistics.mean(len(s) for s, _ in long)
    stored = await db_rate(calls, args.db_calls)
    rubric = load_rubric()
    body = f"""`.venv/bin/python bench/qa_scoring.py --write`

One thread, packaged rubric ({len(rubric.spec.rules)} rules, {len(rubric.phrases)} forbidden phrases,
pinyin matching). *Before*: the scorer at {args.baseline[:10]} (before issue 16) with its own rubric, in a child
process of the same run on the same transcripts, rounds interleaved with today's ({args.rounds} rounds x 2 each;
bench/baseline.py). Ratios from the median round, and from the best round in brackets.

| input | transcripts / s | ms per transcript (median) | before: ms per transcript | today / before |
|---|---|---|---|---|
| {len(short)} fixture calls (10-240 s, {statistics.mean(len(c.segments) for c in calls):.0f} segments avg) | {short_rate:.0f} | {short_ms:.1f} | {old_short_ms:.1f} | {short_ms / old_short_ms:.2f}x ({best["short"] / best["old_short"]:.2f}x) |
| 10 long calls (~5 min, {seg_long:.0f} segments avg) | {long_rate:.1f} | {long_ms:.1f} | {old_long_ms:.1f} | {long_ms / old_long_ms:.2f}x ({best["long"] / best["old_long"]:.2f}x) |
| `qa rescore` on SQLite, {args.db_calls} stored fixture calls (load facts + segments, score, upsert) | {stored:.0f} | {1000 / stored:.1f} | | |
"""
    print(body)
    if args.write:
        write_section("qa-scoring", "QA scoring rate (recordings/qa)", body)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
