"""The gas and water flows, run by the real engine on a scripted caller against the test database."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from call_flows.loader import check_file, load_flow
from call_flows.schema import MenuNode, SetNode
from ivr.callers import Priority
from ivr.db import Database
from ivr.db.models import WorkOrder, WorkOrderType
from ivr.workorders import deadlines
from tests.builders import ZONE
from ivr.engine import Outcome
from tests.flows.conftest import GAS, WATER, add_customer, add_outage, at_local, run_flow

CALLER = "13800138000"  # add_customer's default phone


@pytest.mark.parametrize("path", [GAS, WATER], ids=["gas", "water"])
def test_shipped_flows_check_clean(path: Path) -> None:
    flow, issues = check_file(path)
    assert flow is not None
    assert [str(i) for i in issues] == []  # not even a warning
    assert flow.header.language == "zh" and flow.header.emergency is not None
    assert "survey" in flow.header.entries


@pytest.mark.parametrize("path,queue", [(GAS, "emergency"), (WATER, "emergency")], ids=["gas", "water"])
async def test_key_1_is_the_emergency_path_with_top_priority(db: Database, tmp_path: Path, path: Path,
                                                             queue: str) -> None:
    flow = load_flow(path)
    run = await run_flow(db, flow, "1", tmp_path)
    q = run.result.queue
    assert run.result.outcome is Outcome.QUEUE and q is not None
    assert (q.queue, q.skill, q.emergency) == (queue, "emergency", True)
    highest = max(n.priority for n in flow.nodes.values() if isinstance(n, SetNode) and n.priority is not None)
    assert q.priority == highest == Priority.EMERGENCY
    assert (run.call.queue_name, run.call.skill, run.call.priority) == (queue, "emergency", Priority.EMERGENCY)
    goto = flow.nodes["main_menu"].options[0].goto
    label = flow.nodes[goto].label  # issue 14: the input says what the caller chose, in the flow's words
    assert run.data("ivr.input")[0] == {"node": "main_menu", "attempt": 1, "kind": "key", "value": "1",
                                        "to": goto} | ({"to_label": label} if label else {})
    assert [d["node"] for d in run.data("ivr.node")] == list(run.result.path)


async def test_gas_timeouts_replay_the_menu_then_a_person(db: Database, tmp_path: Path) -> None:
    flow = load_flow(GAS)
    run = await run_flow(db, flow, "-,-,-", tmp_path)
    assert run.heard(flow) == ["welcome", "main_menu", "no_input", "main_menu", "no_input", "main_menu", "no_input",
                               "to_agent"]
    assert run.result.queue is not None and run.result.queue.queue == "general"
    assert [d["kind"] for d in run.data("ivr.input")] == ["timeout"] * 3
    assert run.data("ivr.retries_exhausted") == [{"node": "main_menu", "to": "to_agent"}]


async def test_water_invalid_keys_replay_then_a_person(db: Database, tmp_path: Path) -> None:
    flow = load_flow(WATER)
    run = await run_flow(db, flow, "7,8,*", tmp_path)
    assert run.heard(flow) == ["welcome", "main_menu", "invalid_key", "main_menu", "invalid_key", "main_menu",
                               "invalid_key", "to_agent"]
    assert [(d["kind"], d["value"]) for d in run.data("ivr.input")] == [("invalid", "7"), ("invalid", "8"),
                                                                         ("invalid", "*")]
    assert run.result.queue is not None and run.result.queue.queue == "general"


@pytest.mark.parametrize("path", [GAS, WATER], ids=["gas", "water"])
async def test_zero_reaches_a_person_at_every_menu(db: Database, tmp_path: Path, path: Path) -> None:
    flow = load_flow(path)
    menus = [nid for nid, n in flow.nodes.items() if isinstance(n, MenuNode)]
    assert len(menus) >= 6
    for nid in menus:
        run = await run_flow(db, flow, "0", tmp_path / nid, start=nid)
        assert run.result.outcome is Outcome.QUEUE, nid
        assert run.result.queue is not None and run.result.queue.queue == "general", nid
        assert run.data("ivr.zero_out") == [{"node": nid, "to": "to_agent"}]


async def test_gas_billing_for_a_known_caller_verifies_then_reads_the_balance(db: Database, tmp_path: Path) -> None:
    flow = load_flow(GAS)
    customer = await add_customer(db, id_number="11010119800101123X",
                                  accounts=(("G2024000001", "gas", "123.45", "0"), ("W2024000001", "water", "9", "3")))
    run = await run_flow(db, flow, "4,1234,123*", tmp_path, caller=CALLER)
    heard = run.heard(flow)
    at = heard.index("balance_is")
    # 一百二十三元四角五分, then no arrears: the water account's arrears are not the gas hotline's business.
    assert heard[at:at + 12] == ["balance_is", "say/n1", "say/bai", "say/n2", "say/shi", "say/n3", "say/yuan",
                                 "say/n4", "say/jiao", "say/n5", "say/fen", "no_arrears"]
    assert heard.index("verify_id_tail") < at and heard.count("verify_id_tail") == 2  # one wrong try
    assert run.call.verified and run.call.customer_id == customer and run.call.account_id is not None
    verify_inputs = [d for d in run.data("ivr.input") if d.get("method") == "id_tail"]
    assert [d["value"] for d in verify_inputs] == ["****", "****"]  # never the digits themselves
    assert run.result.outcome is Outcome.CALLER_HANGUP  # the script ended at the billing menu
    assert run.data("ivr.hangup") == [{"node": "billing_menu"}]


async def test_gas_billing_for_an_unknown_caller_asks_and_confirms_the_account(db: Database, tmp_path: Path) -> None:
    flow = load_flow(GAS)
    await add_customer(db, phone="13700000000", id_number="110101198001014321",
                       accounts=(("G2024000001", "gas", "0", "35.20"),))
    # Keys 2024000001 (the G is implied), says "no, again" once, then confirms; then the ID tail.
    run = await run_flow(db, flow, "4,2024000001#,2,2024000001#,1,4321", tmp_path)
    path = list(run.result.path)
    assert path[path.index("billing_start"):path.index("balance") + 1] == [
        "billing_start", "ask_account", "find_account", "billing_verify", "balance"]
    heard = run.heard(flow)
    assert heard.count("enter_account") == 2 and heard.count("confirm_keys") == 2
    at = heard.index("balance_is")
    assert heard[at:at + 3] == ["balance_is", "say/n0", "say/yuan"]
    assert heard[at + 3:at + 11] == ["arrears_are", "say/n3", "say/shi", "say/n5", "say/yuan", "say/n2", "say/jiao",
                                     "billing_menu"]


async def test_gas_unknown_account_offers_another_try(db: Database, tmp_path: Path) -> None:
    flow = load_flow(GAS)
    run = await run_flow(db, flow, "4,99999999#,1,1", tmp_path)
    assert list(run.result.path)[-5:] == ["ask_account", "find_account", "account_not_found", "account_retry",
                                          "ask_account"]
    assert run.data("ivr.lookup")[-1]["found"] is False


async def test_gas_outages_in_the_callers_area_come_before_the_menu(db: Database, tmp_path: Path) -> None:
    flow = load_flow(GAS)
    now = at_local("2025-03-03 10:00")
    await add_customer(db, area="A01")
    mine = await add_outage(db, area="A01", starts=at_local("2025-03-03 09:00"), hours=8)
    await add_outage(db, area="A01", starts=at_local("2025-03-03 09:00"), cancelled=True)
    await add_outage(db, area="A02", starts=at_local("2025-03-03 09:00"))
    await add_outage(db, area="A01", utility="water", starts=at_local("2025-03-03 09:00"))
    await add_outage(db, area="A01", starts=at_local("2025-03-20 09:00"))  # too far ahead
    run = await run_flow(db, flow, "", tmp_path, caller=CALLER, clock=now)
    heard = run.heard(flow)
    # 3月3日9点 至 17点 (same day, so the end has no date), then the menu.
    assert heard[:12] == ["welcome", "outage_intro", "say/n3", "say/month", "say/n3", "say/day", "say/n9",
                          "say/hour", "say/to", "say/shi", "say/n7", "say/hour"]
    assert heard[12] == "main_menu"
    assert run.data("ivr.outage") == [{"node": "area_outages", "area": "A01", "outages": [mine]}]


async def test_outage_notice_text_is_rendered_once_and_played(db: Database, tmp_path: Path) -> None:
    flow = load_flow(GAS)
    now = at_local("2025-03-03 10:00")
    await add_customer(db, area="A01")
    notice = "城东片区因管网改造，今日停气至晚上八点。"
    await add_outage(db, area="A01", starts=at_local("2025-03-03 09:00"), notice=notice)
    sounds = tmp_path / "sounds"
    first = await run_flow(db, flow, "0", tmp_path / "a", caller=CALLER, clock=now, sounds_dir=sounds)
    dyn = [m for m in first.channel.played if "/dyn/" in m]
    assert len(dyn) == 1
    wav = sounds / (dyn[0].removeprefix("sound:") + ".wav")
    assert wav.is_file() and wav.stat().st_size > 8000
    stamp = wav.stat().st_mtime_ns
    second = await run_flow(db, flow, "0", tmp_path / "b", caller=CALLER, clock=now, sounds_dir=sounds)
    assert [m for m in second.channel.played if "/dyn/" in m] == dyn and wav.stat().st_mtime_ns == stamp
    assert second.result.queue is not None and "outage_in_area" in second.result.queue.flags


async def test_special_care_callers_get_priority_but_emergencies_still_come_first(db: Database,
                                                                                  tmp_path: Path) -> None:
    flow = load_flow(GAS)
    await add_customer(db, special_care=True)
    to_agent = await run_flow(db, flow, "0", tmp_path / "a", caller=CALLER)
    assert to_agent.result.queue is not None and to_agent.result.queue.priority == Priority.SPECIAL_CARE
    leak = await run_flow(db, flow, "1", tmp_path / "b", caller=CALLER)
    assert leak.result.queue is not None and leak.result.queue.priority == Priority.EMERGENCY
    assert {"special_care", "known_customer", "emergency"} <= leak.result.queue.flags


@pytest.mark.parametrize("when,expect", [("2025-03-03 10:00", "queue"), ("2025-03-03 22:30", "message")])
async def test_gas_service_applications_after_hours_leave_a_message_and_open_an_order(
        db: Database, tmp_path: Path, when: str, expect: str) -> None:
    flow = load_flow(GAS)
    # Service menu 3, safety inspection 2, mornings 1; after hours the caller then stays silent (-).
    run = await run_flow(db, flow, "3,2,1,-", tmp_path, clock=at_local(when))
    assert run.call.category == "service_application.safety_inspection"
    async with db.session() as s:
        orders = list((await s.execute(select(WorkOrder))).scalars())
    if expect == "queue":
        assert run.result.queue is not None and run.result.queue.queue == "service"
        assert "prefers_morning" in run.result.queue.flags and orders == []
        return
    assert run.result.outcome is Outcome.HANGUP
    assert list(run.result.path)[-2:] == ["after_hours", "goodbye"]
    assert len(orders) == 1
    order = orders[0]
    assert order.type is WorkOrderType.SERVICE_APPLICATION and order.callback_required
    assert order.call_id == run.call.id and order.contact_phone == "13900000001"
    message = run.data("ivr.message")[0]
    assert message["work_order"] == order.number and message["recording"] in order.description
    assert Path(message["recording"]).is_file()
    # The same shape as an order from any other path (one WorkOrderService): the GD numbering of the day,
    # the rules' deadlines for its type, and a history that says it came from the IVR with this recording.
    assert order.number.startswith(f"GD{order.created_at.astimezone(ZONE):%Y%m%d}")
    due = deadlines(order.type, order.created_at, ZONE)
    assert (order.dispatch_due_at, order.contact_due_at, order.finish_due_at, order.callback_due_at) == \
        (due.dispatch_due_at, due.contact_due_at, due.finish_due_at, due.callback_due_at)
    assert order.finish_due_at is not None and order.callback_due_at is not None
    assert order.history[0]["source"] == "ivr" and order.history[0]["recording"] == message["recording"]


async def test_suggestions_become_orders_that_need_no_callback(db: Database, tmp_path: Path) -> None:
    flow = load_flow(GAS)
    run = await run_flow(db, flow, "6,3,-", tmp_path)
    async with db.session() as s:
        order = (await s.execute(select(WorkOrder))).scalar_one()
    assert order.type is WorkOrderType.SUGGESTION and not order.callback_required
    assert run.result.outcome is Outcome.HANGUP and run.heard(flow)[-1] == "thanks_feedback"


@pytest.mark.parametrize("path", [GAS, WATER], ids=["gas", "water"])
async def test_survey_entry_stores_satisfaction(db: Database, tmp_path: Path, path: Path) -> None:
    flow = load_flow(path)
    run = await run_flow(db, flow, "9,4", tmp_path, start=flow.header.entries["survey"])
    assert run.call.satisfaction == 4
    assert run.heard(flow) == ["survey", "invalid_key", "survey", "survey_thanks", "goodbye"]
    assert run.result.outcome is Outcome.HANGUP
    skipped = await run_flow(db, flow, "-,-", tmp_path / "b", start=flow.header.entries["survey"])
    assert skipped.call.satisfaction is None and skipped.data("ivr.survey") == [{"node": "survey",
                                                                                 "satisfaction": None}]


async def test_water_no_water_in_an_outage_area_explains_before_repair(db: Database, tmp_path: Path) -> None:
    flow = load_flow(WATER)
    now = at_local("2025-03-03 10:00")
    await add_customer(db, accounts=(("W2024000001", "water", "10", "0"),))
    await add_outage(db, utility="water", starts=at_local("2025-03-03 08:00"))
    run = await run_flow(db, flow, "2,2,1", tmp_path, caller=CALLER, clock=now)
    assert list(run.result.path)[-6:] == ["repair_menu", "no_water_check", "outage_explains", "outage_followup",
                                          "repair_no_water", "repair_queue"]
    assert run.call.category == "repair.no_water"
    plain = await run_flow(db, flow, "2,2", tmp_path / "b", clock=now)  # unknown caller: no outage known
    assert list(plain.result.path)[-3:] == ["no_water_check", "repair_no_water", "repair_queue"]


@pytest.mark.parametrize("when,open_", [("2025-03-07 10:00", True),    # Friday
                                        ("2025-03-08 10:00", False),   # Saturday
                                        ("2025-03-07 18:00", False)])  # Friday evening
async def test_water_business_hours_are_weekdays(db: Database, tmp_path: Path, when: str, open_: bool) -> None:
    flow = load_flow(WATER)
    run = await run_flow(db, flow, "3,2,-", tmp_path, clock=at_local(when))
    assert (run.result.outcome is Outcome.QUEUE) == open_
    assert ("after_hours" in run.result.path) == (not open_)


async def test_water_arrears_reminder_after_the_balance(db: Database, tmp_path: Path) -> None:
    flow = load_flow(WATER)
    await add_customer(db, id_number="110101198001015678", accounts=(("W2024000009", "water", "0", "12.5"),))
    run = await run_flow(db, flow, "4,5678", tmp_path, caller=CALLER)
    heard = run.heard(flow)
    assert heard[heard.index("arrears_are") + 1:heard.index("arrears_notice")] == [
        "say/shi", "say/n2", "say/yuan", "say/n5", "say/jiao"]


async def test_caller_hanging_up_is_recorded_quietly(db: Database, tmp_path: Path) -> None:
    flow = load_flow(GAS)
    run = await run_flow(db, flow, "2,hangup", tmp_path)
    assert run.result.outcome is Outcome.CALLER_HANGUP
    assert run.result.path[-1] == "repair_menu"
    assert run.data("ivr.hangup") == [{"node": "repair_menu"}]
    assert run.kinds()[-1] == "ivr.hangup"


async def test_known_caller_flow_name_and_customer_on_the_call_row(db: Database, tmp_path: Path) -> None:
    flow = load_flow(WATER)
    cid = await add_customer(db, accounts=(("W1", "water", "1", "0"),))
    run = await run_flow(db, flow, "0", tmp_path, caller="+86 138-0013-8000")
    assert run.call.flow == "water" and run.call.customer_id == cid
    assert run.data("ivr.lookup")[0]["found"] is True
    assert run.kinds()[:3] == ["ivr.start", "ivr.node", "ivr.node"]
