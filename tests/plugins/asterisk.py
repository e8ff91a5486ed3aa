"""pytest plugin: a real Asterisk for the session, plus sipp helpers.

Register it once (tests/conftest.py): `pytest_plugins = ["tests.plugins.asterisk"]`.

Fixtures
    asterisk_ports  (session) PortAllocator handing out free loopback ports (random, bind-checked)
    asterisk        (session) a fresh AsteriskInstance on free ports: ari_url, ari_user, ari_password, app,
                    sip_port, inbound_extension, agents (agent-1001..1003 with static contacts
                    sip:agent-100N@127.0.0.1:<port>; agent_port(endpoint): see below), settings,
                    recordings_dir(_host),
                    sounds_dir(_host) (holds hotline/<lang>/...: sound:hotline/... plays from there),
                    host_path()/asterisk_path(), rtx()/arx(), log_tail().
                    The dialplan fallback is shortened for tests: queue wait 2 s, message 5 s.
                    Asterisk that cannot start FAILS the test (never skipped).
                    Stale calls to agent phones: an INVITE to an agent port where nothing listens (the fallback
                    queue rings every agent) is retransmitted until pjsip's Timer B, and a later test's UAS on
                    that port would take it instead of its own call. So the instance runs with short SIP timers
                    (T1 100 ms: Timer B 6.4 s instead of 32 s) and the first agent_port() of each test moves
                    every agent's static contact to ports never used before (a pjsip reload).
Helpers
    settings_for_asterisk(instance, base=None, **sections)  Settings pointing at the instance
    ari_headers(instance)                                   Authorization header (aiohttp's auth= warns)
    SippProcess / start_sipp(...) / run_sipp(...)           sipp in the foreground, loopback only
    uac_scenario(...) / write_uac_scenario(...)             an inbound caller: audio + RFC 4733 DTMF
    SIPP_DIR                                                tests/sipp (agent-phone UAS scenarios)
    The sipp pieces live in ivr/asterisk/sipp.py (`hotline call` uses them too); re-exported here.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator, Mapping

import pytest

from ivr.asterisk.config import AgentPhone, SipTimers
from ivr.asterisk.instance import AsteriskError, AsteriskInstance, list_instances
from ivr.asterisk.ports import PortAllocator
from ivr.asterisk.sandbox import Runtime, Sandbox, SandboxError, release_runtime, resolve_runtime
from ivr.asterisk.sipp import (SIPP_SHARE, SippError, SippProcess, SippResult, uac_scenario,
                               write_uac_scenario)
from ivr.asterisk.sipp import start_sipp as _start_sipp
from ivr.settings import Settings
from tests.plugins.secret_values import secret_sections, with_secrets

SIPP_DIR = Path(__file__).resolve().parents[1] / "sipp"
TEST_AGENTS = ("agent-1001", "agent-1002", "agent-1003")
INSTANCE_PREFIX = "pytest-"
# pjsip's minimum T1 (100 ms) and Timer B = 64 x T1: a stale INVITE dies after 6.4 s instead of 32 s.
TEST_SIP_TIMERS = SipTimers(t1_ms=100, timer_b_ms=6400)
CONTACT_WAIT = 30.0  # generous bound for pjsip to show a reloaded contact; not a speed assertion
__all__ = ["SIPP_DIR", "SIPP_SHARE", "SippProcess", "SippResult", "ari_headers", "run_sipp",
           "settings_for_asterisk", "start_sipp", "uac_scenario", "write_uac_scenario"]


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
    """`base` (default: defaults with the session's secrets) with the instance's [asterisk] section (its ARI
    password and phone secret included) and AGI port, then `sections`.

    settings_for_asterisk(asterisk, settings, hotline={"flow": "water"}, ring={"count": 2})
    """
    data = (base or with_secrets(Settings.model_validate({}))).model_dump()
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


class SessionAsterisk(AsteriskInstance):
    """The session's instance: short SIP timers, and fresh agent ports for every test that uses a phone."""

    def __init__(self, runtime: Runtime, settings: Settings, *, agents: list[AgentPhone],
                 ports: PortAllocator) -> None:
        super().__init__(runtime, settings, agents=agents, sip_timers=TEST_SIP_TIMERS)
        self._ports = ports
        self._test: str | None = None
        self._moved_for: str | None = None

    def begin_test(self, nodeid: str) -> None:
        self._test = nodeid

    def agent_port(self, endpoint: str) -> int:
        """The UDP port where a UAS must listen to be `endpoint`: new in each test (see the module doc).

        Blocking (a file write and one `asterisk -rx`), once per test, before the test's first phone exists.
        """
        if self._test is not None and self._moved_for != self._test and self.is_running():
            self.move_agent_contacts()
            self._moved_for = self._test
        return super().agent_port(endpoint)

    def move_agent_contacts(self) -> None:
        """Point every agent's static contact at a port never handed out before and reload pjsip."""
        self.agents = tuple(replace(ag, contact=f"sip:{ag.endpoint}@127.0.0.1:{self._ports.udp()}")
                            for ag in self.agents)
        if "pjsip.conf" not in self.write_config():
            raise AsteriskError("moving the agent contacts did not change pjsip.conf")
        self.rtx("module reload res_pjsip.so")
        deadline = time.monotonic() + CONTACT_WAIT
        for ag in self.agents:
            assert ag.contact is not None
            # The live contact line (endpoint/uri), not just the configured value.
            while f"{ag.endpoint}/{ag.contact} " not in self.rtx(f"pjsip show aor {ag.endpoint}"):
                if time.monotonic() > deadline:
                    raise AsteriskError(f"pjsip did not take the new contact {ag.contact} of {ag.endpoint}")
                time.sleep(0.05)


def _test_instance(rootdir: Path, ports: PortAllocator) -> SessionAsterisk:
    rtp_start, rtp_end = ports.block(200)
    settings = Settings.model_validate({
        "asterisk": {
            **_base_asterisk_settings(rootdir),
            "ari_url": f"http://127.0.0.1:{ports.tcp()}",
            "ari_user": "hotline-test",
            **secret_sections()["asterisk"],  # ari_password and phone_secret
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
    return SessionAsterisk(runtime, settings, agents=agents, ports=ports)


@pytest.fixture(scope="session")
def asterisk(request: pytest.FixtureRequest, asterisk_ports: PortAllocator) -> Iterator[SessionAsterisk]:
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
        # No /proc or /dev/pts left mounted inside the checkout once the tests are done (CI deletes the clone).
        if instance.runtime.kind == "sandbox" and not release_runtime(instance.runtime):
            print(f"\n[asterisk fixture] processes still run in the sandbox, its mounts stay: "
                  f"{Sandbox(instance.runtime.root).users()}")
        if request.session.testsfailed and not os.environ.get("HOTLINE_TEST_DROP_ASTERISK"):
            print(f"\n[asterisk fixture] tests failed: kept {instance.home_host} (logs, recordings)")
        else:
            instance.remove()


@pytest.fixture(autouse=True)
def _asterisk_test_boundary(request: pytest.FixtureRequest) -> None:
    """Tells the session instance a new test began (its first agent_port() moves the phones to new ports)."""
    if "asterisk" in request.fixturenames:
        instance = request.getfixturevalue("asterisk")
        if isinstance(instance, SessionAsterisk):
            instance.begin_test(request.node.nodeid)


# --- sipp (one implementation: ivr/asterisk/sipp.py, shared with `hotline call`) ---------------------------


async def start_sipp(scenario: Path, ports: PortAllocator, **kwargs: Any) -> SippProcess:
    """ivr.asterisk.sipp.start_sipp, failing the test (not erroring it) when sipp is missing or cannot bind.

    Agent phone that answers after 2 s:
        uas = await start_sipp(SIPP_DIR / "uas_agent_answer.xml", asterisk_ports,
                               local_port=asterisk.agent_port("agent-1001"), pause_ms=2000)
    """
    try:
        return await _start_sipp(scenario, ports, **kwargs)
    except SippError as exc:
        pytest.fail(str(exc), pytrace=False)


async def run_sipp(scenario: Path, ports: PortAllocator, **kwargs: Any) -> SippResult:
    """start_sipp(...) and wait for it: a caller into the instance, e.g.
    await run_sipp(path, asterisk_ports, remote=f"127.0.0.1:{asterisk.sip_port}", service="95598")"""
    async with await start_sipp(scenario, ports, **kwargs) as proc:
        return await proc.wait()
