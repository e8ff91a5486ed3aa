"""Pure distribution logic: who waits in which order, which agent gets the next call, ring arithmetic.

No I/O here, so every rule (emergency first, special-care callers next, longest-idle ready agent first, the
3-ring deadline and the apology) is tested directly and the async service only moves data around it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from ivr.db.models import AgentState

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class QueueConfig:
    name: str
    skill: str
    display_name: str = ""
    weight: int = 0  # higher-weight queues are served first at equal priority
    max_wait_seconds: float = 300.0  # after this a callback is offered
    announce_every_seconds: float = 30.0

    @property
    def label(self) -> str:
        return self.display_name or self.name


@dataclass(eq=False)
class Waiting:
    """One call's place in line. queued_at is monotonic seconds; it survives a no-answer so the call keeps
    its place at the head of the line."""

    call_id: int
    queue: QueueConfig
    skill: str
    priority: int
    queued_at: float
    seq: int = 0

    def sort_key(self) -> tuple[int, int, float, int]:
        return (-self.priority, -self.queue.weight, self.queued_at, self.seq)


class WaitList:
    """Calls waiting for an agent, kept sorted: priority desc, queue weight desc, time in line, arrival."""

    def __init__(self) -> None:
        self._items: list[Waiting] = []
        self._counter = itertools.count(1)  # arrival order breaks exact-time ties

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Waiting]:
        return iter(list(self._items))

    def __contains__(self, item: object) -> bool:
        return any(w is item for w in self._items)

    def add(self, item: Waiting) -> None:
        if item in self:
            raise ValueError(f"call {item.call_id} is already waiting")
        if item.seq == 0:
            item.seq = next(self._counter)
        bisect.insort(self._items, item, key=Waiting.sort_key)

    def remove(self, item: Waiting) -> bool:
        for i, w in enumerate(self._items):
            if w is item:
                del self._items[i]
                return True
        return False

    def ahead_of(self, item: Waiting) -> int:
        """Callers in front of this one who compete for the same agents (same skill)."""
        n = 0
        for w in self._items:
            if w is item:
                return n
            if w.skill == item.skill:
                n += 1
        raise ValueError(f"call {item.call_id} is not waiting")

    def by_queue(self) -> dict[str, list[Waiting]]:
        out: dict[str, list[Waiting]] = {}
        for w in self._items:
            out.setdefault(w.queue.name, []).append(w)
        return out


@dataclass
class AgentSlot:
    """The ACD's live view of one agent; the database row is written after every change."""

    pk: int
    agent_id: str
    name: str
    endpoint: str | None
    skills: frozenset[str] = field(default_factory=frozenset)
    state: AgentState = AgentState.OFFLINE
    reason: str = ""
    state_since: dt.datetime = EPOCH
    idle_since: dt.datetime | None = None
    wrap_up_seconds: float = 15.0
    call_id: int | None = None  # the call ringing or talking on this agent

    def has_skill(self, skill: str) -> bool:
        return not skill or skill in self.skills

    def can_take(self, skill: str) -> bool:
        return self.state is AgentState.READY and bool(self.endpoint) and self.has_skill(skill)

    @property
    def logged_in(self) -> bool:
        return self.state is not AgentState.OFFLINE


def choose_agent(agents: Iterable[AgentSlot], skill: str, exclude: frozenset[int] = frozenset()
                 ) -> AgentSlot | None:
    """The ready agent with the skill who has been idle longest (ties: lowest pk, for determinism)."""
    best: AgentSlot | None = None
    best_key: tuple[dt.datetime, int] | None = None
    for a in agents:
        if a.pk in exclude or not a.can_take(skill):
            continue
        key = (a.idle_since or EPOCH, a.pk)
        if best_key is None or key < best_key:
            best, best_key = a, key
    return best


def match(waiting: Iterable[Waiting], agents: Iterable[AgentSlot]) -> list[tuple[Waiting, AgentSlot]]:
    """Pair calls (in line order) with agents; each agent gets at most one call per round."""
    free = [a for a in agents if a.state is AgentState.READY and a.endpoint]
    taken: set[int] = set()
    pairs: list[tuple[Waiting, AgentSlot]] = []
    for w in waiting:
        if len(taken) == len(free):
            break
        agent = choose_agent(free, w.skill, frozenset(taken))
        if agent is not None:
            taken.add(agent.pk)
            pairs.append((w, agent))
    return pairs


def ring_number(elapsed: float, on_seconds: float, off_seconds: float) -> int:
    """Which ring (1-based) the agent's phone is on after `elapsed` seconds of ringing."""
    cadence = on_seconds + off_seconds
    return int(max(0.0, elapsed) // cadence) + 1


def needs_apology(waited_seconds: float, limit_seconds: float) -> bool:
    """The caller waited longer than the 3-ring limit in total (all queueing and ringing together)."""
    return waited_seconds > limit_seconds


def service_level_met(waited_seconds: float | None, limit_seconds: float) -> bool:
    return waited_seconds is not None and waited_seconds <= limit_seconds
