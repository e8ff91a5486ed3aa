"""queues.conf from the database queues: one app_queue queue per queue, its members the phones with its skill."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from ivr.asterisk.config import AgentPhone, ConfigError, QueueSpec, SipTimers, generate, ring_limit_seconds
from ivr.asterisk.queues import app_queue_name, plan_queues
from ivr.asterisk.service import FromDatabase, from_database, merge_phones
from ivr.cli import main
from ivr.db import Database
from ivr.db.models import Agent, Queue
from ivr.settings import Settings
from tests.asterisk.test_asterisk_config import LAYOUT, make, parse, section, values
from tests.plugins.secret_values import write_secrets_file

PHONES = [
    AgentPhone("agent-1001", "pw1", skills=frozenset({"emergency", "repair"})),
    AgentPhone("agent-1002", "pw2", skills=frozenset({"repair", "billing"})),
    AgentPhone("agent-1003", "pw3", skills=frozenset({"complaint"})),
    AgentPhone("front-desk", "pw4"),  # from [asterisk] agent_phones: no skills
]
QUEUES = [QueueSpec("emergency", "emergency", 100, 120), QueueSpec("repair", "repair", 20),
          QueueSpec("complaint", "complaint", 15), QueueSpec("general", "", 0)]


def queues_conf(settings: Settings | None = None, phones: list[AgentPhone] = PHONES,
                queues: list[QueueSpec] = QUEUES) -> str:
    return generate(settings or make(), phones, LAYOUT, queues=queues)["queues.conf"]


def members(conf: str, queue: str) -> list[str]:
    return [m.split(",")[0] for m in values(parse(conf), queue, "member")]


def test_one_queue_per_database_queue_with_the_phones_that_have_its_skill() -> None:
    conf = queues_conf()
    assert members(conf, "emergency") == ["PJSIP/agent-1001"]
    assert members(conf, "repair") == ["PJSIP/agent-1001", "PJSIP/agent-1002"]
    assert members(conf, "complaint") == ["PJSIP/agent-1003"]
    # A queue without a skill takes anyone, as in the ACD; so does the fallback, with every phone.
    everyone = ["PJSIP/agent-1001", "PJSIP/agent-1002", "PJSIP/agent-1003", "PJSIP/front-desk"]
    assert members(conf, "hotline-q-general") == everyone
    assert members(conf, "hotline-fallback") == everyone
    assert values(parse(conf), "emergency", "member") == ["PJSIP/agent-1001,0,agent-1001"]


def test_queue_settings_longest_idle_ring_limit_and_weight() -> None:
    s = Settings.model_validate({"ring": {"on_seconds": 1, "off_seconds": 2, "count": 4}})
    q = parse(queues_conf(s))
    for name, weight in (("emergency", "100"), ("repair", "20"), ("complaint", "15"), ("hotline-q-general", "0")):
        sec = section(q, name)
        assert (sec["strategy"], sec["timeout"], sec["weight"]) == ("leastrecent", "12", weight), name
        assert sec["ringinuse"] == "no" and sec["joinempty"] == "unavailable,invalid"
    assert ring_limit_seconds(s) == 12
    fallback = section(q, "hotline-fallback")
    assert (fallback["strategy"], fallback["timeout"]) == ("ringall", "12") and "weight" not in fallback
    # leastrecent counts a call in any queue: whoever has been idle longest across the hotline is rung first.
    assert section(q, "general")["shared_lastcall"] == "yes"


def test_names_app_queue_cannot_take_are_aliased_or_skipped_with_a_note() -> None:
    queues = [QueueSpec("general", ""), QueueSpec("Repair", "repair"), QueueSpec("repair", "repair"),
              QueueSpec("hotline-fallback", ""), QueueSpec("维修;\n[evil]", "repair"), QueueSpec("a,b)", ""),
              QueueSpec("water", "water")]
    conf = queues_conf(queues=queues)
    names = [n for n, _ in parse(conf)]
    # [general] is app_queue's settings; exactly one of Repair/repair (app_queue ignores case); nothing injected.
    assert names == ["general", "hotline-fallback", "Repair", "hotline-q-general"]
    assert app_queue_name("general") == app_queue_name("GENERAL").lower() == "hotline-q-general"
    assert app_queue_name("repair") == "repair"
    notes = [line for line in conf.splitlines() if line.startswith("; SKIPPED")]
    assert len(notes) == 5 and not any("[" in n or "]" in n for n in notes)
    assert any("repair" in n and "case-insensitive" in n for n in notes)
    assert any("hotline-fallback" in n and "reserved" in n for n in notes)
    assert any("water" in n and "callers wait in hotline-fallback" in n for n in notes)
    assert sum("dialplan-safe" in n for n in notes) == 2
    plan = plan_queues(queues, PHONES)
    assert {name for name, _ in plan.skipped} == {"repair", "hotline-fallback", "维修;\n[evil]", "a,b)", "water"}


def test_without_database_queues_only_the_fallback_is_written() -> None:
    conf = queues_conf(queues=[])
    assert [n for n, _ in parse(conf)] == ["general", "hotline-fallback"]
    assert generate(make(), PHONES, LAYOUT)["queues.conf"] == conf


def test_dialplan_joins_the_queue_then_its_alias_then_the_fallback() -> None:
    ext = generate(make(), PHONES, LAYOUT, queues=QUEUES)["extensions.conf"]
    for ctx in ("hotline-agi-queue", "hotline-lookup-example"):
        body = ext.split(f"[{ctx}]", 1)[1].split("\n[", 1)[0]
        picks = re.findall(r"Set\(HOTLINE_APP_QUEUE=([^)]*)\)", body)
        # Later wins: the queue of that name beats the alias, which beats the fallback.
        assert picks == ["hotline-fallback", "hotline-q-${HOTLINE_QUEUE}", "${HOTLINE_QUEUE}"], ctx
        assert "QUEUE_EXISTS(hotline-q-${HOTLINE_QUEUE})" in body and "QUEUE_EXISTS(${HOTLINE_QUEUE})" in body


def test_sip_timers_only_when_asked_and_only_values_pjsip_keeps() -> None:
    assert "type = system" not in generate(make(), PHONES, LAYOUT)["pjsip.conf"]
    pj = parse(generate(make(), PHONES, LAYOUT, sip_timers=SipTimers(100, 6400))["pjsip.conf"])
    assert section(pj, "system", "system") == {"type": "system", "timer_t1": "100", "timer_b": "6400"}
    for bad in (SipTimers(50, 6400), SipTimers(100, 6000)):
        with pytest.raises(ConfigError, match="timer_b >= 64 x timer_t1"):
            generate(make(), PHONES, LAYOUT, sip_timers=bad)


async def _seed(db: Database) -> None:
    async with db.begin() as s:
        s.add_all([
            Agent(agent_id="1001", name="王一", password_hash="x", sip_endpoint="agent-1001",
                  skills=["emergency", "repair"]),
            Agent(agent_id="1002", name="李二", password_hash="x", sip_endpoint="agent-1002", skills=["repair"]),
            Agent(agent_id="1003", name="张三", password_hash="x", sip_endpoint="agent-1003", skills=["repair"],
                  active=False),
            Agent(agent_id="1004", name="赵四", password_hash="x", sip_endpoint=None, skills=["repair"]),
            Queue(name="emergency", skill="emergency", weight=100, max_wait_seconds=120),
            Queue(name="repair", skill="repair", weight=20),
        ])


async def test_database_agents_and_queues_become_phones_and_queues(settings: Settings, db: Database) -> None:
    await _seed(db)
    s = settings.model_copy(update={"asterisk": settings.asterisk.model_copy(
        update={"agent_phones": {"agent-1002": "from-settings-pw", "desk": "pw"}})})
    got = await asyncio.to_thread(from_database, s)  # blocking CLI code, off the loop
    assert got.skills == {"agent-1001": frozenset({"emergency", "repair"}), "agent-1002": frozenset({"repair"})}
    assert got.queues == (QueueSpec("emergency", "emergency", 100, 120), QueueSpec("repair", "repair", 20, 300))
    phones = {p.endpoint: p for p in merge_phones(s, got)}
    assert phones["agent-1002"].password == "from-settings-pw" and phones["agent-1002"].skills == {"repair"}
    assert phones["desk"].skills == frozenset() and set(phones) == {"agent-1001", "agent-1002", "desk"}
    conf = generate(s, list(phones.values()), LAYOUT, queues=got.queues)["queues.conf"]
    assert members(conf, "repair") == ["PJSIP/agent-1001", "PJSIP/agent-1002"]
    assert members(conf, "emergency") == ["PJSIP/agent-1001"]


def test_no_database_means_the_fallback_only(tmp_path: Path) -> None:
    s = Settings.model_validate({"database": {"url": f"sqlite+aiosqlite:///{tmp_path}/missing/x.db"}})
    assert from_database(s) == FromDatabase({}, ())


def test_cli_print_shows_the_database_queues(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             sqlite_template: Path) -> None:
    path = tmp_path / "h.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite+aiosqlite:///{path}")

    async def seed() -> None:
        try:
            await _seed(db)
        finally:
            await db.dispose()
    asyncio.run(seed())
    conf = tmp_path / "h.toml"
    conf.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{path}"\n[asterisk]\nsandbox_dir = "{tmp_path / "nb"}"\n',
                    encoding="utf-8")
    write_secrets_file(tmp_path / "var" / "secrets.toml")  # where the settings next to it look: phone passwords
    assert main(["-c", str(conf), "asterisk", "config", "--print"]) == 0
    out = capsys.readouterr().out.split(";;;;;;;;;; queues.conf", 1)[1].split(";;;;;;;;;;", 1)[0]
    assert members(out, "repair") == ["PJSIP/agent-1001", "PJSIP/agent-1002"]
    assert main(["-c", str(conf), "asterisk", "config", "--print", "--no-db"]) == 0
    out = capsys.readouterr().out.split(";;;;;;;;;; queues.conf", 1)[1].split(";;;;;;;;;;", 1)[0]
    assert [n for n, _ in parse(out)] == ["general", "hotline-fallback"]
    assert not (tmp_path / "nb").exists()
