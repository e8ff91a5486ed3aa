"""agi://host/hangup: who hung up, from the values the real Asterisk 22 reports (see ivr/calls/agi/hangup.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping

import pytest

from ivr.calls.agi.hangup import VARIABLES, HangupFacts, hangup_side
from ivr.agi.parser import parse_route
from ivr.calls.agi.server import AgiServer
from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import Agent, HangupSide
from tests.plugins.fake_agi import ServerFactory
from tests.agi.fake_asterisk import FakeAsterisk, asterisk_parse_args

CALLER = "PJSIP/hotline-caller-00000000"
LOCAL = "Local/95598@hotline-lookup-example-00000003;2"


@pytest.mark.parametrize("source, channel, member, answered, side", [
    (CALLER, CALLER, "", False, HangupSide.CALLER),  # the caller's BYE
    (CALLER, CALLER, "PJSIP/agent-1001", True, HangupSide.CALLER),  # ... also while talking to an agent
    ("", LOCAL, "", False, HangupSide.CALLER),  # a Local channel whose other half went away
    (LOCAL[:-1] + "1", LOCAL, "", False, HangupSide.CALLER),
    ("dialplan/builtin", LOCAL, "", False, HangupSide.SYSTEM),  # Hangup() after the fallback message
    ("dialplan/builtin", CALLER, "PJSIP/agent-1001", True, HangupSide.SYSTEM),
    ("PJSIP/agent-1001-00000002", LOCAL, "PJSIP/agent-1001", True, HangupSide.AGENT),  # the member's BYE
    ("PJSIP/agent-10010-00000009", CALLER, "PJSIP/agent-1001", True, HangupSide.AGENT),  # answered: an agent
    ("PJSIP/trunk-00000004", CALLER, "", True, HangupSide.AGENT),  # a Dial()ed party that answered
    ("PJSIP/trunk-00000004", CALLER, "", False, HangupSide.UNKNOWN),
    ("", CALLER, "", False, HangupSide.UNKNOWN),  # nobody claimed it on a real line
])
def test_hangup_side(source: str, channel: str, member: str, answered: bool, side: HangupSide) -> None:
    assert hangup_side(source, channel, member=member, answered=answered) == side


def test_facts() -> None:
    facts = HangupFacts(channel=LOCAL, source="PJSIP/agent-1001-00000002", cause="16", member="PJSIP/agent-1001")
    assert (facts.side, facts.answered, facts.cause_text, facts.agent_endpoint) == \
        (HangupSide.AGENT, True, "Normal Clearing", "agent-1001")
    assert HangupFacts(channel=CALLER, cause="0").cause_text == "Not defined"  # a SIP BYE without a Reason
    assert HangupFacts(channel=CALLER, cause="66").cause_text == "cause 66"
    assert HangupFacts(channel=CALLER, dial_status="ANSWER").answered


def test_route() -> None:
    assert parse_route("hangup").kind == "hangup"
    assert parse_route("/hangup?x=1").params == {"x": "1"}


async def hangup_session(server: AgiServer, fakes: list[FakeAsterisk], uniqueid: str, channel: str,
                         values: Mapping[str, str]) -> list[str]:
    """Asterisk's side of the hangup handler: GET VARIABLE answers from `values` (absent -> result=0)."""
    fake = await FakeAsterisk.start(server.port, "hangup", {"agi_uniqueid": uniqueid, "agi_channel": channel,
                                                           "agi_context": "hotline-agi-hangup",
                                                           "agi_extension": "s", "agi_priority": "1"})
    fakes.append(fake)
    asked = []
    while True:
        line = await fake.reader.readline()
        if not line:
            break
        argv = asterisk_parse_args(line.decode().rstrip("\n"))
        assert argv[:2] == ["GET", "VARIABLE"], argv
        asked.append(argv[2])
        value = values.get(argv[2])
        await fake.reply("200 result=0" if value is None else f"200 result=1 ({value})")
    async with asyncio.timeout(30):  # the row is written before the socket closes; this only bounds a hang
        while server.active_sessions:
            await asyncio.sleep(0.01)
    return asked


async def open_call(db: Database, uniqueid: str) -> int:
    call, _ = await Timeline(db).open_call(channel_id=uniqueid, protocol="agi", caller_number="13800138000")
    return call.id


async def test_agent_hang_up_closes_the_lookup_call(db: Database, make_server: ServerFactory,
                                                    fakes: list[FakeAsterisk]) -> None:
    async with db.begin() as s:
        agent = Agent(agent_id="1001", name="王坐席", password_hash="x", sip_endpoint="agent-1001")
        s.add(agent)
        await s.flush()
        agent_pk = agent.id
    call_id = await open_call(db, "960.1")
    server = await make_server(db=db)
    asked = await hangup_session(server, fakes, "960.1", LOCAL, {
        "HANGUPCAUSE": "16", "CHANNEL(hangupsource)": "PJSIP/agent-1001-00000002",
        "MEMBERINTERFACE": "PJSIP/agent-1001"})
    assert asked == list(VARIABLES)
    timeline = Timeline(db)
    call = await timeline.get(call_id)
    assert call is not None and call.ended_at is not None
    assert (call.hangup_side, call.hangup_cause, call.outcome, call.agent_pk) == \
        (HangupSide.AGENT, "Normal Clearing", "answered", agent_pk)
    events = await timeline.events(call_id)
    assert [e.kind for e in events] == ["arrived", "agi_hangup", "hangup"]
    assert events[1].data["source"] == "PJSIP/agent-1001-00000002" and events[1].data["side"] == "agent"


async def test_caller_hang_up_in_the_fallback_keeps_the_fallback_outcome(
        db: Database, make_server: ServerFactory, fakes: list[FakeAsterisk]) -> None:
    call_id = await open_call(db, "960.2")
    await Timeline(db).update(call_id, outcome="fallback", fallback_reason="flow gas failed")
    server = await make_server(db=db)
    await hangup_session(server, fakes, "960.2", CALLER, {
        "HANGUPCAUSE": "0", "CHANNEL(hangupsource)": CALLER, "QUEUESTATUS": "TIMEOUT",
        "HOTLINE_FALLBACK_REASON": "app_requested", "HOTLINE_MESSAGE": "/spool/recording/fallback-960.2.wav"})
    call = await Timeline(db).get(call_id)
    assert call is not None and (call.hangup_side, call.outcome) == (HangupSide.CALLER, "fallback")
    events = await Timeline(db).events(call_id)
    assert events[-2].data["queue_status"] == "TIMEOUT"
    assert events[-2].data["message"].endswith("fallback-960.2.wav")


async def test_system_hang_up_and_a_row_already_closed(db: Database, make_server: ServerFactory,
                                                       fakes: list[FakeAsterisk]) -> None:
    call_id = await open_call(db, "960.3")
    server = await make_server(db=db)
    system = {"HANGUPCAUSE": "16", "CHANNEL(hangupsource)": "dialplan/builtin"}
    await hangup_session(server, fakes, "960.3", LOCAL, system)
    call = await Timeline(db).get(call_id)
    assert call is not None and (call.hangup_side, call.outcome) == (HangupSide.SYSTEM, "ivr")
    before = len(await Timeline(db).events(call_id))
    # A second handler (the h extension as well) changes nothing.
    await hangup_session(server, fakes, "960.3", LOCAL, {"CHANNEL(hangupsource)": LOCAL})
    again = await Timeline(db).get(call_id)
    assert again is not None and again.hangup_side == HangupSide.SYSTEM
    assert len(await Timeline(db).events(call_id)) == before


async def test_unknown_channel_is_left_alone(db: Database, make_server: ServerFactory,
                                             fakes: list[FakeAsterisk], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ivr.calls.agi.server")
    server = await make_server(db=db)
    await hangup_session(server, fakes, "960.4", CALLER, {"CHANNEL(hangupsource)": CALLER})
    assert "call=None side=caller" in caplog.text
    assert await Timeline(db).by_channel("960.4") is None  # no row is invented for a call we never saw


@pytest.fixture
async def dead_db() -> AsyncIterator[Database]:
    database = Database("postgresql+asyncpg://nobody@127.0.0.1:1/hotline")
    yield database
    await database.dispose()


async def test_dead_database_only_logs(dead_db: Database, make_server: ServerFactory, fakes: list[FakeAsterisk],
                                       caplog: pytest.LogCaptureFixture) -> None:
    server = await make_server(db=dead_db)
    asked = await hangup_session(server, fakes, "960.5", CALLER, {"CHANNEL(hangupsource)": CALLER})
    assert asked == list(VARIABLES)  # nothing else is sent to a dead channel, not even a fallback
    assert "could not close the call row" in caplog.text
