"""`hotline asterisk config` with agents and queues in the database: app_queue has the queues and members.

A second instance of its own (the session instance's queues must stay as the other tests expect them).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import update

from ivr.asterisk import cli
from ivr.asterisk.instance import AsteriskInstance
from ivr.asterisk.ports import PortAllocator
from ivr.db import Database
from ivr.db.models import Agent, Queue
from ivr.settings import Settings
from tests.plugins.asterisk import settings_for_asterisk

pytestmark = pytest.mark.asterisk


@pytest.fixture
async def sqlite_db(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "hotline.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    yield db
    await db.dispose()


@pytest.fixture
async def second(asterisk: AsteriskInstance, asterisk_ports: PortAllocator,
                 sqlite_db: Database) -> AsyncIterator[AsteriskInstance]:
    """A running instance with no agents or queues yet, whose settings point at `sqlite_db`."""
    rtp_start, rtp_end = asterisk_ports.block(20)
    settings = settings_for_asterisk(asterisk, asterisk={
        "ari_url": f"http://127.0.0.1:{asterisk_ports.tcp()}", "sip_port": asterisk_ports.udp(),
        "rtp_start": rtp_start, "rtp_end": rtp_end, "instance": f"{asterisk.name}-queues"},
        database={"url": sqlite_db.url})
    instance = AsteriskInstance(asterisk.runtime, settings)
    try:
        await instance.astart(timeout=60)
        yield instance
    finally:
        await instance.astop()
        await asyncio.to_thread(instance.remove)


async def hotline_asterisk_config(settings: Settings, capsys: pytest.CaptureFixture[str]) -> str:
    """Run `hotline asterisk config` (blocking CLI code, so in a thread); its output."""
    parser = argparse.ArgumentParser(prog="hotline")
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["asterisk", "config", "--timeout", "60", "--sounds", "/nonexistent"])
    args.settings = settings
    code = await asyncio.to_thread(args.func, args)
    out = capsys.readouterr()
    assert code == 0, out
    return out.out


def members(shown: str) -> list[str]:
    return sorted(re.findall(r"\(PJSIP/([^)]+)\)", shown))


async def test_config_with_database_queues_gives_app_queue_their_members(
        second: AsteriskInstance, sqlite_db: Database, capsys: pytest.CaptureFixture[str]) -> None:
    async with sqlite_db.begin() as s:
        s.add_all([
            Agent(agent_id="1001", name="王一", password_hash="x", sip_endpoint="agent-1001",
                  skills=["emergency", "repair"]),
            Agent(agent_id="1002", name="李二", password_hash="x", sip_endpoint="agent-1002", skills=["repair"]),
            Agent(agent_id="1003", name="张三", password_hash="x", sip_endpoint="agent-1003", skills=["repair"],
                  active=False),
            Queue(name="emergency", skill="emergency", weight=100, max_wait_seconds=120),
            Queue(name="repair", skill="repair", weight=20),
            Queue(name="general", skill="", weight=0),
        ])
    out = await hotline_asterisk_config(second.settings, capsys)
    assert "reloaded" in out and "emergency (1)" in out and "repair (2)" in out

    emergency = await second.arx("queue show emergency")
    assert members(emergency) == ["agent-1001"]
    assert "'leastrecent' strategy" in emergency and "W:100" in emergency
    repair = await second.arx("queue show repair")
    assert members(repair) == ["agent-1001", "agent-1002"] and "W:20" in repair
    # app_queue keeps [general] for itself: the database queue general is hotline-q-general.
    assert members(await second.arx("queue show hotline-q-general")) == ["agent-1001", "agent-1002"]
    assert members(await second.arx("queue show hotline-fallback")) == ["agent-1001", "agent-1002"]
    assert "No such queue" in await second.arx("queue show general")

    # A skill taken away in the database is gone from the queue after the next config.
    async with sqlite_db.begin() as s:
        await s.execute(update(Agent).where(Agent.agent_id == "1002").values(skills=["billing"]))
    await hotline_asterisk_config(second.settings, capsys)
    assert members(await second.arx("queue show repair")) == ["agent-1001"]
    assert members(await second.arx("queue show hotline-fallback")) == ["agent-1001", "agent-1002"]
