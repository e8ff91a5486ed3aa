"""sipp as a SIP caller or agent phone: scenario writer + runner, shared by `hotline call` and the tests.

sipp runs in the foreground (`-bg` exits 99) bound to 127.0.0.1 with its own -p/-cp/-mp, so several runs
(and several test sessions) share one machine. Its control socket (-cp) is bound to 0.0.0.0 by sipp itself,
whatever -i says: one more reason to run it only for the length of a call.

The caller scenario offers PCMA + RFC 4733, plays sip-tester's g711a.pcap (a caller that sends no audio
delays Answer() by ~500 ms) and sends DTMF from sip-tester's per-key pcaps. It logs what happened to each
call (answered, who hung up, sipp's clock in ms) through <log> actions: SippResult.events().
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

from ivr.asterisk.ports import PortAllocator, port_free

SIPP_SHARE = Path("/usr/share/sip-tester")
# caller: hangs up after hold_ms, a BYE from the far end before that fails the call (strict, for tests);
# asterisk: waits for the far end's BYE; either: hangs up after hold_ms unless the far end hung up first.
Hangup = Literal["caller", "asterisk", "either"]
NUMBER_RE = re.compile(r"^\+?[0-9]{1,32}$")
DTMF_KEYS = "0123456789*#"


class SippError(Exception):
    """sipp is missing or could not start (its port was taken): str() says which, with sipp's output."""


def sipp_binary() -> str:
    sipp = shutil.which("sipp")
    if sipp is None:
        raise SippError("sipp is not installed (Debian: apt-get install sip-tester)")
    return sipp


# --- the caller scenario -----------------------------------------------------------------------------------


def dtmf_pcap(digit: str) -> Path:
    name = {"*": "star", "#": "pound"}.get(digit, digit)
    if not re.match(r"^[0-9]$|^star$|^pound$", name):
        raise ValueError(f"no RFC 4733 pcap for DTMF {digit!r} (0-9, *, #)")
    return SIPP_SHARE / f"dtmf_2833_{name}.pcap"


_INVITE = """  <send retrans="500">
    <![CDATA[
      INVITE sip:{dialed}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "hotline test" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{dialed}@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:{caller}@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=sendrecv

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>
    <![CDATA[
      ACK sip:{dialed}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "hotline test" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{dialed}@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:{caller}@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""

_BYE = """  <send retrans="500">
    <![CDATA[
      BYE sip:{dialed}@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "hotline test" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:{dialed}@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:{caller}@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"{next}/>
"""

_WAIT_BYE = """  <recv request="BYE"/>
"""

_BYE_OK = """  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:{caller}@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
"""


def _log(event: str) -> str:
    return f'  <nop><action><log message="call=[call_number] event={event} ms=[clock_tick]"/></action></nop>\n'


def _play(pcap: Path) -> str:
    return f'  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>\n'


def _wait_or_bye(ms: int, then: str) -> str:
    """Wait `ms` for the next step, or leave for far_bye when the far end hangs up meanwhile."""
    # timeout="0" would mean "no timeout": wait at least 1 ms.
    return (f'  <recv request="BYE" timeout="{max(1, ms)}" ontimeout="{then}" next="far_bye"/>\n'
            f'  <label id="{then}"/>\n')


def uac_scenario(digits: str = "1", *, caller: str = "13800000000", dialed: str | None = None,
                 audio: bool = True, first_dtmf_ms: int = 7500, dtmf_gap_ms: int = 1000, hold_ms: int = 1500,
                 hangup: Hangup = "caller") -> str:
    """An inbound caller: INVITE `dialed` (default: sipp's -s, i.e. [service]) from `caller` (the From user,
    which Asterisk takes as CALLERID(num)), plays g711a.pcap, sends `digits` (`first_dtmf_ms` after the
    answer, then `dtmf_gap_ms` apart), then hangs up as `hangup` says (after `hold_ms` for caller/either)."""
    if not NUMBER_RE.match(caller):
        raise ValueError(f"caller number {caller!r}: digits only (an optional leading +), at most 32")
    if dialed is not None and not re.match(r"^[0-9A-Za-z*#+]{1,32}$", dialed):
        raise ValueError(f"dialed number {dialed!r}: digits only")
    pcaps = [dtmf_pcap(d) for d in digits]
    fmt = {"caller": caller, "dialed": dialed or "[service]"}
    body = [_INVITE.format(**fmt), _log("answered")]
    if audio:
        body.append(_play(SIPP_SHARE / "g711a.pcap"))
    pause = first_dtmf_ms
    for i, pcap in enumerate(pcaps):
        if hangup == "either":
            body.append(_wait_or_bye(pause, f"key{i}"))
        else:
            body.append(f'  <pause milliseconds="{pause}"/>\n')
        body.append(_play(pcap))
        pause = dtmf_gap_ms
    if pcaps:
        body.append(_log("keys-sent"))
    if hangup == "asterisk":
        body += [_WAIT_BYE, _log("far-end-hangup"), _BYE_OK.format(**fmt)]
    elif hangup == "caller":
        body += [f'  <pause milliseconds="{hold_ms}"/>\n', _log("caller-hangup"), _BYE.format(**fmt, next="")]
    else:
        body += [_wait_or_bye(hold_ms, "caller_bye"), _log("caller-hangup"),
                 _BYE.format(**fmt, next=' next="done"'),
                 '  <label id="far_bye"/>\n', _log("far-end-hangup"), _BYE_OK.format(**fmt),
                 '  <label id="done"/>\n']
    return ('<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
            f'<!-- generated by ivr/asterisk/sipp.py uac_scenario(digits={digits!r}, hangup={hangup!r}) -->\n'
            f'<scenario name="hotline inbound caller">\n{"".join(body)}'
            '  <ResponseTimeRepartition value="10, 20, 30, 40, 50, 100, 150, 200"/>\n'
            '  <CallLengthRepartition value="10, 50, 100, 500, 1000, 5000, 10000"/>\n</scenario>\n')


def write_uac_scenario(path: Path, digits: str = "1", **kwargs: Any) -> Path:
    path.write_text(uac_scenario(digits, **kwargs), encoding="iso-8859-1")
    return path


# --- running sipp ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallEvent:
    call: int  # sipp's call number, from 1
    event: str  # answered, keys-sent, caller-hangup, far-end-hangup
    ms: int  # sipp's clock


@dataclass
class SippResult:
    returncode: int
    command: list[str]
    stdout: str
    errors: str  # sipp's error file (unexpected messages, timeouts)
    timed_out: bool = False
    logs: str = ""  # the scenario's <log> lines

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def events(self) -> list[CallEvent]:
        out = []
        for m in re.finditer(r"^call=(\d+) event=([\w-]+) ms=(\d+)$", self.logs, re.M):
            out.append(CallEvent(int(m.group(1)), m.group(2), int(m.group(3))))
        return out

    def describe(self) -> str:
        tail = "\n".join(self.stdout.strip().splitlines()[-25:])
        return (f"sipp exit {self.returncode}{' (killed after timeout)' if self.timed_out else ''}: "
                f"{' '.join(self.command)}\n--- errors\n{self.errors.strip()[-3000:]}\n--- screen\n{tail}")

    def first_error(self) -> str:
        """sipp's first complaint in one line, for a summary."""
        for line in (self.errors + "\n" + self.stdout).splitlines():
            line = line.strip()
            if line and re.search(r"abort|unexpected|timeout|error|unable|failed", line, re.I) \
                    and not line.startswith(("Sipp", "-")):
                got = re.search(r"unexpected message.*received '(SIP/2\.0 )?([^\r\n']+)", line)
                if got:  # "Aborting call on unexpected message for Call-Id ...: received 'SIP/2.0 484 ..."
                    return f"unexpected {'response' if got.group(1) else 'request'} {got.group(2)[:120]}"
                return re.sub(r"^\d{4}-\d\d-\d\d\s+[\d:.]+\s+\d+\.\d+:\s*", "", line)[:200]
        return f"sipp exit {self.returncode}"


@dataclass
class SippProcess:
    """One sipp run in the foreground, bound to 127.0.0.1 with its own -p/-cp/-mp."""

    scenario: Path
    local_port: int
    control_port: int
    media_port: int
    remote: str | None = None
    service: str | None = None
    calls: int = 1  # -m; calls > 1 are placed together (-l calls, -r calls per second)
    timeout: float = 60.0
    pause_ms: int | None = None  # -d: the length of every <pause/> without milliseconds (answer delay)
    extra: Sequence[str] = ()
    workdir: Path | None = None
    command: list[str] = field(default_factory=list)
    _proc: asyncio.subprocess.Process | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def _build(self, workdir: Path) -> list[str]:
        cmd = [sipp_binary()]
        if self.remote:
            cmd.append(self.remote)
        cmd += ["-sf", str(self.scenario), "-i", "127.0.0.1", "-p", str(self.local_port),
                "-cp", str(self.control_port), "-mi", "127.0.0.1", "-mp", str(self.media_port),
                "-m", str(self.calls), "-timeout", f"{int(self.timeout)}s", "-timeout_error", "-nostdin",
                "-trace_err", "-error_file", str(workdir / "errors.log"),
                "-trace_logs", "-log_file", str(workdir / "calls.log"), "-max_recv_loops", "1000"]
        if self.calls > 1:
            cmd += ["-l", str(self.calls), "-r", str(self.calls)]
        if self.service:
            cmd += ["-s", self.service]
        if self.pause_ms is not None:
            cmd += ["-d", str(self.pause_ms)]
        return cmd + list(self.extra)

    async def start(self) -> "SippProcess":
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="sipp-")
            self.workdir = Path(self._tmp.name)
        self.command = self._build(self.workdir)
        self._proc = await asyncio.create_subprocess_exec(
            *self.command, cwd=self.workdir, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        # Wait until sipp owns its SIP port: a UAS that lost the port to another sipp exits at once
        # ("Unable to bind main socket") and a call sent now would go to the other one.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while port_free(self.local_port, "udp"):
            if self._proc.returncode is not None or loop.time() > deadline:
                result = await self.kill()
                raise SippError(f"sipp did not bind 127.0.0.1:{self.local_port}\n{result.describe()}")
            await asyncio.sleep(0.02)
        return self

    async def wait(self) -> SippResult:
        assert self._proc is not None, "start() first"
        timed_out = False
        try:
            out, _ = await asyncio.wait_for(self._proc.communicate(), self.timeout + 10)
        except asyncio.TimeoutError:
            timed_out = True
            self._proc.kill()
            out, _ = await self._proc.communicate()
        errors = logs = ""
        if self.workdir is not None:
            errors = _read(self.workdir / "errors.log")
            logs = _read(self.workdir / "calls.log")
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return SippResult(self._proc.returncode if self._proc.returncode is not None else -9, self.command,
                          out.decode(errors="replace"), errors, timed_out, logs)

    async def kill(self) -> SippResult:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
        return await self.wait()

    async def __aenter__(self) -> "SippProcess":
        return self if self._proc is not None else await self.start()

    async def __aexit__(self, *exc: object) -> None:
        # Failed or cancelled before wait(): sipp must not keep its ports (or keep calling).
        if self._proc is not None and (self._proc.returncode is None or self._tmp is not None):
            await asyncio.shield(self.kill())


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


async def start_sipp(scenario: Path, ports: PortAllocator, *, remote: str | None = None,
                     service: str | None = None, local_port: int | None = None, calls: int = 1,
                     timeout: float = 60.0, pause_ms: int | None = None, extra: Sequence[str] = (),
                     workdir: Path | None = None) -> SippProcess:
    """Start sipp and return once it listens; `await proc.wait()` for its SippResult.

    Agent phone that answers after 2 s:
        uas = await start_sipp(SIPP_DIR / "uas_agent_answer.xml", ports,
                               local_port=asterisk.agent_port("agent-1001"), pause_ms=2000)
    """
    proc = SippProcess(scenario=scenario, local_port=local_port or ports.udp(), control_port=ports.udp(),
                       media_port=ports.block(4)[0], remote=remote, service=service, calls=calls,
                       timeout=timeout, pause_ms=pause_ms, extra=extra, workdir=workdir)
    return await proc.start()


async def run_sipp(scenario: Path, ports: PortAllocator, **kwargs: Any) -> SippResult:
    """start_sipp(...) and wait for it: a caller into the instance, e.g.
    await run_sipp(path, ports, remote=f"127.0.0.1:{asterisk.sip_port}", service="95598")"""
    async with await start_sipp(scenario, ports, **kwargs) as proc:
        return await proc.wait()
