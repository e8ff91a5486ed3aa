"""Pure distribution rules: line order, agent choice, ring arithmetic, the apology."""

from __future__ import annotations

import datetime as dt

import pytest

from ivr.acd.model import (AgentSlot, QueueConfig, Waiting, WaitList, choose_agent, match, needs_apology, ring_number,
                           service_level_met)
from ivr.callers import Priority, effective_priority
from ivr.db.models import AgentState
from ivr.settings import RingSettings

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.timezone.utc)
GENERAL = QueueConfig(name="general", skill="general")
EMERGENCY = QueueConfig(name="emergency", skill="emergency", weight=100)


def waiting(call_id: int, at: float, priority: int = 0, queue: QueueConfig = GENERAL) -> Waiting:
    return Waiting(call_id=call_id, queue=queue, skill=queue.skill, priority=priority, queued_at=at)


def agent(pk: int, idle_minutes_ago: float | None, skills: tuple[str, ...] = ("general",),
          state: AgentState = AgentState.READY, endpoint: str | None = "ep") -> AgentSlot:
    idle = None if idle_minutes_ago is None else T0 - dt.timedelta(minutes=idle_minutes_ago)
    return AgentSlot(pk=pk, agent_id=str(1000 + pk), name=f"a{pk}", endpoint=endpoint and f"{endpoint}{pk}",
                     skills=frozenset(skills), state=state, idle_since=idle)


def test_line_order_is_priority_then_weight_then_time() -> None:
    line = WaitList()
    normal_early = waiting(1, at=0.0)
    normal_late = waiting(2, at=5.0)
    special = waiting(3, at=9.0, priority=effective_priority(0, special_care=True))
    emergency = waiting(4, at=10.0, priority=Priority.EMERGENCY, queue=EMERGENCY)
    for w in (normal_late, special, normal_early, emergency):
        line.add(w)
    assert [w.call_id for w in line] == [4, 3, 1, 2]
    assert line.ahead_of(normal_late) == 2  # the special-care and the earlier normal call share its skill
    assert line.ahead_of(emergency) == 0


def test_equal_times_keep_arrival_order_and_a_call_cannot_wait_twice() -> None:
    line = WaitList()
    a, b = waiting(1, at=3.0), waiting(2, at=3.0)
    line.add(a)
    line.add(b)
    assert [w.call_id for w in line] == [1, 2]
    with pytest.raises(ValueError, match="already waiting"):
        line.add(a)
    assert line.remove(a) and not line.remove(a)
    with pytest.raises(ValueError, match="not waiting"):
        line.ahead_of(a)


def test_queue_weight_breaks_ties_between_equal_priorities() -> None:
    line = WaitList()
    heavy = QueueConfig(name="repair", skill="general", weight=20)
    line.add(waiting(1, at=0.0))
    line.add(waiting(2, at=50.0, queue=heavy))
    assert [w.call_id for w in line] == [2, 1]


def test_special_care_never_lowers_a_higher_priority() -> None:
    assert effective_priority(0, special_care=True) == Priority.SPECIAL_CARE
    assert effective_priority(Priority.EMERGENCY, special_care=True) == Priority.EMERGENCY
    assert effective_priority(3, special_care=False) == 3


def test_longest_idle_ready_agent_with_the_skill_wins() -> None:
    agents = [agent(1, 5), agent(2, 30), agent(3, 60, skills=("billing",)),
              agent(4, 90, state=AgentState.NOT_READY), agent(5, 120, endpoint=None)]
    assert choose_agent(agents, "general").pk == 2
    assert choose_agent(agents, "billing").pk == 3
    assert choose_agent(agents, "general", exclude=frozenset({2})).pk == 1
    assert choose_agent(agents, "emergency") is None
    # An empty skill means any ready agent with a phone.
    assert choose_agent(agents, "").pk == 3


def test_match_gives_each_agent_one_call_in_line_order() -> None:
    line = WaitList()
    for w in (waiting(1, 0.0), waiting(2, 1.0), waiting(3, 2.0, queue=EMERGENCY, priority=Priority.EMERGENCY)):
        line.add(w)
    agents = [agent(1, 10), agent(2, 20, skills=("general", "emergency"))]
    pairs = [(w.call_id, a.pk) for w, a in match(line, agents)]
    # The emergency call is first in line and only agent 2 can take it; call 1 gets agent 1; call 2 waits.
    assert pairs == [(3, 2), (1, 1)]


def test_ring_limit_and_ring_numbers_follow_the_cadence() -> None:
    ring = RingSettings()  # 1 s on, 4 s off, 3 rings
    assert ring.limit_seconds == 15.0
    assert [ring_number(t, ring.on_seconds, ring.off_seconds) for t in (0, 4.9, 5.0, 10.2, 14.99)] == [1, 1, 2, 3, 3]
    short = RingSettings(on_seconds=0.5, off_seconds=0.5, count=2)
    assert short.limit_seconds == 2.0


def test_apology_only_after_more_than_the_limit() -> None:
    assert not needs_apology(14.9, 15.0)
    assert not needs_apology(15.0, 15.0)
    assert needs_apology(15.01, 15.0)
    assert service_level_met(15.0, 15.0) and not service_level_met(15.5, 15.0)
    assert not service_level_met(None, 15.0)
