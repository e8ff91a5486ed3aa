"""Every transition of the table from every state: the allowed ones persist who/when/why and move the state,
the refused ones are a typed error and change nothing. Then who may act, and bad input."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from ivr.db import Database
from ivr.db.models import Role, WorkOrderStatus as S, WorkOrderType as T
from ivr.errors import HotlineError
from ivr.workorders import Actor, WorkOrderService
from ivr.workorders.exceptions import (
    DeadlineInPast,
    DeadlineNotLater,
    ExtensionPending,
    ExtensionTooLate,
    InvalidTransition,
    NoExtensionRequested,
    NotYourUnit,
    OrderNotFound,
    ReasonRequired,
    ResultRequired,
    SameUnit,
    TextTooLong,
    TransitionNotAllowed,
    UnknownEvent,
    UnknownReturnReason,
    UnknownUnit,
)
from ivr.workorders.states import HUMAN_EVENTS, TRANSITIONS, Event, Party, events_for, transition
from tests.builders import ZONE
from tests.workorders.helpers import TUE_10, force_status, new_order, seed_units, snapshot

LATER = TUE_10 + dt.timedelta(minutes=3)
INPUTS: dict[Event, dict[str, Any]] = {
    Event.DISPATCH: {"unit": "qx"}, Event.REDISPATCH: {"unit": "gw"}, Event.REASSIGN: {"unit": "gw",
                                                                                        "reason": "属管网问题"},
    Event.WAIT_CALLER: {"reason": "客户不在家，约明天"}, Event.REPLY: {"result": "已更换减压阀，恢复供气"},
    Event.RETURN: {"reason": "地址不在本单位辖区", "return_reason": "wrong_unit"},
    Event.CLOSE: {"reason": "已当场答复"}, Event.REOPEN: {"reason": "回访客户不满意"},
    Event.REQUEST_EXTENSION: {"reason": "需更换管段", "until": TUE_10 + dt.timedelta(days=10)},
    Event.REFUSE_EXTENSION: {"reason": "请按期完成"}, Event.ANSWER_URGE: {"reason": "已安排人员"},
}


def actor_for(t_party: Party, actors: dict[str, Actor]) -> Actor:
    return {Party.UNIT: actors["qx"], Party.CENTRE: actors["agent"], Party.SUPERVISOR: actors["supervisor"]}[t_party]


async def prepared(db: Database, orders: WorkOrderService, status: S, event: Event) -> int:
    order = await new_order(orders)
    extra: dict[str, Any] = {}
    if event in (Event.GRANT_EXTENSION, Event.REFUSE_EXTENSION):
        extra = {"extension_state": "requested", "extension_until": TUE_10 + dt.timedelta(days=10)}
    if event is Event.ANSWER_URGE:
        extra = {"urged_at": LATER}
    if status is S.WAITING_CALLER:
        extra["paused_at"] = TUE_10 + dt.timedelta(minutes=1)
    await force_status(db, order.id, status, **extra)
    return order.id


async def test_every_event_from_every_state(db: Database) -> None:
    actors = await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    allowed = refused = 0
    for event in sorted(HUMAN_EVENTS):
        for status in S:
            order_id = await prepared(db, orders, status, event)
            before, n = await snapshot(db, order_id)
            rows = [t for t in TRANSITIONS if t.event is event and status in t.sources]
            party = rows[0].party if rows else next(t.party for t in TRANSITIONS if t.event is event)
            try:
                order = await orders.apply(order_id, event, actor_for(party, actors), at=LATER,
                                           **INPUTS.get(event, {}))
            except InvalidTransition as exc:
                assert not rows, f"{event} from {status} was refused: {exc}"
                assert exc.error_id == "workorders.invalid_transition"
                assert exc.details["event"] == event.value and exc.details["status"] == status.value
                assert await snapshot(db, order_id) == (before, n), f"{event} from {status} changed something"
                refused += 1
                continue
            assert rows, f"{event} from {status} should have been refused"
            assert order.status is rows[0].to(status)
            log = await orders.transitions(order_id)
            assert len(log) == n + 1
            last = log[-1]
            assert (last.event, last.from_status, last.to_status) == (event.value, status.value, order.status.value)
            assert last.at == LATER and last.actor_pk == actor_for(party, actors).agent_pk and last.actor
            assert last.reason == INPUTS.get(event, {}).get("reason", "")
            allowed += 1
    assert allowed == sum(len(t.sources) for t in TRANSITIONS if t.event in HUMAN_EVENTS)
    assert allowed + refused == len(HUMAN_EVENTS) * len(S)


async def test_a_repair_through_its_whole_life(db: Database) -> None:
    actors = await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    o = await new_order(orders, unit="qx")
    assert (o.status, o.clock_stage, o.clock_state) == (S.NEW, "dispatch", "ok")
    steps: list[tuple[Event, Actor, dict[str, Any]]] = [
        (Event.DISPATCH, actors["agent"], {}), (Event.ACCEPT, actors["qx"], {}),
        (Event.START, actors["qx"], {}), (Event.WAIT_CALLER, actors["qx"], {"reason": "客户不在家"}),
        (Event.RESUME, actors["qx"], {}), (Event.REPLY, actors["qx"], {"result": "已修复"}),
        (Event.START_CALLBACK, actors["agent"], {}), (Event.REOPEN, actors["agent"], {"reason": "客户称未修好"}),
        (Event.ACCEPT, actors["qx"], {}), (Event.REPLY, actors["qx"], {"result": "更换灶具阀门"}),
        (Event.CLOSE, actors["agent"], {})]
    now = TUE_10
    for event, actor, kw in steps:
        now += dt.timedelta(minutes=2)
        o = await orders.apply(o.id, event, actor, at=now, **kw)
    assert o.status is S.CLOSED and o.clock_state == "done" and o.result == "更换灶具阀门"
    assert o.dispatched_at == TUE_10 + dt.timedelta(minutes=2)  # the first dispatch, for the on-time rate
    assert o.finish_paused_seconds == pytest.approx(120)
    log = await orders.transitions(o.id)
    assert [t.event for t in log] == ["create"] + [e.value for e, _, _ in steps]
    assert log[8].data["previous_result"] == "已修复"


async def test_a_returned_order_is_redispatched_or_closed(db: Database) -> None:
    actors = await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    o = await new_order(orders, unit="qx")
    o = await orders.apply(o.id, Event.DISPATCH, actors["agent"], at=LATER)
    o = await orders.apply(o.id, Event.RETURN, actors["qx"], at=LATER, reason="不属本单位",
                           return_reason="wrong_unit")
    assert (o.status, o.returns, o.clock_stage) == (S.RETURNED, 1, "dispatch")
    o = await orders.apply(o.id, Event.REDISPATCH, actors["agent"], at=LATER, unit="gw")
    assert (o.status, o.unit_code) == (S.DISPATCHED, "gw")
    with pytest.raises(NotYourUnit):  # the old unit's staff no longer act on it
        await orders.apply(o.id, Event.ACCEPT, actors["qx"], at=LATER)
    await orders.apply(o.id, Event.ACCEPT, actors["gw"], at=LATER)


async def test_extensions_granted_refused_and_their_rules(db: Database) -> None:
    actors = await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    o = await new_order(orders, unit="qx")
    for e in (Event.DISPATCH, Event.ACCEPT):
        o = await orders.apply(o.id, e, actors["agent" if e is Event.DISPATCH else "qx"], at=LATER)
    assert o.finish_due_at is not None
    due = o.finish_due_at
    until = due + dt.timedelta(days=2)
    bad: list[tuple[dict[str, Any], type[HotlineError]]] = [
        ({"reason": "x", "until": LATER - dt.timedelta(minutes=1)}, DeadlineInPast),
        ({"reason": "x", "until": due - dt.timedelta(hours=1)}, DeadlineNotLater),
        ({"until": until}, ReasonRequired)]
    for kw, error in bad:
        before = await snapshot(db, o.id)
        with pytest.raises(error):
            await orders.apply(o.id, Event.REQUEST_EXTENSION, actors["qx"], at=LATER, **kw)
        assert await snapshot(db, o.id) == before
    with pytest.raises(NoExtensionRequested):
        await orders.apply(o.id, Event.GRANT_EXTENSION, actors["supervisor"], at=LATER)
    o = await orders.apply(o.id, Event.REQUEST_EXTENSION, actors["qx"], at=LATER, reason="需停气施工", until=until)
    with pytest.raises(ExtensionPending):
        await orders.apply(o.id, Event.REQUEST_EXTENSION, actors["qx"], at=LATER, reason="再延", until=until)
    with pytest.raises(TransitionNotAllowed):  # a unit does not grant its own extension
        await orders.apply(o.id, Event.GRANT_EXTENSION, actors["qx"], at=LATER)
    o = await orders.apply(o.id, Event.GRANT_EXTENSION, actors["supervisor"], at=LATER)
    assert (o.finish_due_at, o.extensions, o.extension_state) == (until, 1, "granted")
    granted = (await orders.transitions(o.id))[-1]
    assert granted.data["tell_caller"] == "13800138000" and granted.data["until"] == until.isoformat()
    o = await orders.apply(o.id, Event.REQUEST_EXTENSION, actors["qx"], at=LATER, reason="again",
                           until=until + dt.timedelta(days=1))
    o = await orders.apply(o.id, Event.REFUSE_EXTENSION, actors["supervisor"], at=LATER, reason="按期完成")
    assert (o.finish_due_at, o.extension_state) == (until, "refused")
    # after the deadline: too late to ask
    before = await snapshot(db, o.id)
    with pytest.raises(ExtensionTooLate) as late:
        await orders.apply(o.id, Event.REQUEST_EXTENSION, actors["qx"], at=until + dt.timedelta(minutes=1),
                           reason="晚了", until=until + dt.timedelta(days=3))
    assert late.value.error_id == "workorders.extension_after_deadline"
    assert await snapshot(db, o.id) == before


async def test_who_may_act_and_bad_input_change_nothing(db: Database) -> None:
    actors = await seed_units(db)
    orders = WorkOrderService(db, ZONE)
    o = await new_order(orders, unit="qx")
    first: list[tuple[Event | str, Actor, dict[str, Any], type[HotlineError]]] = [
        (Event.ACCEPT, actors["qx"], {}, InvalidTransition),  # new orders are not at a unit yet
        (Event.DISPATCH, actors["qx"], {}, TransitionNotAllowed),
        (Event.DISPATCH, actors["agent"], {"unit": "nowhere"}, UnknownUnit),
        (Event.CLOSE, actors["agent"], {}, ReasonRequired),
        (Event.CLOSE, actors["agent"], {"reason": "长" * 501}, TextTooLong),
        ("explode", actors["agent"], {}, UnknownEvent),
        (Event.RAISE_LEVEL, actors["supervisor"], {"reason": "x"}, UnknownEvent),  # the service's own
    ]
    then: list[tuple[Event | str, Actor, dict[str, Any], type[HotlineError]]] = [
        (Event.ACCEPT, actors["gw"], {}, NotYourUnit),
        (Event.ACCEPT, Actor(actors["qx"].agent_pk, Role.QA, None, "qa"), {}, TransitionNotAllowed),
        (Event.REASSIGN, actors["supervisor"], {"unit": "qx", "reason": "x"}, SameUnit),
        (Event.REASSIGN, actors["agent"], {"unit": "gw", "reason": "x"}, TransitionNotAllowed),
        (Event.RETURN, actors["qx"], {}, ReasonRequired),
        (Event.RETURN, actors["qx"], {"reason": "x", "return_reason": "bored"}, UnknownReturnReason),
    ]
    for batch in (first, then):
        for event, actor, kw, error in batch:
            before = await snapshot(db, o.id)
            with pytest.raises(error) as caught:
                await orders.apply(o.id, event, actor, at=LATER, **kw)
            assert caught.value.error_id.startswith("workorders."), caught.value
            assert await snapshot(db, o.id) == before, f"{event} by {actor.label} changed the order"
        if batch is first:
            await orders.apply(o.id, Event.DISPATCH, actors["agent"], at=LATER)
    o = await orders.apply(o.id, Event.ACCEPT, actors["qx"], at=LATER)
    before = await snapshot(db, o.id)
    with pytest.raises(ResultRequired):  # a reply says what was done
        await orders.apply(o.id, Event.REPLY, actors["qx"], at=LATER, result="   ")
    assert await snapshot(db, o.id) == before
    with pytest.raises(OrderNotFound):
        await orders.apply(99999, Event.ACCEPT, actors["qx"], at=LATER)
    # an admin may act for any unit
    await orders.apply(o.id, Event.START, actors["admin"], at=LATER)


def test_the_table_answers_what_each_role_may_do() -> None:
    assert events_for(S.DISPATCHED, Role.UNIT) == [Event.ACCEPT, Event.RETURN, Event.ANSWER_URGE]
    assert Event.GRANT_EXTENSION in events_for(S.IN_PROGRESS, Role.SUPERVISOR)
    assert Event.GRANT_EXTENSION not in events_for(S.IN_PROGRESS, Role.AGENT)
    assert events_for(S.CLOSED, Role.ADMIN) == []
    with pytest.raises(InvalidTransition) as bad:
        transition(Event.REPLY, S.NEW)
    assert bad.value.details["allowed"] == "close, dispatch"
    assert T.REPAIR  # the table is the same for every type
