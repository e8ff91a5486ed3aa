"""One Asterisk and one hotline on loopback for the console benchmarks: the instance with its agent phones,
the production call side (tests/builders.telephony_app) with the console, sipp callers, and small helpers."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sys
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import AsyncIterator

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import bcrypt  # noqa: E402
from aiohttp import web  # noqa: E402

from agent_console import setup_console  # noqa: E402
from ivr.acd.ports import AcdEvent, CallOffered  # noqa: E402
from ivr.acd.service import ACD  # noqa: E402
from ivr.asterisk.config import AgentPhone  # noqa: E402
from ivr.asterisk.instance import AsteriskInstance  # noqa: E402
from ivr.asterisk.ports import PortAllocator  # noqa: E402
from ivr.asterisk.sandbox import resolve_runtime  # noqa: E402
from ivr.asterisk.sipp import SippProcess, start_sipp, uac_scenario  # noqa: E402
from ivr.calls.ari_engine import ARI  # noqa: E402
from ivr.calls.handler import CallContext  # noqa: E402
from ivr.channel import Channel, ChannelError  # noqa: E402
from ivr.db import Database  # noqa: E402
from ivr.db.models import Agent, Queue, Role  # noqa: E402
from ivr.settings import Settings  # noqa: E402
from tests.builders import telephony_app  # noqa: E402

PASSWORD = "bench-password"  # the benchmark's own throw-away agents, hashed at 4 rounds; never a shipped login


UAS_XML = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- Every agent phone of the bench: logs when an INVITE arrives (wall clock), rings, never answers. -->
<scenario name="bench agent phone">
  <recv request="INVITE" crlf="true">
    <action>
      <gettimeofday assign_to="s,us"/>
      <ereg regexp="sip:([0-9]+)@" search_in="hdr" header="From:" assign_to="_,caller"/>
      <ereg regexp="[0-9]+ INVITE" search_in="hdr" header="CSeq:" assign_to="invite_cseq"/>
      <log message="invite [$s] [$us] [$caller]"/>
    </action>
  </recv>
  <send><![CDATA[
      SIP/2.0 180 Ringing
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
      Content-Length: 0

    ]]></send>
  <recv request="CANCEL"/>
  <send><![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]></send>
  <send><![CDATA[
      SIP/2.0 487 Request Terminated
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTag01[call_number]
      [last_Call-ID:]
      CSeq: [$invite_cseq]
      Content-Length: 0

    ]]></send>
  <recv request="ACK" crlf="true"/>
</scenario>
"""


def uac_xml(hold_ms: int) -> str:
    """Callers 13900001, 13900002, ... (one per sipp call), each logging the wall clock of its INVITE."""
    xml = uac_scenario("", caller="19999999999", hangup="caller", hold_ms=hold_ms)
    xml = xml.replace("19999999999", "1390000[call_number]")
    stamp = ('  <nop><action><gettimeofday assign_to="s,us"/>'
             '<log message="invite [$s] [$us] 1390000[call_number]"/></action></nop>\n')
    return xml.replace('  <send retrans="500">', stamp + '  <send retrans="500">', 1)


def invites(log: str) -> dict[str, float]:
    """First INVITE time per caller number from a sipp -log_file."""
    out: dict[str, float] = {}
    for m in re.finditer(r"invite (\d+)(?:\.\d*)? (\d+)(?:\.\d*)? (\d+)", log):
        t = int(m.group(1)) + int(m.group(2)) / 1e6
        out.setdefault(m.group(3), t)
        out[m.group(3)] = min(out[m.group(3)], t)
    return out


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def load() -> str:
    return "/".join(Path("/proc/loadavg").read_text().split()[:3])


# --- one Asterisk + one hotline --------------------------------------------------------------------------


def make_instance(ports: PortAllocator, name: str, agents: list[AgentPhone]) -> AsteriskInstance:
    rtp_start, rtp_end = ports.block(1000)
    settings = Settings.model_validate({
        "asterisk": {"mode": os.environ.get("HOTLINE_ASTERISK_MODE", "auto"),
                     "sandbox_dir": REPO / ".cache" / "asterisk-root",
                     "ari_url": f"http://127.0.0.1:{ports.tcp()}", "ari_user": "bench",
                     "ari_password": secrets.token_urlsafe(32), "phone_secret": secrets.token_urlsafe(32),
                     "sip_port": ports.udp(), "rtp_start": rtp_start, "rtp_end": rtp_end, "instance": name,
                     "fallback_wait_seconds": 30},
        # Made for this run and thrown away with it: a benchmark never uses a secret that ships.
        "console": {"secret": secrets.token_urlsafe(32)},
        "agi": {"port": ports.tcp()}})
    return AsteriskInstance(resolve_runtime(settings), settings, agents=agents)


@dataclass
class Hotline:
    app: web.Application
    url: str
    agents: list[Agent]
    enqueued: dict[str, float] = field(default_factory=dict)  # caller number -> wall time of enqueue()
    offers: list[CallOffered] = field(default_factory=list)


@asynccontextmanager
async def hotline(instance: AsteriskInstance, db: Database, ports: PortAllocator, n_agents: int,
                  prefix: str) -> AsyncIterator[Hotline]:
    pw = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    async with db.begin() as s:
        if await s.get(Queue, 1) is None:
            s.add(Queue(name="general", display_name="综合咨询", skill="general", max_wait_seconds=600,
                        announce_every_seconds=600))
        agents = [Agent(agent_id=f"{prefix}{i:03d}", name=f"坐席{i}", password_hash=pw, role=Role.AGENT,
                        skills=["general"], sip_endpoint=f"{instance.name[:12]}-{i:03d}", wrap_up_seconds=5)
                  for i in range(1, n_agents + 1)]
        s.add_all(agents)
    settings = instance.settings.model_copy(update={"database": instance.settings.database.model_copy(
        update={"url": db.url})})
    h = Hotline(web.Application(), "", agents)

    async def handler(channel: Channel, ctx: CallContext) -> None:
        try:
            await channel.answer()
            h.enqueued[channel.info.caller_number] = time.time()
            await app[ACD].enqueue(ctx.call_id, channel, Request())
            if not channel.hung_up:
                await channel.hangup()
        except ChannelError:
            pass

    app = h.app = telephony_app(settings, db, handler=handler, recordings_dir=instance.recordings_dir_host,
                                asterisk_path=instance.asterisk_path)
    setup_console(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = ports.tcp()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    h.url = f"http://127.0.0.1:{port}"
    await asyncio.wait_for(app[ARI].session.resynced.wait(), 30)

    def on_acd(ev: AcdEvent) -> None:
        if isinstance(ev, CallOffered):
            h.offers.append(ev)

    app[ACD].subscribe(on_acd)
    try:
        yield h
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class Request:
    queue: str = "general"
    skill: str = ""
    priority: int = 0


async def ready(h: Hotline, agents: list[Agent]) -> None:
    acd = h.app[ACD]
    for a in agents:
        await acd.login(a.id)
        await acd.set_ready(a.id)


async def all_idle(h: Hotline, timeout: float = 120) -> None:
    acd = h.app[ACD]
    deadline = time.monotonic() + timeout
    while acd.waiting_calls() or any(s.state.value in ("ringing", "talking") for s in acd.roster.slots()):
        if time.monotonic() > deadline:
            raise RuntimeError("calls did not end")
        await asyncio.sleep(0.2)


async def callers(instance: AsteriskInstance, ports: PortAllocator, n: int, hold_ms: int, workdir: Path,
                  rate: float | None = None) -> SippProcess:
    """n callers: at `rate` per second (all within one second when None), each hanging up after hold_ms."""
    scenario = workdir / "uac.xml"
    scenario.write_text(uac_xml(hold_ms), encoding="iso-8859-1")
    extra = ["-r", f"{rate:g}", "-rp", "1000"] if rate else []
    return await start_sipp(scenario, ports, remote=f"127.0.0.1:{instance.settings.asterisk.sip_port}",
                            service=instance.settings.asterisk.inbound_extension, calls=n,
                            timeout=hold_ms / 1000 + n / (rate or n) + 90, workdir=workdir, extra=extra)


async def loop_lag(out: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        t = loop.time()
        await asyncio.sleep(0.01)
        out.append((loop.time() - t - 0.01) * 1000)
