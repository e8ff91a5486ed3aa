"""ARI call engine under load: concurrent Local-channel calls on a real Asterisk, with two-track recording.

    .venv/bin/python bench/ari_load.py [--steps 50,100,200,300] [--hold 5] [--no-record] [--write]

Per step N: N callers (Local/inbound@hotline-test, the ;1 half waits) are originated at once; each reaches
Stasis(hotline,inbound,...) and our engine (row + timeline, snoop recordings, handler: answer, play a beep,
then wait for digits). Measured: calls carried (handler ran and the beep finished), StasisStart -> handler
latency (Asterisk's event timestamp to the handler's first line, same clock), our process's CPU and RSS, and
Asterisk's CPU. Then all callers hang up and the step ends when every call row is closed and its recordings
are stored. SQLite database, one Python process, one Asterisk, loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.benchmarks_md import write_section  # noqa: E402
from ivr.ari import events as ev  # noqa: E402
from ivr.asterisk.instance import AsteriskInstance  # noqa: E402
from ivr.asterisk.ports import PortAllocator  # noqa: E402
from ivr.asterisk.sandbox import resolve_runtime  # noqa: E402
from ivr.calls.ari_engine import AriEngine  # noqa: E402
from ivr.calls.handler import CallContext  # noqa: E402
from ivr.calls.notifier import CallNotifier  # noqa: E402
from recordings.store import RecordingStore  # noqa: E402
from ivr.calls.timeline import Timeline  # noqa: E402
from ivr.channel import Channel, ChannelHungUp  # noqa: E402
from ivr.db import Database  # noqa: E402
from ivr.settings import Settings  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int | None = None) -> float:
    path = f"/proc/{pid or 'self'}/status"
    for line in Path(path).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int | None = None) -> float:
    if pid is None:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


@dataclass
class Step:
    calls: int
    carried: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    setup_s: float = 0.0
    teardown_s: float = 0.0
    our_cpu_s: float = 0.0
    our_rss_delta_mb: float = 0.0
    our_rss_peak_mb: float = 0.0
    ast_cpu_s: float = 0.0
    hold_cpu_pct: float = 0.0
    ast_hold_cpu_pct: float = 0.0
    closed: int = 0
    ws_ms: list[float] = field(default_factory=list)


class Bench:
    def __init__(self, instance: AsteriskInstance, db: Database, archive: Path, record: bool) -> None:
        self.instance = instance
        self.notifier = CallNotifier(default_maxsize=100000)
        self.stasis_at: dict[str, float] = {}
        self.entered: dict[str, float] = {}
        self.beeped: set[str] = set()
        self.received: dict[str, float] = {}
        self.engine = AriEngine.standalone(instance.settings, Timeline(db), self.notifier,
                                recording_dir=instance.recordings_dir_host,
                                recordings=RecordingStore(db, archive) if record else None, handler=self.handler)
        self.engine.router.add_sink(self._sink)

    def _sink(self, event: ev.Event) -> None:
        if isinstance(event, ev.StasisStart) and event.timestamp is not None and event.args[:1] == ("inbound",):
            self.stasis_at[event.channel.id] = event.timestamp.timestamp()
            self.received[event.channel.id] = time.time()

    async def handler(self, channel: Channel, ctx: CallContext) -> None:
        self.entered[channel.id] = time.time()
        try:
            await channel.answer()
            await channel.play(["sound:beep"])
            self.beeped.add(channel.id)
            await channel.collect_digits(max_digits=1, first_timeout=3600)
        except ChannelHungUp:
            pass


async def run_step(b: Bench, n: int, hold: float) -> Step:
    step = Step(n)
    client = b.engine.client
    sub = b.notifier.subscribe(maxsize=1_000_000)
    pid = b.instance.pid() or 0
    rss0, cpu0, ast0 = rss_mb(), cpu_s(), cpu_s(pid)
    before = set(b.entered)
    t0 = time.monotonic()
    phones = await asyncio.gather(*(client.originate(
        "Local/inbound@hotline-test", context="hotline-test", extension="wait",
        caller_id=f"Load <1{secrets.randbelow(10**10):010d}>") for _ in range(n)))
    deadline = time.monotonic() + 60 + n * 0.2
    while time.monotonic() < deadline:
        mine = set(b.entered) - before
        if len(mine) >= n and len(b.beeped & mine) >= n:
            break
        await asyncio.sleep(0.05)
    step.setup_s = time.monotonic() - t0
    mine = set(b.entered) - before
    step.carried = len(b.beeped & mine)
    step.latencies_ms = [(b.entered[c] - b.stasis_at[c]) * 1000 for c in mine if c in b.stasis_at]
    step.ws_ms = [(b.received[c] - b.stasis_at[c]) * 1000 for c in mine if c in b.stasis_at]
    c1, a1 = cpu_s(), cpu_s(pid)
    await asyncio.sleep(hold)
    step.hold_cpu_pct = (cpu_s() - c1) / hold * 100
    step.ast_hold_cpu_pct = (cpu_s(pid) - a1) / hold * 100
    step.our_rss_peak_mb = rss_mb()
    step.our_rss_delta_mb = step.our_rss_peak_mb - rss0
    t1 = time.monotonic()
    results = await asyncio.gather(*(client.hangup(p.id) for p in phones), return_exceptions=True)
    failed_hangups = [r for r in results if isinstance(r, Exception)]
    if failed_hangups:
        print(f"  {len(failed_hangups)} hang-ups failed: {failed_hangups[0]}")
    ended = 0
    end_deadline = time.monotonic() + 120 + n * 0.5
    while ended < len(mine) and time.monotonic() < end_deadline:
        try:
            notice = await asyncio.wait_for(sub.get(), max(0.1, end_deadline - time.monotonic()))
        except asyncio.TimeoutError:
            break
        if notice is not None and notice.kind == "call_ended":
            ended += 1
    step.closed = ended
    step.teardown_s = time.monotonic() - t1
    step.our_cpu_s = cpu_s() - cpu0
    step.ast_cpu_s = cpu_s(pid) - ast0
    sub.close()
    return step


def make_instance(ports: PortAllocator) -> AsteriskInstance:
    rtp_start, rtp_end = ports.block(200)
    settings = Settings.model_validate({
        "asterisk": {"mode": os.environ.get("HOTLINE_ASTERISK_MODE", "auto"),
                     "sandbox_dir": REPO / ".cache" / "asterisk-root",
                     "ari_url": f"http://127.0.0.1:{ports.tcp()}", "ari_user": "bench",
                     "ari_password": secrets.token_hex(12), "sip_port": ports.udp(), "rtp_start": rtp_start,
                     "rtp_end": rtp_end, "instance": f"bench-ari-{os.getpid()}"},
        "agi": {"port": ports.tcp()}})
    return AsteriskInstance(resolve_runtime(settings), settings)


async def main(args: argparse.Namespace) -> None:
    instance = make_instance(PortAllocator())
    await asyncio.to_thread(instance.start)
    tmp = Path(tempfile.mkdtemp(prefix="ari-load-"))
    pg = None
    if args.postgres:
        from tests.plugins.database import run_isolated, start_postgres, stop_postgres, _pg_exec

        pg = await asyncio.to_thread(start_postgres)
        await asyncio.to_thread(run_isolated, lambda: _pg_exec(pg, "postgres", "CREATE DATABASE bench"))
        db = Database(pg.url("bench"))
    else:
        db = Database(f"sqlite+aiosqlite:///{tmp}/bench.db")
    await db.upgrade()
    bench = Bench(instance, db, tmp / "archive", not args.no_record)
    steps: list[Step] = []
    try:
        await bench.engine.start()
        await asyncio.wait_for(bench.engine.session.resynced.wait(), 30)
        for n in args.steps:
            step = await run_step(bench, n, args.hold)
            steps.append(step)
            print(f"{n:4d} calls: carried {step.carried}, closed {step.closed}, "
                  f"latency p50 {pct(step.latencies_ms, 50):.0f} ms p99 {pct(step.latencies_ms, 99):.0f} ms "
                  f"(event in our process p50 {pct(step.ws_ms, 50):.0f} p99 {pct(step.ws_ms, 99):.0f} ms), "
                  f"setup {step.setup_s:.1f} s, teardown {step.teardown_s:.1f} s, our CPU {step.our_cpu_s:.1f} s, "
                  f"RSS +{step.our_rss_delta_mb:.0f} MB, Asterisk CPU {step.ast_cpu_s:.1f} s", flush=True)
            if step.carried < n:
                break
    finally:
        await bench.engine.stop()
        await db.dispose()
        await asyncio.to_thread(instance.stop)
        if args.keep:
            print(f"kept {instance.home_host} (logs)")
        else:
            await asyncio.to_thread(instance.remove)
        if pg is not None:
            await asyncio.to_thread(stop_postgres, pg)
    if args.write:
        write(steps, args)


TABLE_HEAD = ("| calls | carried | closed | latency p50 ms | p99 ms | setup s | teardown s | our CPU s / 100 calls "
              "| our RSS MB / 100 calls | our CPU % holding | Asterisk CPU s / 100 calls | Asterisk CPU % holding |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|---|")


def write(steps: list[Step], args: argparse.Namespace) -> None:
    rows = []
    for s in steps:
        per100 = 100 / s.calls
        rows.append(f"| {s.calls} | {s.carried} | {s.closed} | {pct(s.latencies_ms, 50):.0f} | "
                    f"{pct(s.latencies_ms, 99):.0f} | {s.setup_s:.1f} | {s.teardown_s:.1f} | "
                    f"{s.our_cpu_s * per100:.2f} | {s.our_rss_delta_mb * per100:.1f} | {s.hold_cpu_pct:.1f} | "
                    f"{s.ast_cpu_s * per100:.2f} | {s.ast_hold_cpu_pct:.1f} |")
    db = "PostgreSQL (a throwaway local server)" if args.postgres else "SQLite"
    full = [s.calls for s in steps if s.carried == s.calls and s.closed == s.calls]
    carried = max(full) if full else 0
    record = "without" if args.no_record else "with"
    body = f"""
`.venv/bin/python bench/ari_load.py --steps {','.join(map(str, args.steps))} --hold {args.hold:g}\
{' --postgres' if args.postgres else ''}{' --no-record' if args.no_record else ''} --write`

One Python process (session + call service + {db}) and one Asterisk 22 on the same 2 cores. Each step
originates N Local-channel callers at once into Stasis(hotline,inbound,...), {record} two-track recording
(2 snoops + 2 live recordings per call, sox mix at the end). Handler: answer, play `sound:beep`, wait for
digits. "Carried" = handler ran and the beep finished; "closed" = row closed and recordings stored after
all callers hung up. Latency: Asterisk's StasisStart timestamp -> the handler's first line (the row and
the `arrived` event are written before the handler runs).

{TABLE_HEAD}
{chr(10).join(rows)}

Largest step carried and closed completely: **{carried} concurrent calls**. Setup and teardown are bursts
(all calls arriving or leaving in the same second); the steady state while calls sit in the IVR costs the
"while holding" columns.
"""
    db = "PostgreSQL" if args.postgres else "SQLite"
    name = f"ari-load-{db.lower()}{'-norec' if args.no_record else ''}"
    write_section(name, f"ARI call engine load (ivr/ari, ivr/calls), {db}, {record} recording", body)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=lambda v: [int(x) for x in v.split(",")], default=[50, 100, 200, 300])
    parser.add_argument("--hold", type=float, default=5.0)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL instead of SQLite")
    parser.add_argument("--keep", action="store_true", help="keep the Asterisk instance's home (logs)")
    parser.add_argument("--write", action="store_true")
    asyncio.run(main(parser.parse_args()))
