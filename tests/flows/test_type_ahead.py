"""Type-ahead and emergency keys (issue 14): keys pressed during any prompt wait for the next input node, and
the flow's emergency key works from the first second of the call."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import pytest

from call_flows.loader import FlowError, load_flow
from call_flows.schema import Flow
from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.channel import OperationFailed
from ivr.engine import FlowEngine, FlowFailed, Outcome, ScriptedChannel
from tests.builders import order_service
from tests.flows.conftest import flow_from

ROOT = Path(__file__).resolve().parents[2]

FLOW = """\
flow: t
start: welcome
zero_out: agent
defaults: {on_fail: agent}
emergency: {keys: [1], goto: leak}
prompts:
  welcome: 您好
  notice: 通话可能会被录音
  menu: 请选择
nodes:
  welcome:
    type: play
    prompt: welcome
    next: notice
  notice:
    type: play
    prompt: notice
    interruptible: false
    next: main
  main:
    type: menu
    prompt: menu
    options:
      - {key: 2, goto: sub}
  sub:
    type: menu
    prompt: menu
    options:
      - {key: 1, goto: sub_one}
  sub_one:
    type: queue
    queue: repair
  leak:
    type: set
    priority: 20
    flags: [emergency]
    next: leak_queue
  leak_queue:
    type: queue
    queue: emergency
  agent:
    type: queue
    queue: general
"""


class WatchedChannel(ScriptedChannel):
    """The scripted caller, noting whether each prompt listened for keys."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.plays: list[tuple[str, bool]] = []

    async def play(self, media: Sequence[str], *, interrupt_dtmf: bool = False) -> str | None:
        self.plays.append((media[0].rsplit("/", 1)[-1], interrupt_dtmf))
        return await super().play(media, interrupt_dtmf=interrupt_dtmf)


async def call(db: Database, flow: Flow, tmp_path: Path, *, typed: str, script: str = "",
               start: str | None = None) -> tuple[Any, Any, list[Any]]:
    ch = WatchedChannel(script, workdir=tmp_path / "audio")
    ch.buffer = typed  # pressed before the first prompt ended
    result = await FlowEngine(db, orders=order_service(db)).run(flow, ch, start=start)
    timeline = Timeline(db)
    row = await timeline.by_channel(ch.id)
    assert row is not None
    return result, ch, await timeline.events(row.id)


async def test_the_emergency_key_during_the_welcome_goes_straight_to_the_emergency_queue(
        db: Database, tmp_path: Path) -> None:
    flow = flow_from(tmp_path, FLOW)
    result, ch, events = await call(db, flow, tmp_path, typed="1")
    assert result.outcome is Outcome.QUEUE and result.queue is not None
    assert result.queue.queue == "emergency" and result.queue.priority == 20 and result.queue.emergency
    assert result.path == ("welcome", "leak", "leak_queue")
    kinds = [e.kind for e in events]
    assert kinds.index("ivr.emergency") < kinds.index("ivr.end")
    assert [e.data for e in events if e.kind == "ivr.emergency"] == [{"node": "welcome", "key": "1"}]
    assert ch.buffer == ""  # the key was used, not left for a later menu
    assert ch.plays[0] == ("welcome", True)


async def test_keys_typed_during_the_welcome_reach_the_menus_in_order(db: Database, tmp_path: Path) -> None:
    flow = flow_from(tmp_path, FLOW)
    result, ch, events = await call(db, flow, tmp_path, typed="21")
    # 1 at the submenu is its option 1, not the emergency key: a menu that uses a key keeps its meaning.
    assert result.path == ("welcome", "notice", "main", "sub", "sub_one")
    assert "ivr.emergency" not in [e.kind for e in events]
    assert ("notice", False) in ch.plays  # the notice played to its end; the keys waited
    inputs = [(e.data["node"], e.data["value"]) for e in events if e.kind == "ivr.input"]
    assert inputs == [("main", "2"), ("sub", "1")]


async def test_the_emergency_key_at_a_menu_that_does_not_use_it(db: Database, tmp_path: Path) -> None:
    flow = flow_from(tmp_path, FLOW)
    result, _, events = await call(db, flow, tmp_path, typed="", script="1", start="main")
    assert result.path == ("main", "leak", "leak_queue")
    assert [e.data for e in events if e.kind == "ivr.emergency"] == [{"node": "main", "key": "1"}]


async def test_without_emergency_keys_a_typed_key_waits_for_the_menu(db: Database, tmp_path: Path) -> None:
    flow = flow_from(tmp_path, FLOW.replace("emergency: {keys: [1], goto: leak}\n", "")
                     .replace("      - {key: 2, goto: sub}\n", "      - {key: 2, goto: sub}\n      - {key: 3, goto: leak}\n"))
    result, _, events = await call(db, flow, tmp_path, typed="1")
    assert result.path == ("welcome", "notice", "main")  # then the scripted caller hangs up
    inputs = [(e.data["node"], e.data["kind"], e.data["value"]) for e in events if e.kind == "ivr.input"]
    assert inputs[0] == ("main", "invalid", "1")  # 1 is an ordinary key here, heard by the menu


def test_emergency_needs_keywords_or_keys_and_never_key_0(tmp_path: Path) -> None:
    for bad in ("emergency: {goto: leak}", "emergency: {keys: [0], goto: leak}"):
        with pytest.raises(FlowError):
            flow_from(tmp_path, FLOW.replace("emergency: {keys: [1], goto: leak}", bad))


async def test_the_gas_flow_takes_1_as_the_emergency_key_from_the_start(db: Database, tmp_path: Path) -> None:
    flow = load_flow(ROOT / "call_flows" / "gas.yaml")
    assert flow.header.emergency is not None and flow.header.emergency.keys == ["1"]
    result, ch, events = await call(db, flow, tmp_path, typed="1")
    assert result.queue is not None and result.queue.queue == "emergency" and result.queue.priority == 20
    assert result.path[:2] == ("welcome", "gas_leak")
    assert ("gas_leak_advice", False) in ch.plays


class HangsUpDuringThePrompt(ScriptedChannel):
    """Asterisk refuses the prompt because the caller has just hung up (the -1 / 409 of a dying channel)."""

    async def play(self, media: Sequence[str], *, interrupt_dtmf: bool = False) -> str | None:
        if "notice" in media[0]:
            self._hung_up, self.ended_by = True, "caller"
            raise OperationFailed("play: Channel not in Stasis application")
        return await super().play(media, interrupt_dtmf=interrupt_dtmf)


async def test_a_caller_hanging_up_during_a_prompt_is_a_normal_end(db: Database, tmp_path: Path) -> None:
    flow = flow_from(tmp_path, FLOW)
    ch = HangsUpDuringThePrompt("", workdir=tmp_path / "audio")
    result = await FlowEngine(db, orders=order_service(db)).run(flow, ch)
    assert result.outcome is Outcome.CALLER_HANGUP and result.path == ("welcome", "notice")
    row = await Timeline(db).by_channel(ch.id)
    assert row is not None
    events = await Timeline(db).events(row.id)
    assert [e.data for e in events if e.kind == "ivr.hangup"] == [{"node": "notice"}]
    assert "ivr.error" not in [e.kind for e in events]


async def test_our_failure_on_a_live_call_is_still_an_error(db: Database, tmp_path: Path) -> None:
    class Broken(ScriptedChannel):
        async def play(self, media: Sequence[str], *, interrupt_dtmf: bool = False) -> str | None:
            raise OperationFailed("playback failed")

    flow = flow_from(tmp_path, FLOW)
    with pytest.raises(FlowFailed):
        await FlowEngine(db, orders=order_service(db)).run(flow, Broken("", workdir=tmp_path / "audio"))


async def test_the_gas_flow_names_its_steps_in_chinese_for_the_pop(db: Database, tmp_path: Path) -> None:
    from agent_console.pop import ivr_path

    flow = load_flow(ROOT / "call_flows" / "gas.yaml")
    assert all(node.label for node in flow.nodes.values())
    _, _, events = await call(db, flow, tmp_path, typed="0")
    path = ivr_path([(e.kind, e.data) for e in events])
    assert path[0]["label"] == "欢迎语"
    menu = next(s for s in path if s["node"] == "main_menu")
    assert menu["label"] == "主菜单" and [i["value"] for i in menu["inputs"]] == ["按0 人工服务"]
