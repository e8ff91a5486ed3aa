"""The real Asterisk from the session fixture: ARI, the generated dialplan, the fallback, SIP via sipp."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import wave
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from ivr.asterisk.instance import AsteriskError, AsteriskInstance
from ivr.asterisk.ports import PortAllocator
from ivr.asterisk.sandbox import Sandbox, release_runtime
from tests.plugins.asterisk import (SIPP_DIR, SessionAsterisk, ari_headers, settings_for_asterisk, start_sipp,
                                   write_uac_scenario)

pytestmark = pytest.mark.asterisk

Event = dict[str, Any]
WAIT = 60.0  # generous bound on one step of a call on a busy machine; never a speed assertion


class Ari:
    """Just enough ARI for these tests (the real client is ivr/ari)."""

    def __init__(self, instance: AsteriskInstance, session: aiohttp.ClientSession) -> None:
        self.base = instance.ari_url + "/ari"
        self.session = session
        self.events: list[Event] = []
        self._changed = asyncio.Condition()

    async def call(self, method: str, path: str, expect: int | tuple[int, ...] = (200, 204),
                   **params: str | int) -> Any:
        async with self.session.request(method, self.base + path, params=params) as r:
            body = await r.text()
            codes = (expect,) if isinstance(expect, int) else expect
            assert r.status in codes, f"{method} {path} {params} -> {r.status} {body}"
            return json.loads(body) if body else None

    async def listen(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                async with self._changed:
                    self.events.append(json.loads(msg.data))
                    self._changed.notify_all()

    async def event(self, pred: Callable[[Event], bool], timeout: float = WAIT) -> Event:
        async def _wait() -> Event:
            async with self._changed:
                while True:
                    for e in self.events:
                        if pred(e):
                            return e
                    await self._changed.wait()
        return await asyncio.wait_for(_wait(), timeout)


@pytest.fixture
async def ari_rest(asterisk: AsteriskInstance) -> AsyncIterator[Ari]:
    """REST only: no websocket, so the Stasis app is NOT registered (our service is "down")."""
    async with aiohttp.ClientSession(headers=ari_headers(asterisk)) as session:
        yield Ari(asterisk, session)


@pytest.fixture
async def ari(asterisk: AsteriskInstance) -> AsyncIterator[Ari]:
    """REST + the app's event websocket: Stasis(hotline) calls land here."""
    async with aiohttp.ClientSession(headers=ari_headers(asterisk)) as session:
        client = Ari(asterisk, session)
        ws_url = asterisk.ari_url.replace("http", "ws", 1) + f"/ari/events?app={asterisk.app}"
        async with session.ws_connect(ws_url) as ws:
            task = asyncio.create_task(client.listen(ws))
            yield client
            await ws.close()
            await task


async def _eventually(check: Callable[[], Awaitable[Any]], what: str, timeout: float = WAIT) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.1)


async def _sidecar(asterisk: AsteriskInstance, uniqueid: str) -> dict[str, str] | None:
    path = asterisk.recordings_dir_host / f"fallback-{uniqueid}.txt"
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return None
    data = dict(line.split("=", 1) for line in lines if "=" in line)
    return data if "epoch" in data else None  # epoch is written last


async def _in_fallback(asterisk: AsteriskInstance, name: str) -> tuple[str, str] | None:
    """(uniqueid, `core show channel` text with its variables) once channel `name` runs in [hotline-fallback]."""
    concise = await asterisk.arx("core show channels concise")
    for line in concise.splitlines():
        fields = line.split("!")
        if fields[0] == name and fields[1] == "hotline-fallback":
            return fields[-1], await asterisk.arx(f"core show channel {name}")
    return None


def _other_half(local: dict[str, Any]) -> str:
    """The ;2 half of an originated Local channel: the one that runs the dialed extension (the "caller")."""
    name = str(local["name"])
    assert name.endswith(";1"), name
    return name[:-1] + "2"


def _short_prompt(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 800)


async def test_ari_answers_as_this_instance_with_the_configured_credentials(asterisk: AsteriskInstance) -> None:
    async with aiohttp.ClientSession() as s:
        url = asterisk.ari_url + "/ari/asterisk/info"
        async with s.get(url, headers=ari_headers(asterisk)) as r:
            assert r.status == 200
            info = await r.json()
        async with s.get(url, headers={"Authorization": "Basic aG90bGluZTp3cm9uZw=="}) as r:
            assert r.status == 401
    assert info["system"]["entity_id"] == asterisk.entity_id
    assert info["system"]["version"].startswith(("20", "21", "22", "23"))


async def test_generated_dialplan_endpoints_and_queue_are_loaded(asterisk: AsteriskInstance) -> None:
    inbound = await asterisk.arx("dialplan show hotline-inbound")
    assert "Stasis(${HOTLINE_APP},inbound,${EXTEN})" in inbound
    assert "Goto(hotline-fallback,s,1)" in inbound
    for ctx in ("hotline-agi", "hotline-lookup-example", "hotline-fallback", "hotline-agents", "hotline-test"):
        assert f"Context '{ctx}'" in await asterisk.arx(f"dialplan show {ctx}")
    endpoints = await asterisk.arx("pjsip show endpoints")
    queue = await asterisk.arx("queue show hotline-fallback")
    for ag in asterisk.agents:
        assert f"{ag.endpoint}/{ag.contact}" in endpoints
        assert f"(PJSIP/{ag.endpoint})" in queue
    assert "ringall" in queue
    transports = await asterisk.arx("pjsip show transports")
    assert f"127.0.0.1:{asterisk.sip_port}" in transports


async def test_call_without_our_app_falls_back_to_queue_and_message(
        asterisk: AsteriskInstance, ari_rest: Ari) -> None:
    """Our service is down (no Stasis app registered): the caller still reaches the fallback queue and can
    leave a message, played from our sounds dir and recorded where the host can read it."""
    prompt = asterisk.sounds_dir_host / "hotline" / asterisk.settings.hotline.language / "fallback" / "message.wav"
    _short_prompt(prompt)
    # No app= here: the ;2 half runs [hotline-inbound] with nobody listening for Stasis(hotline).
    local = await ari_rest.call("POST", "/channels", endpoint=f"Local/{asterisk.inbound_extension}@hotline-inbound",
                                context="hotline-test", extension="wait", priority=1, callerId="13800001111")
    caller_id, shown = await _eventually(lambda: _in_fallback(asterisk, _other_half(local)),
                                         "caller in hotline-fallback")
    assert "STASISSTATUS=FAILED" in shown
    sidecar = await _eventually(lambda: _sidecar(asterisk, caller_id), "message sidecar written")
    assert sidecar["reason"] == "stasis_failed"
    assert sidecar["caller"] == "13800001111"
    assert sidecar["dialed"] == asterisk.inbound_extension
    ari = ari_rest
    status = await ari.call("GET", f"/channels/{caller_id}/variable", variable="PLAYBACKSTATUS")
    assert status["value"] == "SUCCESS"  # our prompt from sounds_dir_host played, not the English fallback
    message = await ari.call("GET", f"/channels/{caller_id}/variable", variable="HOTLINE_MESSAGE")
    recording = asterisk.host_path(message["value"])
    assert recording.parent == asterisk.recordings_dir_host
    await _eventually(lambda: asyncio.to_thread(recording.exists), "Record() writing the message")
    await ari.call("DELETE", f"/channels/{local['id']}", expect=(204, 404))


async def test_app_can_hand_a_call_back_to_the_dialplan_fallback(asterisk: AsteriskInstance, ari: Ari) -> None:
    local = await ari.call("POST", "/channels", endpoint=f"Local/{asterisk.inbound_extension}@hotline-inbound",
                           context="hotline-test", extension="wait", priority=1)
    start = await ari.event(lambda e: e["type"] == "StasisStart" and e["channel"]["name"] == _other_half(local))
    caller_id = start["channel"]["id"]
    assert start["args"] == ["inbound", asterisk.inbound_extension]
    await ari.call("POST", f"/channels/{caller_id}/variable", variable="HOTLINE_CONTINUE", value="fallback")
    await ari.call("POST", f"/channels/{caller_id}/variable", variable="HOTLINE_FALLBACK_DETAIL",
                   value="flow gas: db down/x-1 $(rm *);`x`")
    await ari.call("POST", f"/channels/{caller_id}/continue")
    sidecar = await _eventually(lambda: _sidecar(asterisk, caller_id), "message sidecar written")
    assert sidecar["reason"] == "app_requested"
    # words joined, shell metacharacters dropped: the sidecar cannot be used to run anything
    assert sidecar["detail"] == "flow_gas:_db_down/x-1_rm_x"
    await ari.call("DELETE", f"/channels/{caller_id}", expect=(204, 404))


async def test_agi_flow_without_our_agi_server_falls_back(asterisk: AsteriskInstance, ari_rest: Ari) -> None:
    """Sites on the AGI path: nothing listens on the AGI port (our service down) -> AGISTATUS=FAILURE."""
    local = await ari_rest.call("POST", "/channels", endpoint="Local/gas@hotline-agi", context="hotline-test",
                                extension="wait", priority=1)
    caller_id, shown = await _eventually(lambda: _in_fallback(asterisk, _other_half(local)),
                                         "AGI caller in hotline-fallback")
    assert "AGISTATUS=FAILURE" in shown
    sidecar = await _eventually(lambda: _sidecar(asterisk, caller_id), "message sidecar written")
    assert sidecar["reason"] == "agi_failed"
    await ari_rest.call("DELETE", f"/channels/{local['id']}", expect=(204, 404))


async def test_sipp_caller_reaches_stasis_with_audio_and_dtmf(
        asterisk: AsteriskInstance, asterisk_ports: PortAllocator, ari: Ari, tmp_path: Path) -> None:
    scenario = write_uac_scenario(tmp_path / "uac.xml", "5#", first_dtmf_ms=1500, dtmf_gap_ms=600,
                                  hangup="asterisk")
    caller = await start_sipp(scenario, asterisk_ports, remote=f"127.0.0.1:{asterisk.sip_port}",
                              service=asterisk.inbound_extension, timeout=WAIT)
    async with caller:
        start = await ari.event(lambda e: e["type"] == "StasisStart" and e["channel"]["name"].startswith("PJSIP/"))
        chan = start["channel"]["id"]
        assert start["args"] == ["inbound", asterisk.inbound_extension]
        assert start["channel"]["caller"]["number"] == "13800000000"
        await ari.call("POST", f"/channels/{chan}/answer")
        for digit in "5#":
            await ari.event(lambda e: e["type"] == "ChannelDtmfReceived" and e["channel"]["id"] == chan
                            and e["digit"] == digit)
        await ari.call("DELETE", f"/channels/{chan}")
        result = await caller.wait()
    assert result.ok, result.describe()


async def test_sipp_agent_phone_answers_on_its_static_contact(
        asterisk: AsteriskInstance, asterisk_ports: PortAllocator, ari: Ari) -> None:
    phone = await start_sipp(SIPP_DIR / "uas_agent_answer.xml", asterisk_ports,
                             local_port=asterisk.agent_port("agent-1001"), pause_ms=500, timeout=WAIT)
    async with phone:
        chan = await ari.call("POST", "/channels", endpoint="PJSIP/agent-1001", app=asterisk.app,
                              appArgs="agent", timeout=30)
        await ari.event(lambda e: e["type"] == "StasisStart" and e["channel"]["id"] == chan["id"])
        await ari.call("DELETE", f"/channels/{chan['id']}")
        result = await phone.wait()
    assert result.ok, result.describe()


async def test_sipp_agent_phone_that_never_answers_is_cancelled(
        asterisk: AsteriskInstance, asterisk_ports: PortAllocator, ari: Ari) -> None:
    phone = await start_sipp(SIPP_DIR / "uas_agent_noanswer.xml", asterisk_ports,
                             local_port=asterisk.agent_port("agent-1002"), timeout=WAIT)
    async with phone:
        chan = await ari.call("POST", "/channels", endpoint="PJSIP/agent-1002", app=asterisk.app,
                              appArgs="agent", timeout=2)
        destroyed = await ari.event(lambda e: e["type"] == "ChannelDestroyed" and e["channel"]["id"] == chan["id"])
        result = await phone.wait()
    assert result.ok, result.describe()
    assert destroyed["cause"] in (19, 16, 18, 21, 127)  # no answer / normal / no user response


def test_session_instance_kills_stale_invites_fast_and_moves_phones_per_test(asterisk: AsteriskInstance) -> None:
    """The fixture's defences against a stale INVITE reaching a later test's phone (tests/plugins/asterisk.py).
    Synchronous on purpose: agent_port() blocks (a pjsip reload)."""
    assert isinstance(asterisk, SessionAsterisk)
    timers = {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in
                                                    asterisk.rtx("pjsip show settings").splitlines())}
    assert (timers["timer_t1"], timers["timer_b"]) == ("100", "6400")
    first = asterisk.agent_port("agent-1001")
    assert asterisk.agent_port("agent-1001") == first  # stable within a test
    asterisk.begin_test("a later test")
    later = asterisk.agent_port("agent-1001")
    assert later != first
    assert f"agent-1001/sip:agent-1001@127.0.0.1:{later} " in asterisk.rtx("pjsip show aor agent-1001")
    assert len({asterisk.agent_port(ep) for ep in ("agent-1001", "agent-1002", "agent-1003")}) == 3


class _NoHttp(AsteriskInstance):
    """An instance whose HTTP server is off: Asterisk runs but ARI can never answer."""

    def config_files(self) -> dict[str, str]:
        files = super().config_files()
        files["http.conf"] = files["http.conf"].replace("enabled = yes", "enabled = no")
        return files


def test_an_instance_that_cannot_serve_ari_fails_clearly_and_is_not_left_running(
        asterisk: AsteriskInstance, asterisk_ports: PortAllocator) -> None:
    settings = settings_for_asterisk(asterisk, asterisk={
        "ari_url": f"http://127.0.0.1:{asterisk_ports.tcp()}", "sip_port": asterisk_ports.udp(),
        "instance": f"{asterisk.name}-broken"})
    broken = _NoHttp(asterisk.runtime, settings)
    try:
        with pytest.raises(AsteriskError) as err:
            # Generous: it fails as soon as Asterisk has booted and nothing listens on the ARI port.
            broken.start(timeout=120)
        message = str(err.value)
        assert "did not answer ARI" in message and "nothing listens there" in message
        assert str(broken.console_log_host) in message
        assert "Asterisk Ready" in message  # the log tail shows it booted: the problem is ARI, not start-up
        assert not broken.is_running()
        assert broken.status().running is False
    finally:
        broken.stop()
        broken.remove()


def test_sandbox_mounts_are_released_only_when_nothing_runs_inside(asterisk: AsteriskInstance) -> None:
    """`hotline asterisk down` and the session fixture detach /proc and /dev/pts from the sandbox, but never
    under a running instance (here: the session's Asterisk, plus a process of our own chrooted there)."""
    runtime = asterisk.runtime
    if runtime.kind == "system":
        assert release_runtime(runtime) is False  # nothing of ours is mounted for a system Asterisk
        return
    sandbox = Sandbox(runtime.root)
    pid = asterisk.pid()
    assert pid is not None and pid in sandbox.users()
    sleeper = subprocess.Popen(["chroot", str(runtime.root), "sleep", "30"])
    try:
        deadline = time.monotonic() + 30
        while sleeper.pid not in sandbox.users() and time.monotonic() < deadline:
            time.sleep(0.05)  # chroot(8) execs sleep: its root changes as soon as it runs
        assert sleeper.pid in sandbox.users()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert release_runtime(runtime) is False
    assert os.path.ismount(runtime.root / "proc") and os.path.ismount(runtime.root / "dev/pts")
    assert asterisk.ari_ok()


def test_an_idle_sandbox_is_released(tmp_path: Path) -> None:
    """Nothing chrooted into the tree: release() detaches its /proc (mounted here as ensure() mounts it)."""
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    try:
        sandbox = Sandbox(root, mirror="http://127.0.0.1/unused")
        assert sandbox.users() == []
        assert sandbox.release() is True
        assert not os.path.ismount(root / "proc")
    finally:
        if os.path.ismount(root / "proc"):
            subprocess.run(["umount", "-l", str(root / "proc")], check=False)
