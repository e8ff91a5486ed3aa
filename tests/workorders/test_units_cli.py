"""`hotline workorders units ...` and unit accounts (`hotline agents add --role unit --unit CODE`)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.cli import main
from ivr.db import Database
from ivr.db.models import Agent, Role, Unit


def run(config: Path, monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["-c", str(config), *argv])


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "hotline.toml"
    path.write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")
    return path


async def rows(db_url: str) -> tuple[list[Unit], list[Agent]]:
    db = Database(db_url)
    try:
        async with db.session() as s:
            return (list((await s.execute(select(Unit))).scalars().all()),
                    list((await s.execute(select(Agent))).scalars().all()))
    finally:
        await db.dispose()


def test_units_and_their_accounts(config: Path, db_url: str, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, monkeypatch, "workorders", "units", "add", "qx", "--name", "抢修中心", "--utility", "gas",
               "--handles", "emergency,repair") == 0
    assert run(config, monkeypatch, "workorders", "units", "list") == 0
    assert "qx" in capsys.readouterr().out
    for argv, message in [(["--handles", "plumbing"], "plumbing"), ([], "lowercase")]:
        code = "Bad Code" if not argv else "ok"
        assert run(config, monkeypatch, "workorders", "units", "add", code, "--name", "x", *argv) == 2
        assert message in capsys.readouterr().err
    assert run(config, monkeypatch, "agents", "add", "8001", "--name", "抢修员", "--role", "unit", "--unit", "qx",
               "--password-stdin", stdin="secret-1\n") == 0
    for argv, message in [(["--role", "unit"], "go together"), (["--role", "agent", "--unit", "qx"], "go together"),
                          (["--role", "unit", "--unit", "nope"], "no unit 'nope'")]:
        assert run(config, monkeypatch, "agents", "add", "8002", "--name", "x", *argv, "--password-stdin",
                   stdin="secret-1\n") == 2
        assert message in capsys.readouterr().err
    assert run(config, monkeypatch, "agents", "set", "8001", "--role", "agent") == 2  # still has a unit
    assert run(config, monkeypatch, "agents", "set", "8001", "--role", "agent", "--unit", "") == 0
    units, agents = asyncio.run(rows(db_url))
    assert [(u.code, u.handles) for u in units] == [("qx", ["emergency", "repair"])]
    assert [(a.agent_id, a.role, a.unit_code) for a in agents] == [("8001", Role.AGENT, None)]
