"""agi://host/lookup against a real database (SQLite and PostgreSQL): variables, timeline, dead database."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from ivr.callers import CallerDirectory, OutageView, Priority
from ivr.calls.agi.lookup import (
    MAX_OUTAGE_TEXT_BYTES,
    PRIORITY_EMERGENCY,
    PRIORITY_SPECIAL_CARE,
    LookupOptions,
    look_up_caller,
    lookup_options,
    outage_text,
)
from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import Account, Area, Customer, CustomerPhone, Outage, Utility, utcnow
from tests.plugins.fake_agi import ServerFactory
from tests.builders import ZONE
from tests.agi.fake_asterisk import FakeAsterisk, asterisk_parse_args

NOW = utcnow()
VARIABLE_ORDER = ["HOTLINE_CUSTOMER_ID", "HOTLINE_CALL_ID", "HOTLINE_PRIORITY", "HOTLINE_QUEUE",
                  "HOTLINE_SPECIAL_CARE", "HOTLINE_AREA", "HOTLINE_OUTAGE", "HOTLINE_OUTAGE_TEXT", "HOTLINE_CONTINUE"]


async def seed(db: Database) -> dict[str, int]:
    async with db.begin() as s:
        s.add_all([Area(code="A01", name="城东片区"), Area(code="A02", name="城西片区")])
        zhang = Customer(name="张三", area_code="A01", special_care=True, special_care_note="独居老人",
                         phones=[CustomerPhone(number="13800138000")],
                         accounts=[Account(account_no="G0001", utility=Utility.GAS)])
        li = Customer(name="李四", area_code="A02", phones=[CustomerPhone(number="010-6234 5678")],
                      accounts=[Account(account_no="W0001", utility=Utility.WATER)])
        wang = Customer(name="王五", area_code="A02", phones=[CustomerPhone(number="13900139000")])
        zhao = Customer(name="赵六", area_code="A02", special_care=True,
                        phones=[CustomerPhone(number="13900139000")])
        s.add_all([zhang, li, wang, zhao])
        s.add_all([
            Outage(area_code="A01", utility=Utility.GAS, planned=False, starts_at=NOW - dt.timedelta(hours=1),
                   ends_at=NOW + dt.timedelta(hours=3), reason="管道抢修"),
            Outage(area_code="A01", utility=Utility.GAS, starts_at=NOW - dt.timedelta(hours=2),
                   ends_at=NOW + dt.timedelta(hours=5), notice="已取消的通知", cancelled=True),
            Outage(area_code="A01", utility=Utility.WATER, starts_at=NOW - dt.timedelta(hours=3),
                   notice="停水（张三没有水表）"),
            Outage(area_code="A02", utility=Utility.WATER, starts_at=NOW + dt.timedelta(hours=30),
                   ends_at=NOW + dt.timedelta(hours=38), notice="明日计划停水，\n请提前储水。"),
            Outage(area_code="A02", utility=Utility.GAS, starts_at=NOW + dt.timedelta(hours=72),
                   notice="三天后停气（超出48小时，不播报）"),
        ])
        await s.flush()
        return {"zhang": zhang.id, "li": li.id, "wang": wang.id, "zhao": zhao.id}


@pytest.fixture
async def seeded(db: Database) -> dict[str, int]:
    return await seed(db)


def set_variables(commands: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for cmd in commands:
        argv = asterisk_parse_args(cmd)
        assert argv[:2] == ["SET", "VARIABLE"], cmd
        out[argv[2]] = argv[3]
    return out


async def lookup_over_agi(server_port: int, fakes: list[FakeAsterisk], script: str = "lookup",
                          **env: str) -> list[str]:
    fake = await FakeAsterisk.start(server_port, script, env)
    fakes.append(fake)
    return await fake.answer_all()


# --- over the wire ----------------------------------------------------------------------------------------


async def test_special_care_caller_with_active_outage(db: Database, seeded: dict[str, int],
                                                      make_server: ServerFactory, fakes: list[FakeAsterisk]) -> None:
    server = await make_server(db=db)
    commands = await lookup_over_agi(server.port, fakes, agi_callerid="+86 138-0013-8000",
                                     agi_uniqueid="1763900000.1")
    values = set_variables(commands)
    assert list(values) == VARIABLE_ORDER  # HOTLINE_CONTINUE last: "ok" means the rest is already set
    assert values["HOTLINE_CUSTOMER_ID"] == str(seeded["zhang"])
    # The ACD's scale: app_queue holds lookup callers and AGI flow callers side by side.
    assert values["HOTLINE_PRIORITY"] == str(PRIORITY_SPECIAL_CARE) == str(int(Priority.SPECIAL_CARE)) == "10"
    assert values["HOTLINE_QUEUE"] == "special-care"
    assert values["HOTLINE_SPECIAL_CARE"] == "1"
    assert values["HOTLINE_AREA"] == "A01"
    assert values["HOTLINE_OUTAGE"] == "1"
    assert "管道抢修" in values["HOTLINE_OUTAGE_TEXT"] and "停气" in values["HOTLINE_OUTAGE_TEXT"]
    assert values["HOTLINE_CONTINUE"] == "ok"

    timeline = Timeline(db)
    call = await timeline.by_channel("1763900000.1")
    assert call is not None and values["HOTLINE_CALL_ID"] == str(call.id)
    assert (call.protocol, call.customer_id, call.priority, call.queue_name, call.caller_number, call.dialed) == \
        ("agi", seeded["zhang"], 10, "special-care", "+86 138-0013-8000", "95598")
    events = await timeline.events(call.id)
    assert [e.kind for e in events] == ["arrived", "agi_lookup"]
    assert events[1].data == {"customer_id": seeded["zhang"], "priority": 10, "special_care": True,
                              "area": "A01", "outage": True, "queue": "special-care", "emergency": False}


async def test_landline_caller_gets_planned_water_notice(db: Database, seeded: dict[str, int],
                                                         make_server: ServerFactory,
                                                         fakes: list[FakeAsterisk]) -> None:
    server = await make_server(db=db)
    values = set_variables(await lookup_over_agi(server.port, fakes, agi_callerid="+861062345678"))
    assert values["HOTLINE_CUSTOMER_ID"] == str(seeded["li"])  # stored as "010-6234 5678"
    assert (values["HOTLINE_PRIORITY"], values["HOTLINE_SPECIAL_CARE"], values["HOTLINE_QUEUE"]) == ("0", "0", "general")
    assert values["HOTLINE_OUTAGE"] == "1"
    assert values["HOTLINE_OUTAGE_TEXT"] == "明日计划停水， 请提前储水。"  # one line: no AGI injection


async def test_unknown_caller(db: Database, seeded: dict[str, int], make_server: ServerFactory,
                              fakes: list[FakeAsterisk]) -> None:
    server = await make_server(db=db)
    values = set_variables(await lookup_over_agi(server.port, fakes, agi_callerid="unknown"))
    assert values["HOTLINE_CUSTOMER_ID"] == ""
    assert (values["HOTLINE_PRIORITY"], values["HOTLINE_OUTAGE"], values["HOTLINE_CONTINUE"]) == ("0", "0", "ok")
    assert values["HOTLINE_CALL_ID"] != ""  # the call is still on the timeline


async def test_repeated_lookup_reuses_the_call_row(db: Database, seeded: dict[str, int],
                                                   make_server: ServerFactory, fakes: list[FakeAsterisk]) -> None:
    server = await make_server(db=db)
    first = set_variables(await lookup_over_agi(server.port, fakes, agi_uniqueid="77.1"))
    second = set_variables(await lookup_over_agi(server.port, fakes, agi_uniqueid="77.1"))
    assert first["HOTLINE_CALL_ID"] == second["HOTLINE_CALL_ID"]
    events = await Timeline(db).events(int(first["HOTLINE_CALL_ID"]))
    assert [e.kind for e in events] == ["arrived", "agi_lookup", "agi_lookup"]


async def test_queue_parameter_names_the_queue(db: Database, seeded: dict[str, int], make_server: ServerFactory,
                                               fakes: list[FakeAsterisk]) -> None:
    server = await make_server(db=db)
    values = set_variables(await lookup_over_agi(server.port, fakes, "lookup?queue=repair",
                                                 agi_uniqueid="88.1", agi_callerid="13800138000"))
    # The site chose the queue; the caller's special care still raises the priority.
    assert (values["HOTLINE_QUEUE"], values["HOTLINE_PRIORITY"]) == ("repair", "10")
    call = await Timeline(db).by_channel("88.1")
    assert call is not None and call.queue_name == "repair"


async def test_emergency_parameter_outranks_special_care(db: Database, seeded: dict[str, int],
                                                         make_server: ServerFactory,
                                                         fakes: list[FakeAsterisk]) -> None:
    server = await make_server(db=db)
    values = set_variables(await lookup_over_agi(server.port, fakes, "lookup?emergency=1",
                                                 agi_callerid="13800138000"))
    assert (values["HOTLINE_QUEUE"], values["HOTLINE_PRIORITY"]) == ("emergency", str(PRIORITY_EMERGENCY))
    assert values["HOTLINE_SPECIAL_CARE"] == "1" and values["HOTLINE_CONTINUE"] == "ok"


async def test_bad_queue_parameter_is_refused_and_the_default_used(
        db: Database, seeded: dict[str, int], make_server: ServerFactory, fakes: list[FakeAsterisk],
        caplog: pytest.LogCaptureFixture) -> None:
    server = await make_server(db=db)
    values = set_variables(await lookup_over_agi(server.port, fakes, "lookup?queue=a,b)&x=1",
                                                 agi_callerid="13900000001"))
    assert values["HOTLINE_QUEUE"] == "general" and values["HOTLINE_CONTINUE"] == "ok"
    assert "is not a queue name" in caplog.text and "unknown parameters ignored: x" in caplog.text


async def test_dead_database_keeps_the_requested_queue(dead_db: Database, make_server: ServerFactory,
                                                       fakes: list[FakeAsterisk]) -> None:
    server = await make_server(db=dead_db)
    values = set_variables(await lookup_over_agi(server.port, fakes, "lookup?queue=repair&emergency=yes"))
    assert (values["HOTLINE_QUEUE"], values["HOTLINE_PRIORITY"], values["HOTLINE_CONTINUE"]) == \
        ("repair", str(PRIORITY_EMERGENCY), "fallback")


@pytest.mark.parametrize("params, expected", [
    ({}, LookupOptions()),
    ({"queue": " repair "}, LookupOptions(queue="repair")),
    ({"emergency": "1"}, LookupOptions(emergency=True)),
    ({"emergency": "TRUE"}, LookupOptions(emergency=True)),
    ({"emergency": "0"}, LookupOptions()),
])
def test_lookup_options(params: dict[str, str], expected: LookupOptions) -> None:
    assert lookup_options(params) == expected


@pytest.mark.parametrize("params, problem", [
    ({"queue": "a" * 65}, "is not a queue name"),
    ({"queue": "维修"}, "is not a queue name"),
    ({"queue": "x)"}, "is not a queue name"),
    ({"emergency": "maybe"}, "is not 1/0"),
    ({"prio": "9"}, "unknown parameters ignored: prio"),
])
def test_lookup_options_refused(params: dict[str, str], problem: str) -> None:
    options = lookup_options(params)
    assert options.queue == "" and not options.emergency
    assert any(problem in p for p in options.problems), options.problems


@pytest.fixture
async def dead_db() -> AsyncIterator[Database]:
    database = Database("postgresql+asyncpg://nobody@127.0.0.1:1/hotline")  # nothing listens on port 1
    yield database
    await database.dispose()


async def test_dead_database_gives_safe_defaults(dead_db: Database, make_server: ServerFactory,
                                                 fakes: list[FakeAsterisk],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    server = await make_server(db=dead_db)
    values = set_variables(await lookup_over_agi(server.port, fakes))
    assert values == {"HOTLINE_CUSTOMER_ID": "", "HOTLINE_CALL_ID": "", "HOTLINE_PRIORITY": "0",
                      "HOTLINE_QUEUE": "general", "HOTLINE_SPECIAL_CARE": "0", "HOTLINE_AREA": "",
                      "HOTLINE_OUTAGE": "0", "HOTLINE_OUTAGE_TEXT": "", "HOTLINE_CONTINUE": "fallback"}
    assert "database unusable" in caplog.text


async def test_unmigrated_database_gives_safe_defaults(tmp_path: object, make_server: ServerFactory,
                                                       fakes: list[FakeAsterisk]) -> None:
    empty = Database(f"sqlite+aiosqlite:///{tmp_path}/empty.db")  # no tables at all
    try:
        server = await make_server(db=empty)
        values = set_variables(await lookup_over_agi(server.port, fakes))
        assert values["HOTLINE_CONTINUE"] == "fallback" and values["HOTLINE_PRIORITY"] == "0"
    finally:
        await empty.dispose()


async def test_slow_database_gives_safe_defaults(db: Database, seeded: dict[str, int],
                                                 make_server: ServerFactory, fakes: list[FakeAsterisk]) -> None:
    server = await make_server(db=db, db_timeout=0)  # any database round trip is too slow
    values = set_variables(await lookup_over_agi(server.port, fakes))
    assert values["HOTLINE_CONTINUE"] == "fallback"


async def test_caller_hangs_up_during_lookup(db: Database, seeded: dict[str, int], make_server: ServerFactory,
                                             fakes: list[FakeAsterisk]) -> None:
    server = await make_server(db=db)
    fake = await FakeAsterisk.start(server.port, "lookup")
    fakes.append(fake)
    assert (await fake.command()).startswith("SET VARIABLE HOTLINE_CUSTOMER_ID")
    await fake.reply("HANGUP", "200 result=1")
    # pyst2 sees the hang-up before its next command: nothing more is sent.
    assert await fake.wait_closed_by_server() == b""


# --- the query itself -------------------------------------------------------------------------------------


async def test_household_number_prefers_the_special_care_member(db: Database, seeded: dict[str, int]) -> None:
    facts = await look_up_caller(CallerDirectory(db), ZONE, "13900139000", now=NOW)
    assert facts.customer_id == seeded["zhao"] and facts.special_care and facts.priority == PRIORITY_SPECIAL_CARE
    # No accounts on file, so no utility to filter by: every outage in the area is worth telling.
    assert facts.outage_text == "明日计划停水， 请提前储水。"


async def test_outage_filters(db: Database, seeded: dict[str, int]) -> None:
    zhang = await look_up_caller(CallerDirectory(db), ZONE, "13800138000", now=NOW)
    assert "管道抢修" in zhang.outage_text  # gas; the cancelled one and the water one are not his
    later = await look_up_caller(CallerDirectory(db), ZONE, "13800138000", now=NOW + dt.timedelta(hours=4))
    assert later.outage_text == ""  # the repair ended
    li = await look_up_caller(CallerDirectory(db), ZONE, "010-62345678", now=NOW + dt.timedelta(hours=40))
    assert li.outage_text == ""  # the planned water outage is over


@pytest.mark.parametrize("number, who", [
    ("+86 138-0013-8000", "zhang"), ("008613800138000", "zhang"), ("013800138000", "zhang"),
    ("01062345678", "li"), ("+86 10 6234 5678", "li"), ("+86 (0)10-62345678", "li"),
    ("62345678", None), ("13800138001", None), ("", None),
])
async def test_lookup_and_flow_engine_agree_on_the_caller(db: Database, seeded: dict[str, int], number: str,
                                                          who: str | None) -> None:
    """One directory (ivr/callers): the lookup and the flow engine identify the same customer."""
    facts = await look_up_caller(CallerDirectory(db), ZONE, number, now=NOW)
    engine = [c.id for c in await CallerDirectory(db).customers_by_phone(number)]
    expected = None if who is None else seeded[who]
    assert facts.customer_id == expected
    assert engine == ([] if who is None else [expected])


# --- pure helpers -----------------------------------------------------------------------------------------


def _outage(**kw: object) -> OutageView:
    base: dict[str, object] = {"area_code": "A01", "utility": Utility.GAS, "starts_at": NOW, "ends_at": None,
                               "reason": "", "notice": ""}
    base.update(kw)
    return OutageView.of(Outage(id=1, planned=False, **base))


def test_generated_notice_texts() -> None:
    start = dt.datetime(2026, 3, 5, 1, 0, tzinfo=dt.timezone.utc)  # 09:00 in China
    end = dt.datetime(2026, 3, 5, 9, 30, tzinfo=dt.timezone.utc)  # 17:30
    active = outage_text(_outage(starts_at=start, ends_at=end, reason="阀门更换"), "城东片区", zone=ZONE, now=start)
    assert active == "您所在的城东片区因阀门更换正在停气，预计3月5日17:30恢复供气。"
    planned = outage_text(_outage(starts_at=start, ends_at=end, utility=Utility.WATER), "",
                          zone=ZONE, now=start - dt.timedelta(days=1))
    assert planned == "您所在区域将于3月5日09:00至3月5日17:30停水。"
    open_ended = outage_text(_outage(starts_at=start), "城西片区", zone=ZONE, now=start)
    assert open_ended == "您所在的城西片区正在停气，恢复时间另行通知。"


def test_notice_is_one_bounded_line() -> None:
    text = outage_text(_outage(notice="第一行\r\n第二行\t" + "很长" * 2000), "", zone=ZONE, now=NOW)
    assert "\n" not in text and "\r" not in text
    assert len(text.encode()) <= MAX_OUTAGE_TEXT_BYTES
    assert text.startswith("第一行 第二行 ") and text.endswith("…")


async def test_customer_rows_are_untouched_by_lookup(db: Database, seeded: dict[str, int]) -> None:
    await look_up_caller(CallerDirectory(db), ZONE, "13800138000", now=NOW)
    async with db.session() as s:
        names = sorted((await s.execute(select(Customer.name))).scalars())
    assert names == sorted(["张三", "李四", "王五", "赵六"])
