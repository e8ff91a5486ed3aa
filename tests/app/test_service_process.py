"""The real `hotline serve` process on the real Asterisk, killed and restarted under a live call.

A caller (a silent Local channel) is in the gas flow's IVR when the service is SIGKILLed: Asterisk keeps the
channel in Stasis. The restarted service resyncs it (one call row, a "resynced" event) and, its IVR state
being lost, takes it to a person: the ACD queue. Killed again while the caller waits in the queue, then
restarted and stopped gracefully (SIGTERM): the caller lands in the dialplan fallback. At no point is the
call dropped, and it stays one row.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from sqlalchemy import func, select

from call_flows.loader import load_flow
from call_flows.prompts import build
from ivr.ari.client import AriClient, AriNotFound
from ivr.ari.models import Channel as ChannelModel
from ivr.asterisk.instance import AsteriskInstance
from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import Call
from tests.plugins.asterisk import settings_for_asterisk
from tests.plugins.database import free_port, run_isolated

pytestmark = pytest.mark.asterisk
REPO = Path(__file__).resolve().parents[2]
WAIT = 60.0  # bound on one step on a busy machine; never a speed assertion


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return json.dumps(str(v), ensure_ascii=False)  # a TOML basic string is a JSON string


def write_config(path: Path, data: dict[str, dict[str, Any]]) -> Path:
    lines: list[str] = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None and not isinstance(v, dict)]
        for k, v in values.items():
            if isinstance(v, dict) and v:
                lines.append(f"[{section}.{k}]")
                lines += [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.chmod(0o600)  # it holds the secrets: `hotline serve` refuses a settings file others can read then
    return path


class Service:
    """`hotline serve` as a child process, its output in a log file."""

    def __init__(self, config: Path, log: Path, console_port: int) -> None:
        self.config, self.log = config, log
        self.health_url = f"http://127.0.0.1:{console_port}/healthz"
        self.proc: subprocess.Popen[bytes] | None = None

    async def connected(self) -> bool:
        """Its console answers and its own ARI session is up (another test's stale websocket for the same
        app name would make Asterisk's application list look ready)."""
        try:
            async with aiohttp.ClientSession() as http, http.get(self.health_url) as r:
                return r.status == 200 and (await r.json()).get("asterisk") == "connected"
        except aiohttp.ClientError:
            return False

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "ivr.cli", "--config", str(self.config), "serve"],
                                         cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "PYTHONWARNINGS": "default"})

    async def signal(self, sig: signal.Signals) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = await asyncio.to_thread(self.proc.wait, WAIT)
        self.proc = None
        return code

    def kill_if_running(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


async def eventually(probe: Callable[[], Awaitable[Any]], what: str, service: Service) -> Any:
    try:
        async with asyncio.timeout(WAIT):
            while True:
                got = await probe()
                if got:
                    return got
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"never happened: {what}\n--- service log ---\n{service.tail()}") from None


@pytest.fixture
async def world(asterisk: AsteriskInstance, tmp_path: Path) -> AsyncIterator[tuple[Service, Database, AriClient]]:
    db_path = tmp_path / "hotline.db"
    console_port = free_port()
    settings = settings_for_asterisk(asterisk, None,
                                     database={"url": f"sqlite+aiosqlite:///{db_path}"},
                                     console={"port": console_port}, recordings={"dir": str(tmp_path / "rec")})
    data = settings.model_dump(mode="json")
    data["agi"]["port"] = free_port()
    config = write_config(tmp_path / "hotline.toml", {k: data[k] for k in (
        "hotline", "ring", "asterisk", "agi", "database", "console", "recordings")})
    report = run_isolated(lambda: build([load_flow(REPO / "call_flows" / "gas.yaml")], asterisk.sounds_dir_host))
    assert report.failed == []  # type: ignore[attr-defined]
    service = Service(config, tmp_path / "serve.log", console_port)
    db = Database(f"sqlite+aiosqlite:///{db_path}")
    client = AriClient(asterisk.ari_url, asterisk.ari_user, asterisk.ari_password)
    await client.start()
    try:
        yield service, db, client
    finally:
        service.kill_if_running()
        await client.close()
        await db.dispose()


async def test_killed_service_loses_no_call_and_restarts_without_duplicating_it(
        world: tuple[Service, Database, AriClient], asterisk: AsteriskInstance) -> None:
    service, db, ari = world
    timeline = Timeline(db)
    service.start()

    await eventually(service.connected, "the service up and connected to ARI", service)

    phone = await ari.originate("Local/inbound@hotline-test", context="hotline-test", extension="wait",
                                caller_id="Tester <13900139055>")
    try:
        async def row() -> Call | None:
            async with db.session() as s:
                return (await s.execute(select(Call).where(Call.caller_number == "13900139055"))).scalar_one_or_none()

        async def in_ivr() -> Call | None:
            call = await row()
            return call if call and any(e.kind.startswith("ivr.") for e in await timeline.events(call.id)) else None
        call = await eventually(in_ivr, "the caller in the gas flow's IVR", service)

        async def channel() -> ChannelModel | None:
            try:
                return await ari.get_channel(call.channel_id)
            except AriNotFound:
                return None

        # 1. SIGKILL while in the IVR: Asterisk keeps the caller in Stasis, nobody drops the call.
        assert await service.signal(signal.SIGKILL) == -signal.SIGKILL
        model = await channel()
        assert model is not None and model.stasis_args(asterisk.app) == ("inbound", asterisk.inbound_extension)

        # 2. Restart: resynced (one row), re-adopted and taken to a person: the ACD queue.
        service.start()

        async def queued() -> bool:
            kinds = [e.kind for e in await timeline.events(call.id)]
            return "resynced" in kinds and "queue.enter" in kinds[kinds.index("resynced"):]
        await eventually(queued, "the resynced caller queued for an agent", service)

        # 3. SIGKILL while in the queue, restart: still one call, resynced again, still in our hands.
        assert await service.signal(signal.SIGKILL) == -signal.SIGKILL
        assert await channel() is not None
        service.start()

        async def resynced_twice() -> bool:
            return [e.kind for e in await timeline.events(call.id)].count("resynced") == 2
        await eventually(resynced_twice, "the second restart's resync", service)

        # 4. A graceful stop hands the waiting caller to the dialplan fallback.
        assert await service.signal(signal.SIGTERM) == 0, service.tail()
        model = await channel()
        assert model is not None and model.dialplan.context == "hotline-fallback", model
        async with db.session() as s:
            rows = (await s.execute(select(func.count()).select_from(Call)
                                    .where(Call.channel_id == call.channel_id))).scalar_one()
        assert rows == 1
        assert [e.kind for e in await timeline.events(call.id)].count("arrived") == 1
    finally:
        try:
            await ari.hangup(phone.id)
        except AriNotFound:
            pass
