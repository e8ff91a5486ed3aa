"""QA scoring rate: transcripts scored per second, pure scorer and through the database (`qa rescore`).

    .venv/bin/python bench/qa_scoring.py [--rounds 5] [--db-calls 200] [--write]

Inputs: the 44 Chinese transcript fixtures of tests/recordings/fixtures (10-60 s calls, 3-10 segments) and
long calls made by chaining them (about 5 minutes, ~60 segments). The rubric is the packaged one.
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


def rate(items: list[tuple[list[Segment], CallFacts]], rounds: int) -> tuple[float, float]:
    rubric = load_rubric()
    settings = load_settings(env={})
    per_round = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for segs, facts in items:
            score(segs, facts, rubric, settings)
        per_round.append(time.perf_counter() - t0)
    best = min(per_round)
    return len(items) / best, statistics.median(per_round) / len(items) * 1000


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
    ap.add_argument("--write", action="store_true", help="write the BENCHMARKS.md section")
    args = ap.parse_args()
    calls = load_fixture_calls()
    short = [(c.segments, c.facts) for c in calls]
    long = [long_call(calls[i:] + calls[:i]) for i in range(10)]
    short_rate, short_ms = rate(short, args.rounds)
    long_rate, long_ms = rate(long, args.rounds)
    seg_long = statistics.mean(len(s) for s, _ in long)
    stored = await db_rate(calls, args.db_calls)
    body = f"""`.venv/bin/python bench/qa_scoring.py --write`

One process, one thread, packaged rubric ({len(load_rubric().spec.rules)} rules, {len(load_rubric().phrases)}
forbidden phrases, pinyin matching).

| input | transcripts / s | ms per transcript (median) |
|---|---|---|
| {len(short)} fixture calls (10-60 s, {statistics.mean(len(c.segments) for c in calls):.0f} segments avg) | {short_rate:.0f} | {short_ms:.1f} |
| 10 long calls (~5 min, {seg_long:.0f} segments avg) | {long_rate:.1f} | {long_ms:.1f} |
| `qa rescore` on SQLite, {args.db_calls} stored fixture calls (load facts + segments, score, upsert) | {stored:.0f} | {1000 / stored:.1f} |
"""
    print(body)
    if args.write:
        write_section("qa-scoring", "QA scoring rate (recordings/qa)", body)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
