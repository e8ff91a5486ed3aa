"""Both shipped flows over the real Asterisk: a SIP caller (sipp, RFC 4733 keys) dials in, our ARI call
service hands the channel to the flow engine, the prompts are the ones `hotline prompts build` renders.

The caller's keys are timed from the real prompt lengths (read from the built wav files) so each lands in
the middle of the menu prompt it answers, well clear of the non-interruptible prompts around it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import shutil
import wave
from pathlib import Path
from typing import Any, AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select

from call_flows.loader import load_flow
from call_flows.prompts import build, synthesize
from call_flows.schema import Flow
from ivr.callers import Priority
from ivr.ari.client import AriNotFound
from ivr.ari.spec import ApiSpec
from ivr.asterisk.instance import AsteriskInstance
from ivr.asterisk.ports import PortAllocator
from ivr.asterisk.sipp import run_sipp, uac_scenario
from ivr.calls.ari_engine import AriEngine
from ivr.calls.handler import CallContext
from ivr.calls.notifier import CallNotifier
from ivr.calls.timeline import Timeline
from ivr.channel import Channel
from ivr.db import Database
from ivr.db.models import Call
from ivr.engine import FlowEngine, FlowResult, Outcome
from ivr.settings import Settings, load_settings
from ivr.speech import Recognizer
from tests.flows.conftest import GAS, WATER, add_customer, add_outage
from tests.plugins.asterisk import ari_headers, settings_for_asterisk
from tests.plugins.database import run_isolated
from tests.builders import order_service

pytestmark = pytest.mark.asterisk
MARGIN = 4.0  # seconds into a menu prompt at which the caller presses its key
GAP_TAG = 7777  # placeholder pause, replaced by each key's own delay


@pytest.fixture(scope="session")
def flow_sounds(asterisk: AsteriskInstance) -> Path:
    """The shipped flows' prompts, rendered into this Asterisk's sounds dir once per session."""
    flows = [load_flow(GAS), load_flow(WATER)]
    report = run_isolated(lambda: build(flows, asterisk.sounds_dir_host))
    assert report.failed == []  # type: ignore[attr-defined]
    return asterisk.sounds_dir_host


def seconds(sounds: Path, flow: Flow, prompt: str) -> float:
    with wave.open(str(sounds / f"hotline/zh/{flow.name}/{prompt}.wav")) as w:
        return w.getnframes() / w.getframerate()


def timed_caller(caller: str, keys: list[tuple[float, str]]) -> str:
    """A sipp caller pressing each key the given seconds after the previous one (the first: after answer)."""
    xml = uac_scenario("".join(k for _, k in keys), caller=caller, first_dtmf_ms=int(keys[0][0] * 1000),
                       dtmf_gap_ms=GAP_TAG, hangup="asterisk")
    for delay, _ in keys[1:]:
        xml = xml.replace(f'<pause milliseconds="{GAP_TAG}"/>', f'<pause milliseconds="{int(delay * 1000)}"/>', 1)
    assert str(GAP_TAG) not in xml
    return xml


class Line:
    """Our ARI call service on the test Asterisk, running one flow for every inbound call."""

    def __init__(self, asterisk: AsteriskInstance, settings: Settings, db: Database, flow: Flow, *,
                 recognizer: Recognizer | None = None, start: str | None = None) -> None:
        self.settings = settings_for_asterisk(asterisk, settings)
        self.asterisk = asterisk
        self.timeline = Timeline(db)
        self.results: asyncio.Queue[tuple[int, FlowResult]] = asyncio.Queue()
        engine = FlowEngine(db, orders=order_service(db), recognizer=recognizer)

        async def handler(channel: Channel, ctx: CallContext) -> None:
            result = await engine.run(flow, channel, call_id=ctx.call_id, start=start)
            self.results.put_nowait((ctx.call_id, result))

        self.ari = AriEngine.standalone(self.settings, self.timeline, CallNotifier(), recording_dir=asterisk.recordings_dir_host,
                             recordings=None, spec=ApiSpec.load(), asterisk_path=asterisk.asterisk_path,
                             handler=handler)

    async def call(self, ports: PortAllocator, tmp_path: Path, keys: list[tuple[float, str]],
                   caller: str) -> tuple[int, FlowResult]:
        scenario = tmp_path / "caller.xml"
        scenario.write_text(timed_caller(caller, keys), encoding="iso-8859-1")
        total = sum(d for d, _ in keys) + 60
        result = await run_sipp(scenario, ports, remote=f"127.0.0.1:{self.asterisk.sip_port}",
                                service=self.asterisk.inbound_extension, timeout=total)
        assert result.ok, result.describe()
        async with asyncio.timeout(30):  # a guard against a hang, not a speed assertion
            return await self.results.get()

    async def local_call(self, extension: str, variables: dict[str, str], caller: str,
                         within: float) -> tuple[int, FlowResult]:
        """A Local-channel caller: its phone half runs [hotline-test] `extension` (play a sound, send keys)."""
        phone = await self.ari.client.originate("Local/inbound@hotline-test", context="hotline-test",
                                                extension=extension, caller_id=f"Tester <{caller}>",
                                                variables=variables)
        try:
            async with asyncio.timeout(within):  # a guard against a hang, not a speed assertion
                return await self.results.get()
        finally:
            try:
                await self.ari.client.hangup(phone.id)
            except AriNotFound:
                pass  # the flow hung up first


@pytest.fixture
async def line_db(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite only: these calls take a minute each, and both backends are covered by the other flow tests."""
    path = tmp_path / "hotline.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def line_factory(asterisk: AsteriskInstance, line_db: Database, flow_sounds: Path) -> AsyncIterator[object]:
    lines: list[Line] = []
    settings = load_settings(env={})
    db = line_db

    async def make(flow: Flow, **kw: Any) -> Line:
        line = Line(asterisk, settings, db, flow, **kw)
        await line.ari.start()
        async with asyncio.timeout(30):
            await line.ari.session.resynced.wait()
        lines.append(line)
        return line

    yield make
    for line in lines:
        await line.ari.stop()


def caller_number() -> str:
    return "139" + "".join(secrets.choice("0123456789") for _ in range(8))


async def test_gas_leak_key_reaches_the_emergency_queue_with_top_priority(
        line_factory: object, asterisk_ports: PortAllocator, flow_sounds: Path, tmp_path: Path) -> None:
    flow = load_flow(GAS)
    line: Line = await line_factory(flow)  # type: ignore[operator]
    press_1 = seconds(flow_sounds, flow, "welcome") + MARGIN
    call_id, result = await line.call(asterisk_ports, tmp_path, [(press_1, "1")], caller_number())
    assert result.outcome is Outcome.QUEUE and result.queue is not None
    assert (result.queue.queue, result.queue.skill, result.queue.emergency) == ("emergency", "emergency", True)
    assert result.queue.priority == Priority.EMERGENCY
    assert result.path == ("welcome", "identify", "main_menu", "gas_leak", "gas_leak_advice", "emergency_queue")
    events = await line.timeline.events(call_id)
    kinds = [e.kind for e in events]
    assert [e.data["digit"] for e in events if e.kind == "dtmf"] == ["1"]  # from Asterisk, via ARI
    assert kinds.index("dtmf") < kinds.index("ivr.queue")
    call = await line.timeline.get(call_id)
    assert call is not None and (call.queue_name, call.priority) == ("emergency", Priority.EMERGENCY)


async def test_water_timeout_and_wrong_keys_replay_the_menu_then_reach_an_agent(
        line_factory: object, asterisk_ports: PortAllocator, flow_sounds: Path, tmp_path: Path) -> None:
    flow = load_flow(WATER)
    line: Line = await line_factory(flow)  # type: ignore[operator]
    welcome, repair = seconds(flow_sounds, flow, "welcome"), seconds(flow_sounds, flow, "repair_menu")
    no_input, invalid = seconds(flow_sounds, flow, "no_input"), seconds(flow_sounds, flow, "invalid_key")
    timeout = flow.input_setting(flow.nodes["repair_menu"], "timeout")
    keys = [
        (welcome + MARGIN, "2"),  # main menu: repairs
        (repair + timeout + no_input + MARGIN, "7"),  # the repair menu times out once, then a wrong key
        (invalid + MARGIN, "8"),  # and another wrong key: the third failure
    ]
    call_id, result = await line.call(asterisk_ports, tmp_path, keys, caller_number())
    assert result.outcome is Outcome.QUEUE and result.queue is not None and result.queue.queue == "general"
    assert result.path == ("welcome", "identify", "main_menu", "repair_menu", "to_agent", "agent_queue")
    events = await line.timeline.events(call_id)
    inputs = [(e.data["node"], e.data["kind"], e.data["value"]) for e in events if e.kind == "ivr.input"]
    assert inputs == [("main_menu", "key", "2"), ("repair_menu", "timeout", ""), ("repair_menu", "invalid", "7"),
                      ("repair_menu", "invalid", "8")]
    assert [e.data for e in events if e.kind == "ivr.retries_exhausted"] == [{"node": "repair_menu",
                                                                            "to": "to_agent"}]


async def test_spoken_emergency_word_reaches_the_emergency_queue(
        line_factory: object, asterisk: AsteriskInstance, flow_sounds: Path, ko_recognizer: Recognizer,
        tmp_path: Path) -> None:
    """Speech end to end: the caller's audio crosses Asterisk, our ARI recording of the main menu's answer
    goes through the real Vosk model, and the emergency word (anywhere) jumps to the emergency queue.

    The shipped gas flow, with its emergency keywords swapped for the Korean 화재 (fire): the registry's Vosk
    model is Korean; deployers' Chinese model hears 漏气 the same way."""
    text = GAS.read_text(encoding="utf-8")
    assert "keywords: [漏气, 燃气泄漏, 有煤气味]" in text
    path = tmp_path / "gas.yaml"
    path.write_text(text.replace("keywords: [漏气, 燃气泄漏, 有煤气味]", "keywords: [화재]"), encoding="utf-8")
    flow = load_flow(path)
    word = asterisk.sounds_dir_host / "hotline" / "test" / "ko-fire.wav"
    await synthesize("화재", word, voice="ko", speed=120, rate=8000)
    line: Line = await line_factory(flow, recognizer=ko_recognizer)  # type: ignore[operator]
    # The caller speaks a second after the main menu's prompt ends, when the menu listens (it records the
    # caller once the prompt is over; silence_seconds 2 would end a recording that hears nothing).
    speak_at = seconds(flow_sounds, flow, "welcome") + seconds(flow_sounds, flow, "main_menu") + 1.0
    call_id, result = await line.local_call("play", {"HOTLINE_TEST_WAIT": f"{speak_at:.1f}",
                                                     "HOTLINE_TEST_SOUND": "hotline/test/ko-fire"},
                                            caller_number(), within=speak_at + 60)
    events = await line.timeline.events(call_id)
    speech = [e.data for e in events if e.kind == "ivr.speech"]
    assert result.outcome is Outcome.QUEUE and result.queue is not None, (result, speech)
    assert (result.queue.queue, result.queue.emergency, result.queue.priority) == ("emergency", True,
                                                                                   Priority.EMERGENCY)
    assert result.path == ("welcome", "identify", "main_menu", "gas_leak", "gas_leak_advice", "emergency_queue")
    assert speech and speech[0]["node"] == "main_menu" and speech[0]["emergency"] == "화재", speech
    assert speech[0]["confidence"] >= ko_recognizer.min_confidence
    recording = Path(speech[0]["recording"])
    assert recording.is_file() and recording.stat().st_size > 8000  # the caller's audio, as Asterisk recorded it
    assert not [e for e in events if e.kind == "dtmf"]  # no key: the voice did it


async def test_survey_key_is_stored_as_the_calls_satisfaction(
        line_factory: object, flow_sounds: Path, tmp_path: Path) -> None:
    """The survey entry (what the caller gets after the agent hangs up) on a real channel: the key the caller
    sends during the question becomes calls.satisfaction and an ivr.survey event."""
    flow = load_flow(GAS)
    line: Line = await line_factory(flow, start="survey")  # type: ignore[operator]
    wait = seconds(flow_sounds, flow, "survey") / 2
    call_id, result = await line.local_call("dtmf-4", {"HOTLINE_TEST_WAIT": f"{wait:.1f}"}, caller_number(),
                                            within=wait + 60)
    assert result.outcome is Outcome.HANGUP and result.path == ("survey", "goodbye")
    call = await line.timeline.get(call_id)
    assert call is not None and call.satisfaction == 4
    events = await line.timeline.events(call_id)
    assert [e.data for e in events if e.kind == "ivr.survey"] == [{"node": "survey", "satisfaction": 4}]
    assert [e.data["digit"] for e in events if e.kind == "dtmf"] == ["4"]


async def test_registered_special_care_caller_hears_the_outage_then_reaches_the_repair_skill(
        line_factory: object, line_db: Database, flow_sounds: Path) -> None:
    """A registered 老弱病残 customer in an area with a planned outage: the outage is announced before the
    menu, the call gets the special-care priority, and 2 (repair) then 1 (meter) reach the repair skill.
    The keys are sent when the timeline shows the menu listening, not on a guessed clock."""
    number = caller_number()
    customer = await add_customer(line_db, name="张伟", phone=number, special_care=True)
    outage = await add_outage(line_db, starts=dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2))
    line: Line = await line_factory(load_flow(GAS))  # type: ignore[operator]
    # The caller's phone is the ;1 half, held in a Stasis app of the test's own so that ARI can press its
    # keys (POST /channels/{id}/dtmf only works in Stasis): they reach our ;2 half as DTMF.
    async with aiohttp.ClientSession(headers=ari_headers(line.asterisk)) as http, http.ws_connect(
            line.asterisk.ari_url.replace("http", "ws", 1) + "/ari/events?app=test-phone"):
        phone = await line.ari.client.originate("Local/inbound@hotline-test", app="test-phone",
                                                caller_id=f"Tester <{number}>")
        try:
            await _reach(line, number, "main_menu")
            await line.ari.client.send_dtmf(phone.id, "2")
            await _reach(line, number, "repair_menu")
            await line.ari.client.send_dtmf(phone.id, "1")
            async with asyncio.timeout(60):  # a guard against a hang, not a speed assertion
                call_id, result = await line.results.get()
        finally:
            try:
                await line.ari.client.hangup(phone.id)
            except AriNotFound:
                pass
    assert result.path == ("welcome", "identify", "area_outages", "care_check", "care_priority", "main_menu",
                           "repair_menu", "repair_meter", "repair_queue")
    assert result.outcome is Outcome.QUEUE and result.queue is not None
    assert (result.queue.queue, result.queue.skill, result.queue.priority) == ("repair", "repair",
                                                                             Priority.SPECIAL_CARE)
    assert result.queue.customer_id == customer and "outage_in_area" in result.queue.flags
    events = await line.timeline.events(call_id)
    assert [e.data["outages"] for e in events if e.kind == "ivr.outage"] == [[outage]]
    menu_at = next(i for i, e in enumerate(events) if e.kind == "ivr.node" and e.data["node"] == "main_menu")
    assert [e.kind for e in events].index("ivr.outage") < menu_at  # announced before the menu
    assert [e.data["digit"] for e in events if e.kind == "dtmf"] == ["2", "1"]
    call = await line.timeline.get(call_id)
    assert call is not None and (call.queue_name, call.skill, call.priority) == ("repair", "repair", 10)


async def _reach(line: Line, number: str, node: str) -> None:
    """Until the caller's flow has entered `node`, then a second into its prompt (which a key interrupts)."""
    async def there() -> bool:
        async with line.timeline.db.session() as s:
            call = (await s.execute(select(Call).where(Call.caller_number == number))).scalar_one_or_none()
        return call is not None and any(e.kind == "ivr.node" and e.data["node"] == node
                                        for e in await line.timeline.events(call.id))

    async with asyncio.timeout(120):  # the outage read-out and the prompts; a guard, not a speed check
        while not await there():
            await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)


# --- issue 14: type-ahead, emergency first, hang-ups are not errors -----------------------------------------

EARLY = 1.5  # seconds after the answer: well inside the welcome (asserted per test)


async def test_emergency_key_during_the_welcome_goes_straight_to_the_emergency_queue(
        line_factory: object, asterisk_ports: PortAllocator, flow_sounds: Path, tmp_path: Path) -> None:
    flow = load_flow(GAS)
    assert seconds(flow_sounds, flow, "welcome") > EARLY + 1.5  # the key lands while the welcome plays
    line: Line = await line_factory(flow)  # type: ignore[operator]
    call_id, result = await line.call(asterisk_ports, tmp_path, [(EARLY, "1")], caller_number())
    assert result.outcome is Outcome.QUEUE and result.queue is not None
    assert (result.queue.queue, result.queue.emergency, result.queue.priority) == ("emergency", True,
                                                                                   Priority.EMERGENCY)
    assert result.path == ("welcome", "gas_leak", "gas_leak_advice", "emergency_queue")  # no main menu
    events = await line.timeline.events(call_id)
    kinds = [e.kind for e in events]
    assert [e.data for e in events if e.kind == "ivr.emergency"] == [{"node": "welcome", "key": "1"}]
    # In the timeline's order: the key, the emergency jump during the welcome, then the queue; no menu between.
    assert kinds.index("dtmf") < kinds.index("ivr.emergency") < kinds.index("ivr.queue")
    assert "ivr.input" not in kinds


async def test_two_then_one_during_the_welcome_reach_the_repair_submenus_option_1(
        line_factory: object, asterisk_ports: PortAllocator, flow_sounds: Path, tmp_path: Path) -> None:
    flow = load_flow(GAS)
    assert seconds(flow_sounds, flow, "welcome") > EARLY + 1.5
    line: Line = await line_factory(flow)  # type: ignore[operator]
    # A Local-channel caller keys 2 and 1 half a second apart (SendDTMF): sipp's second RFC 4733 key so soon
    # after the first was not seen by Asterisk as a new press.
    call_id, result = await line.local_call("dtmf-21", {"HOTLINE_TEST_WAIT": f"{EARLY}"}, caller_number(),
                                            within=90)
    assert result.path == ("welcome", "identify", "main_menu", "repair_menu", "repair_meter", "repair_queue")
    assert result.queue is not None and result.queue.queue == "repair"
    events = await line.timeline.events(call_id)
    inputs = [(e.data["node"], e.data["value"]) for e in events if e.kind == "ivr.input"]
    assert inputs == [("main_menu", "2"), ("repair_menu", "1")]  # 1 at the submenu is its option, not 紧急
    assert "ivr.emergency" not in [e.kind for e in events]


async def test_a_caller_hanging_up_during_a_prompt_leaves_no_error(
        line_factory: object, asterisk_ports: PortAllocator, flow_sounds: Path, tmp_path: Path) -> None:
    flow = load_flow(GAS)
    assert seconds(flow_sounds, flow, "welcome") > EARLY + 1.5
    line: Line = await line_factory(flow)  # type: ignore[operator]
    scenario = tmp_path / "caller.xml"
    scenario.write_text(uac_scenario("", caller=caller_number(), hold_ms=int(EARLY * 1000), hangup="caller"),
                        encoding="iso-8859-1")
    sipp = await run_sipp(scenario, asterisk_ports, remote=f"127.0.0.1:{line.asterisk.sip_port}",
                          service=line.asterisk.inbound_extension, timeout=60)
    assert sipp.ok, sipp.describe()
    async with asyncio.timeout(30):  # a guard against a hang, not a speed assertion
        call_id, result = await line.results.get()
    assert result.outcome is Outcome.CALLER_HANGUP and result.path == ("welcome",)
    events = await line.timeline.events(call_id)
    kinds = [e.kind for e in events]
    assert [e.data for e in events if e.kind == "ivr.hangup"] == [{"node": "welcome"}]
    assert "ivr.error" not in kinds and "handler_failed" not in kinds and "fallback" not in kinds
