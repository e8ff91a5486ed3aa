"""`hotline agents ...`: accounts from the command line, passwords never on it."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import select

from agent_console.auth import password_matches
from ivr.cli import main
from ivr.db import Database
from ivr.db.models import Agent, Role


def run(config: Path, monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = "") -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["-c", str(config), *argv])


@pytest.fixture
def config(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "hotline.toml"
    path.write_text(f'[database]\nurl = "{db_url}"\n', encoding="utf-8")
    return path


async def agent(db_url: str, agent_id: str) -> Agent | None:
    db = Database(db_url)
    try:
        async with db.session() as s:
            return (await s.execute(select(Agent).where(Agent.agent_id == agent_id))).scalar_one_or_none()
    finally:
        await db.dispose()


def test_add_list_passwd_set_disable(config: Path, db_url: str, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    assert run(config, monkeypatch, "agents", "add", "1004", "--name", "陈静", "--endpoint", "agent-1004",
               "--skills", "general,repair", "--password-stdin", stdin="secret-1\n") == 0
    a = asyncio.run(agent(db_url, "1004"))
    assert a is not None and a.role is Role.AGENT and a.skills == ["general", "repair"]
    assert a.sip_endpoint == "agent-1004" and password_matches("secret-1", a.password_hash)
    assert run(config, monkeypatch, "agents", "list") == 0
    assert "1004" in capsys.readouterr().out
    assert run(config, monkeypatch, "agents", "passwd", "1004", "--password-stdin", stdin="secret-2\n") == 0
    assert run(config, monkeypatch, "agents", "set", "1004", "--role", "supervisor", "--wrap-up", "30") == 0
    assert run(config, monkeypatch, "agents", "disable", "1004") == 0
    a = asyncio.run(agent(db_url, "1004"))
    assert a is not None and password_matches("secret-2", a.password_hash) and not a.active
    assert a.role is Role.SUPERVISOR and a.wrap_up_seconds == 30


def test_bad_input_is_one_clear_line(config: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert run(config, monkeypatch, "agents", "add", "12", "--name", "x", "--password-stdin", stdin="secret-1\n") == 2
    assert "agent_id_pattern" in capsys.readouterr().err
    assert run(config, monkeypatch, "agents", "add", "1005", "--name", "x", "--password-stdin", stdin="abc\n") == 2
    assert "至少6位" in capsys.readouterr().err
    assert run(config, monkeypatch, "agents", "add", "1005", "--name", "x", "--skills", "Bad Skill",
               "--password-stdin", stdin="secret-1\n") == 2
    assert "skill names" in capsys.readouterr().err
    assert run(config, monkeypatch, "agents", "add", "1005", "--name", "x", "--password-stdin", stdin="secret-1\n") == 0
    assert run(config, monkeypatch, "agents", "add", "1005", "--name", "x", "--password-stdin", stdin="secret-1\n") == 2
    assert "exists already" in capsys.readouterr().err
    assert run(config, monkeypatch, "agents", "passwd", "9999", "--password-stdin", stdin="secret-1\n") == 2
    assert "no agent 9999" in capsys.readouterr().err
