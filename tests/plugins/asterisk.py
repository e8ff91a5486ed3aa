"""pytest plugin: a real Asterisk for the session, plus sipp helpers.

Register it once (tests/conftest.py): `pytest_plugins = ["tests.plugins.asterisk"]`.

Fixtures
    asterisk_ports  (session) PortAllocator handing out free loopback ports (random, bind-checked)
    asterisk        (session) a fresh AsteriskInstance on free ports: ari_url, ari_user, ari_password, app,
                    sip_port, inbound_extension, agents (agent-1001..1003 with static contacts
                    sip:agent-100N@127.0.0.1:<port>; agent_port(endpoint)), settings, recordings_dir(_host),
                    sounds_dir(_host) (holds hotline/<lang>/...: sound:hotline/... plays from there),
                    host_path()/asterisk_path(), rtx()/arx(), log_tail().
                    The dialplan fallback is shortened for tests: queue wait 2 s, message 5 s.
                    Asterisk that cannot start FAILS the test (never skipped).
Helpers
    settings_for_asterisk(instance, base=None, **sections)  Settings pointing at the instance
    ari_headers(instance)                                   Authorization header (aiohttp's auth= warns)
    SippProcess / start_sipp(...) / run_sipp(...)           sipp in the foreground, loopback only
    uac_scenario(...) / write_uac_scenario(...)             an inbound caller: audio + RFC 4733 DTMF
    SIPP_DIR                                                tests/sipp (agent-phone UAS scenarios)
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Literal, Mapping, Sequence

import pytest

from ivr.asterisk.config import AgentPhone
from ivr.asterisk.instance import AsteriskError, AsteriskInstance, list_instances
from ivr.asterisk.ports import PortAllocator, port_free
from ivr.asterisk.sandbox import SandboxError, resolve_runtime
from ivr.settings import Settings

SIPP_DIR = Path(__file__).resolve().parents[1] / "sipp"
SIPP_SHARE = Path("/usr/share/sip-tester")
TEST_AGENTS = ("agent-1001", "agent-1002", "agent-1003")
INSTANCE_PREFIX = "pytest-"


# --- settings ---------------------------------------------------------------------------------------------


def _base_asterisk_settings(rootdir: Path) -> dict[str, Any]:
    """Mode/sandbox/mirror may come from the environment (CI); nothing else of a developer's config leaks in."""
    env = os.environ
    return {
        "mode": env.get("HOTLINE_ASTERISK_MODE", "auto"),
        "sandbox_dir": Path(env.get("HOTLINE_ASTERISK_SANDBOX_DIR", rootdir / ".cache" / "asterisk-root")),
        "mirror": env.get("HOTLINE_ASTERISK_MIRROR", ""),
    }


def settings_for_asterisk(instance: AsteriskInstance, base: Settings | None = None,
                          **sections: Mapping[str, Any]) -> Settings:
    """`base` (default: defaults) with the instance's [asterisk] section and AGI port, then `sections`.

    settings_for_asterisk(asterisk, settings, hotline={"flow": "water"}, ring={"count": 2})
    """
    data = (base or Settings.model_validate({})).model_dump()
    data["asterisk"] = instance.settings.asterisk.model_dump()
    data["agi"] = {**data["agi"], "host": instance.settings.agi.host, "port": instance.settings.agi.port}
    for name, values in sections.items():
        if name not in data or not isinstance(data[name], dict):
            raise KeyError(f"no settings section [{name}]")
        data[name] = {**data[name], **values}
    return Settings.model_validate(data)


def ari_headers(instance: AsteriskInstance) -> dict[str, str]:
    token = base64.b64encode(f"{instance.ari_user}:{instance.ari_password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# --- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def asterisk_ports() -> PortAllocator:
    return PortAllocator()


def _reap_orphans(instance: AsteriskInstance, keep_seconds: float = 6 * 3600) -> None:
    """Stop test instances whose pytest process died (a killed session leaves Asterisk running) and delete
    their homes once they are old: a failed session keeps its logs for a while for whoever debugs it."""
    for name in list_instances(instance.runtime, instance.settings):
        m = re.match(rf"^{INSTANCE_PREFIX}(\d+)-", name)
        if not m or os.path.exists(f"/proc/{m.group(1)}"):
            continue
        orphan = AsteriskInstance(instance.runtime, instance.settings, name=name)
        try:
            orphan.stop()  # only signals a pid whose command line names this instance's config
            if time.time() - orphan.home_host.stat().st_mtime > keep_seconds:
                orphan.remove()
        except (AsteriskError, OSError):
            continue


def _test_instance(rootdir: Path, ports: PortAllocator) -> AsteriskInstance:
    rtp_start, rtp_end = ports.block(200)
    settings = Settings.model_validate({
        "asterisk": {
            **_base_asterisk_settings(rootdir),
            "ari_url": f"http://127.0.0.1:{ports.tcp()}",
            "ari_user": "hotline-test",
            "ari_password": secrets.token_hex(12),
            "app": "hotline",
            "sip_host": "127.0.0.1",
            "sip_port": ports.udp(),
            "rtp_start": rtp_start,
            "rtp_end": rtp_end,
            "fallback_wait_seconds": 2,
            "fallback_message_seconds": 5,
            "instance": f"{INSTANCE_PREFIX}{os.getpid()}-{secrets.token_hex(3)}",
        },
        "agi": {"host": "127.0.0.1", "port": ports.tcp()},
    })
    try:
        runtime = resolve_runtime(settings)  # builds the sandbox on first use (~45 s), locked across sessions
    except SandboxError as exc:
        pytest.fail(f"no Asterisk for the tests: {exc}", pytrace=False)
    agents = [AgentPhone(ep, f"pw-{ep}", f"sip:{ep}@127.0.0.1:{ports.udp()}") for ep in TEST_AGENTS]
    return AsteriskInstance(runtime, settings, agents=agents)


@pytest.fixture(scope="session")
def asterisk(request: pytest.FixtureRequest, asterisk_ports: PortAllocator) -> Iterator[AsteriskInstance]:
    rootdir = Path(request.config.rootpath)
    instance = _test_instance(rootdir, asterisk_ports)
    _reap_orphans(instance)
    try:
        instance.start()
    except AsteriskError as first:
        # The likeliest cause is a port taken between our check and Asterisk's bind: once more, new ports.
        instance.remove()
        instance = _test_instance(rootdir, asterisk_ports)
        try:
            instance.start()
        except AsteriskError as exc:
            pytest.fail(f"the test Asterisk did not start (twice).\nfirst: {first}\nthen: {exc}", pytrace=False)
    try:
        yield instance
    finally:
        instance.stop()
        if request.session.testsfailed and not os.environ.get("HOTLINE_TEST_DROP_ASTERISK"):
            print(f"\n[asterisk fixture] tests failed: kept {instance.home_host} (logs, recordings)")
        else:
            instance.remove()


# --- sipp ---------------------------------------------------------------------------------------------------


@dataclass
class SippResult:
    returncode: int
    command: list[str]
    stdout: str
    errors: str  # sipp's error file (unexpected messages, timeouts)
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def describe(self) -> str:
        tail = "\n".join(self.stdout.strip().splitlines()[-25:])
        return (f"sipp exit {self.returncode}{' (killed after timeout)' if self.timed_out else ''}: "
                f"{' '.join(self.command)}\n--- errors\n{self.errors.strip()[-3000:]}\n--- screen\n{tail}")


@dataclass
class SippProcess:
    """One sipp run in the foreground (`-bg` exits 99), bound to 127.0.0.1 with its own -p/-cp/-mp."""

    scenario: Path
    local_port: int
    control_port: int
    media_port: int
    remote: str | None = None
    service: str | None = None
    calls: int = 1
    timeout: float = 60.0
    pause_ms: int | None = None  # -d: the length of every <pause/> without milliseconds (answer delay)
    extra: Sequence[str] = ()
    workdir: Path | None = None
    command: list[str] = field(default_factory=list)
    _proc: asyncio.subprocess.Process | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    def _build(self, workdir: Path) -> list[str]:
        sipp = shutil.which("sipp")
        if sipp is None:
            pytest.fail("sipp is not installed (apt-get install sip-tester)", pytrace=False)
        cmd = [sipp]
        if self.remote:
            cmd.append(self.remote)
        cmd += ["-sf", str(self.scenario), "-i", "127.0.0.1", "-p", str(self.local_port),
                "-cp", str(self.control_port), "-mi", "127.0.0.1", "-mp", str(self.media_port),
                "-m", str(self.calls), "-timeout", f"{int(self.timeout)}s", "-timeout_error", "-nostdin",
                "-trace_err", "-error_file", str(workdir / "errors.log"), "-max_recv_loops", "1000"]
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
                result = await self.wait()
                pytest.fail(f"sipp did not bind 127.0.0.1:{self.local_port}\n{result.describe()}", pytrace=False)
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
        errors = ""
        if self.workdir is not None and (self.workdir / "errors.log").exists():
            errors = (self.workdir / "errors.log").read_text(errors="replace")
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return SippResult(self._proc.returncode if self._proc.returncode is not None else -9, self.command,
                          out.decode(errors="replace"), errors, timed_out)

    async def kill(self) -> SippResult:
        if self._proc is not None and self._proc.returncode is None:
            self._proc.kill()
        return await self.wait()

    async def __aenter__(self) -> "SippProcess":
        return self if self._proc is not None else await self.start()

    async def __aexit__(self, *exc: object) -> None:
        # A test that failed before wait() must not leave sipp holding its ports for the next test.
        if self._proc is not None and (self._proc.returncode is None or self._tmp is not None):
            await self.kill()


async def start_sipp(scenario: Path, ports: PortAllocator, *, remote: str | None = None,
                     service: str | None = None, local_port: int | None = None, calls: int = 1,
                     timeout: float = 60.0, pause_ms: int | None = None, extra: Sequence[str] = (),
                     workdir: Path | None = None) -> SippProcess:
    """Start sipp and return once it listens; `await proc.wait()` for its SippResult.

    Agent phone that answers after 2 s:
        uas = await start_sipp(SIPP_DIR / "uas_agent_answer.xml", asterisk_ports,
                               local_port=asterisk.agent_port("agent-1001"), pause_ms=2000)
    """
    proc = SippProcess(scenario=scenario, local_port=local_port or ports.udp(), control_port=ports.udp(),
                       media_port=ports.block(4)[0], remote=remote, service=service, calls=calls,
                       timeout=timeout, pause_ms=pause_ms, extra=extra, workdir=workdir)
    return await proc.start()


async def run_sipp(scenario: Path, ports: PortAllocator, **kwargs: Any) -> SippResult:
    """start_sipp(...) and wait for it: a caller into the instance, e.g.
    await run_sipp(path, asterisk_ports, remote=f"127.0.0.1:{asterisk.sip_port}", service="95598")"""
    proc = await start_sipp(scenario, ports, **kwargs)
    return await proc.wait()


def _dtmf_pcap(digit: str) -> Path:
    name = {"*": "star", "#": "pound"}.get(digit, digit)
    if not re.match(r"^[0-9]$|^star$|^pound$", name):
        raise ValueError(f"no RFC 4733 pcap for DTMF {digit!r} (0-9, *, #)")
    return SIPP_SHARE / f"dtmf_2833_{name}.pcap"


_INVITE = """  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "hotline test" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
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
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "hotline test" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
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
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: "hotline test" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:{caller}@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""

_WAIT_BYE = """  <recv request="BYE"/>
  <send>
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


def uac_scenario(digits: str = "1", *, caller: str = "13800000000", audio: bool = True,
                 first_dtmf_ms: int = 7500, dtmf_gap_ms: int = 1000, hold_ms: int = 1500,
                 hangup: Literal["caller", "asterisk"] = "caller") -> str:
    """An inbound caller: INVITE [service] offering PCMA + RFC 4733, plays g711a.pcap (a caller that sends
    no audio delays Answer() by ~500 ms), sends `digits` from sip-tester's DTMF pcaps, then either hangs up
    after `hold_ms` or waits for Asterisk's BYE."""
    if not re.match(r"^[0-9+]{1,32}$", caller):
        raise ValueError(f"caller number {caller!r}: digits only")
    body = [_INVITE.format(caller=caller)]
    if audio:
        body.append(f'  <nop><action><exec play_pcap_audio="{SIPP_SHARE / "g711a.pcap"}"/></action></nop>\n')
    pause = first_dtmf_ms
    for d in digits:
        body.append(f'  <pause milliseconds="{pause}"/>\n')
        body.append(f'  <nop><action><exec play_pcap_audio="{_dtmf_pcap(d)}"/></action></nop>\n')
        pause = dtmf_gap_ms
    if hangup == "caller":
        body.append(f'  <pause milliseconds="{hold_ms}"/>\n')
        body.append(_BYE.format(caller=caller))
    else:
        body.append(_WAIT_BYE.format(caller=caller))
    return ('<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
            f'<!-- generated by tests/plugins/asterisk.py uac_scenario(digits={digits!r}, hangup={hangup!r}) -->\n'
            f'<scenario name="hotline inbound caller">\n{"".join(body)}'
            '  <ResponseTimeRepartition value="10, 20, 30, 40, 50, 100, 150, 200"/>\n'
            '  <CallLengthRepartition value="10, 50, 100, 500, 1000, 5000, 10000"/>\n</scenario>\n')


def write_uac_scenario(path: Path, digits: str = "1", **kwargs: Any) -> Path:
    path.write_text(uac_scenario(digits, **kwargs), encoding="iso-8859-1")
    return path
