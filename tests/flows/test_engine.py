"""Engine mechanics on small flows: rules, lookups, verification, read-outs, hand-overs and failures."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any, Sequence

import pytest
from sqlalchemy.exc import OperationalError

from call_flows.say import as_text, integer, money
from ivr.calls.timeline import Timeline
from ivr.channel import OperationFailed
from ivr.db import Database
from ivr.engine import FlowEngine, FlowFailed, Outcome, ScriptedChannel, ScriptError, parse_script
from ivr.phones import phone_key
from tests.flows.conftest import add_customer, at_local, flow_from, run_flow
from tests.builders import order_service

HEAD = """\
flow: t
start: {start}
zero_out: agent
entries: {person: agent, end: done}  # so small flows need not reach both
defaults:
  on_fail: agent
  invalid_prompt: bad
  timeout_prompt: silence
prompts:
  p: 请选择
  bad: 输入有误
  silence: 没有收到
  ok: 好的
"""
TAIL = """\
  agent:
    type: queue
    queue: general
  done:
    type: hangup
    prompt: ok
"""


def make(tmp_path: Path, nodes: str, start: str = "n", extra_head: str = "") -> Any:
    body = textwrap.indent(textwrap.dedent(nodes), "  ")
    text = HEAD.replace("{start}", start) + extra_head + "nodes:\n" + body + TAIL
    return flow_from(tmp_path, text)


BRANCH = """\
n:
  type: branch
  rules:
    - when: {time: "21:00-08:00"}
      goto: night
    - when: {days: [sat, sun]}
      goto: weekend
  default: day
night:
  type: set
  category: night
  next: agent
weekend:
  type: set
  category: weekend
  next: agent
day:
  type: set
  category: day
  next: agent
"""


@pytest.mark.parametrize("when,category", [
    ("2025-03-05 23:30", "night"), ("2025-03-05 07:59", "night"), ("2025-03-05 08:00", "day"),
    ("2025-03-08 12:00", "weekend"), ("2025-03-09 22:00", "night"), ("2025-03-05 20:59", "day")])
async def test_time_of_day_rules_use_the_injected_clock_in_local_time(db: Database, tmp_path: Path, when: str,
                                                                      category: str) -> None:
    flow = make(tmp_path, BRANCH)
    run = await run_flow(db, flow, "", tmp_path, clock=at_local(when))
    assert run.call.category == category
    assert run.result.queue is not None and run.result.queue.category == category


LOOKUP = """\
n:
  type: lookup
  by: caller_number
  found: known
  not_found: ask
ask:
  type: collect
  prompt: p
  var: acct
  max_digits: 10
  next: by_account
by_account:
  type: lookup
  by: account_no
  var: acct
  prefixes: [G, W]
  found: known
  not_found: agent
known:
  type: branch
  rules:
    - when: {flag: repeat_caller}
      goto: again
    - when: {customer: known}
      goto: agent
  default: done
again:
  type: set
  flags: [seen_before]
  next: agent
"""


async def test_lookup_by_phone_normalises_numbers(db: Database, tmp_path: Path) -> None:
    assert phone_key("+86 138-0013-8000") == phone_key("008613800138000") == "13800138000"
    flow = make(tmp_path, LOOKUP)
    cid = await add_customer(db, phone="138-0013-8000")
    run = await run_flow(db, flow, "", tmp_path, caller="+8613800138000")
    assert run.call.customer_id == cid and run.result.queue is not None
    assert run.result.queue.customer_id == cid and "known_customer" in run.result.queue.flags


async def test_a_phone_shared_by_two_customers_identifies_nobody(db: Database, tmp_path: Path) -> None:
    flow = make(tmp_path, LOOKUP)
    await add_customer(db, name="甲", phone="13800138000", accounts=(("G1", "gas", "1", "0"),))
    second = await add_customer(db, name="乙", phone="13800138000", accounts=(("W2024000009", "water", "1", "0"),))
    run = await run_flow(db, flow, "2024000009#", tmp_path, caller="13800138000")
    assert run.data("ivr.lookup")[0] == {"node": "n", "by": "caller_number", "found": False, "customer_id": None,
                                         "matches": 2}
    assert run.data("ivr.lookup")[1]["customer_id"] == second  # found by W + the keyed digits
    assert run.call.customer_id == second


async def test_repeat_callers_are_flagged(db: Database, tmp_path: Path) -> None:
    flow = make(tmp_path, LOOKUP)
    await add_customer(db)
    first = await run_flow(db, flow, "", tmp_path / "a", caller="13800138000")
    assert "seen_before" not in first.result.queue.flags  # type: ignore[union-attr]
    second = await run_flow(db, flow, "", tmp_path / "b", caller="13800138000")
    assert {"repeat_caller", "seen_before"} <= second.result.queue.flags  # type: ignore[union-attr]


VERIFY = """\
n:
  type: lookup
  by: caller_number
  found: check
  not_found: agent
check:
  type: verify
  methods: [caller_phone, phone, id_tail]
  require: 2
  id_tail_digits: 6
  prompts: {phone: p, id_tail: p}
  retries: 1
  next: money
money:
  type: balance
  balance_prompt: ok
  arrears_prompt: bad
  no_arrears_prompt: ok
  next: done
  on_unverified: agent
  on_no_account: agent
"""


async def test_verification_needs_the_required_number_of_methods(db: Database, tmp_path: Path) -> None:
    flow = make(tmp_path, VERIFY)
    await add_customer(db, phone="13800138000", id_number="11010119800101123X")
    # caller_phone passes by itself; the registered phone keyed wrongly twice fails; the ID tail 01123X passes.
    run = await run_flow(db, flow, "13900000000#,13700000000#,01123*", tmp_path, caller="13800138000")
    assert [(d["method"], d["ok"]) for d in run.data("ivr.verify")] == [
        ("caller_phone", True), ("phone", False), ("id_tail", True)]
    assert run.call.verified and "money" in run.result.path
    refused = await run_flow(db, flow, "-,-,-,-", tmp_path / "b", caller="13800138000")
    assert not refused.call.verified and refused.result.path[-1] == "agent"


async def test_account_data_is_never_read_unverified(db: Database, tmp_path: Path) -> None:
    flow = make(tmp_path, VERIFY)
    await add_customer(db)
    # Jumping straight to the balance node (as a resumed call might) still refuses: on_unverified.
    run = await run_flow(db, flow, "", tmp_path, caller="13800138000", start="money")
    assert run.data("ivr.balance") == [{"node": "money", "refused": "not verified"}]
    assert "say/yuan" not in run.heard(flow) and run.result.path == ("money", "agent")


COLLECT = """\
n:
  type: collect
  prompt: p
  var: code
  min_digits: 4
  max_digits: 6
  mask: true
  confirm: {prompt: ok, question: p}
  next: route
route:
  type: branch
  rules:
    - when: {var: code, equals: "8888"}
      goto: done
  default: agent
"""


async def test_collect_checks_length_masks_and_confirms(db: Database, tmp_path: Path) -> None:
    flow = make(tmp_path, COLLECT)
    run = await run_flow(db, flow, "12#,7777#,2,8888#,1", tmp_path)
    inputs = run.data("ivr.input")
    assert [(d["kind"], d["value"]) for d in inputs] == [
        ("invalid", "**"), ("digits", "****"), ("confirm", "2"), ("digits", "****"), ("confirm", "1")]
    assert run.result.outcome is Outcome.HANGUP  # 8888 matched the rule
    heard = run.heard(flow)
    assert heard[heard.index("ok"):heard.index("ok") + 6] == ["ok", "say/n7", "say/n7", "say/n7", "say/n7", "p"]


async def test_zero_at_a_confirmation_reaches_a_person(db: Database, tmp_path: Path) -> None:
    flow = make(tmp_path, COLLECT)
    run = await run_flow(db, flow, "1234#,0", tmp_path)
    assert run.result.path[-1] == "agent"
    assert run.data("ivr.jump") == [{"node": "n", "to": "agent", "reason": "zero-out at confirmation"}]


async def test_type_ahead_keys_carry_to_the_next_menu(db: Database, tmp_path: Path) -> None:
    flow = make(tmp_path, """\
        n:
          type: menu
          prompt: p
          options:
            - {key: 1, goto: second}
        second:
          type: menu
          prompt: p
          options:
            - {key: 2, goto: done}
        """)
    run = await run_flow(db, flow, "12", tmp_path)
    assert run.result.path == ("n", "second", "done")


async def test_transfer_hands_the_call_to_the_dialplan_target(db: Database, tmp_path: Path) -> None:
    flow = make(tmp_path, """\
        n:
          type: transfer
          context: hotline-fallback
          extension: s
          prompt: ok
        """)
    run = await run_flow(db, flow, "", tmp_path)
    assert run.result.outcome is Outcome.TRANSFERRED
    assert ("transfer", {"context": "hotline-fallback", "extension": "s", "priority": 1}) in run.channel.log


async def test_queue_request_carries_what_the_acd_needs(db: Database, tmp_path: Path) -> None:
    flow = make(tmp_path, """\
        n:
          type: set
          priority: 7
          skill: billing
          category: billing.question
          flags: [asked]
          next: q
        q:
          type: queue
          queue: billing
        """)
    run = await run_flow(db, flow, "", tmp_path)
    q = run.result.queue
    assert q is not None and run.result.outcome is Outcome.QUEUE
    assert (q.call_id, q.queue, q.skill, q.priority, q.flow, q.node, q.category) == (
        run.call.id, "billing", "billing", 7, "t", "q", "billing.question")
    assert q.flags == frozenset({"asked"}) and not q.verified and not q.emergency
    assert (run.call.queue_name, run.call.skill, run.call.priority) == ("billing", "billing", 7)


async def test_english_flows_read_numbers_with_asterisk_sounds(db: Database, tmp_path: Path) -> None:
    flow = make(tmp_path, VERIFY.replace("[caller_phone, phone, id_tail]", "[caller_phone]")
                .replace("require: 2", "require: 1"), extra_head="language: en\n")
    await add_customer(db, accounts=(("G1", "gas", "42.50", "0"),))
    run = await run_flow(db, flow, "", tmp_path, caller="13800138000")
    assert "number:42" in run.channel.played


def test_chinese_read_outs() -> None:
    assert [as_text(integer(n)) for n in (0, 10, 15, 101, 110, 1005, 2000, 10005, 120000, 200000000)] == [
        "零", "十", "十五", "一百零一", "一百一十", "一千零五", "两千", "一万零五", "十二万", "两亿"]
    assert [as_text(money(Decimal(m))) for m in ("0", "0.05", "12.3", "100.05", "86.50")] == [
        "零元", "五分", "十二元三角", "一百元零五分", "八十六元五角"]


class FailingPlay(ScriptedChannel):
    async def play(self, media: Sequence[str], *, interrupt_dtmf: bool = False) -> str | None:
        raise OperationFailed("playback of sound:x failed")


async def test_our_failure_is_recorded_and_raised_for_the_dialplan_fallback(db: Database, tmp_path: Path) -> None:
    flow = make(tmp_path, "n:\n  type: play\n  prompt: p\n  next: agent\n")
    channel = FailingPlay("", workdir=tmp_path)
    with pytest.raises(FlowFailed, match="flow t failed at n: OperationFailed"):
        await FlowEngine(db, orders=order_service(db)).run(flow, channel)
    call = await Timeline(db).by_channel(channel.id)
    assert call is not None
    errors = [e.data for e in await Timeline(db).events(call.id) if e.kind == "ivr.error"]
    assert errors == [{"node": "n", "error": "OperationFailed: playback of sound:x failed"}]


async def test_a_lost_timeline_write_does_not_cost_the_call(db: Database, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    flow = make(tmp_path, "n:\n  type: play\n  prompt: p\n  next: agent\n")
    engine = FlowEngine(db, orders=order_service(db))

    async def broken(*args: Any, **kwargs: Any) -> int:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    engine.timeline.add_event = broken  # type: ignore[method-assign]
    result = await engine.run(flow, ScriptedChannel("", workdir=tmp_path))
    assert result.outcome is Outcome.QUEUE
    assert "could not record ivr.node" in caplog.text


async def test_a_flow_that_never_ends_is_stopped(db: Database, tmp_path: Path) -> None:
    flow = make(tmp_path, "n:\n  type: menu\n  prompt: p\n  options:\n    - {key: 9, goto: n}\n")
    channel = ScriptedChannel("9,9,9,9,9", workdir=tmp_path)
    with pytest.raises(FlowFailed, match="went through 3 nodes"):
        await FlowEngine(db, orders=order_service(db), max_steps=3).run(flow, channel)


class NoRecording(ScriptedChannel):
    async def record(self, name: str, *, max_seconds: float, silence_seconds: float = 3.0,
                     beep: bool = True) -> str:
        raise OperationFailed("record refused")


async def test_a_message_that_cannot_be_recorded_goes_to_a_person(db: Database, tmp_path: Path) -> None:
    flow = make(tmp_path, "n:\n  type: message\n  prompt: p\n  next: done\n")
    channel = NoRecording("", workdir=tmp_path)
    result = await FlowEngine(db, orders=order_service(db)).run(flow, channel)
    assert result.outcome is Outcome.QUEUE and result.path == ("n", "agent")


def test_script_syntax() -> None:
    steps = parse_script("1, 1234#, say:漏气, wav:/tmp/a.wav, -, hangup")
    assert [str(s) for s in steps] == ["1", "1234#", "say:漏气", "wav:/tmp/a.wav", "-", "hangup"]
    with pytest.raises(ScriptError, match="input 2 'x1'"):
        parse_script("1,x1")


async def test_scripted_channel_follows_the_channel_protocol(tmp_path: Path) -> None:
    from ivr.channel import Channel

    ch = ScriptedChannel("12#3", workdir=tmp_path)
    assert isinstance(ch, Channel)
    r = await ch.collect_digits(max_digits=5, first_timeout=5)
    assert (r.digits, r.timed_out, ch.buffer) == ("12", False, "3")
    assert await ch.play(["sound:x"], interrupt_dtmf=True) == "3"  # type-ahead is seen, not consumed
    r = await ch.collect_digits(max_digits=1, first_timeout=0.1)
    assert (r.digits, r.timed_out) == ("3", False)
    r = await ch.collect_digits(max_digits=1, first_timeout=0.1)  # shorter than a reaction: nothing
    assert (r.digits, r.timed_out) == ("", True)
    from ivr.channel import ChannelHungUp

    with pytest.raises(ChannelHungUp):  # the script ran out: the caller hung up
        await ch.collect_digits(max_digits=1, first_timeout=5)
    assert ch.hung_up and ch.ended_by == "caller"
