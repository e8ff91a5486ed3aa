from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ivr.cli import main
from ivr.db import Database
from ivr.db.session import alembic_head
from ivr.db.models import Account, Agent, Customer, Outage, Queue
from ivr.demo import load_demo_data


def test_bad_settings_file_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text("[console]\nport = 99999\n", encoding="utf-8")
    assert main(["--config", str(cfg), "db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert f"{cfg}:2: console.port:" in err
    assert "Traceback" not in err


def test_dead_database_is_one_clear_line(tmp_path: Path) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text('[database]\nurl = "postgresql+asyncpg://u@127.0.0.1:1/x"\n', encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "ivr.cli", "--config", str(cfg), "db", "upgrade"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "unreachable" in proc.stderr and "127.0.0.1:1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_help_lists_core_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main(["--help"])
    assert ei.value.code == 0
    out = capsys.readouterr().out
    for command in ("db", "demo-data", "serve"):
        assert command in out


async def test_demo_data_is_idempotent(db: Database) -> None:
    first = await load_demo_data(db, password="a-password-of-this-test", customers=20)
    assert first["customers"] == 20 and first["agents"] >= 4 and first["outages"] == 2
    second = await load_demo_data(db, password="another-one", customers=20)
    assert all(v == 0 for v in second.values())
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Customer))).scalar_one() == 20
        assert (await s.execute(select(func.count()).select_from(Account))).scalar_one() == 20
        assert (await s.execute(select(func.count()).select_from(Queue))).scalar_one() >= 5
        agent = (await s.execute(select(Agent).where(Agent.agent_id == "1001"))).scalar_one()
        assert agent.password_hash.startswith("$2") and agent.sip_endpoint == "agent-1001"
        outage = (await s.execute(select(Outage).where(Outage.area_code == "A01"))).scalar_one()
        assert "停气" in outage.notice


def test_db_upgrade_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "hotline.toml"
    cfg.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/x.db"\n', encoding="utf-8")
    assert main(["--config", str(cfg), "db", "upgrade"]) == 0
    assert f"revision {alembic_head()}" in capsys.readouterr().out
