"""app_queue queues from our database queues: pure (agent phones + queues in, queues.conf sections out).

Each database queue (ivr.db.models.Queue) becomes one app_queue queue whose static members are the agent
phones with the queue's skill, exactly the agents the ACD would offer its calls to (`not skill or skill in
skills`, ivr/acd/model.py). `hotline-fallback` keeps every phone. The dialplan joins the queue the AGI or the
lookup named (HOTLINE_QUEUE) when it exists and otherwise hotline-fallback (docs/dialplan.md).

app_queue cannot load every name: `[general]` of queues.conf holds its settings (so a database queue named
`general` becomes `hotline-q-general`, which the dialplan tries second), `hotline-*` is ours, queue names are
case-insensitive in app_queue, and a name must be dialplan-safe (it ends up inside Queue(...)). A queue no
phone has the skill for is left out too (app_queue would turn its callers away at once; without it they wait
in hotline-fallback). Queues left out are listed as skipped, never silently lost.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Protocol, Sequence

from ivr.settings import Settings

FALLBACK_QUEUE = "hotline-fallback"
ALIAS_PREFIX = "hotline-q-"  # the dialplan tries ${HOTLINE_QUEUE}, then hotline-q-${HOTLINE_QUEUE}
# As ivr/agi/queue.py QUEUE_NAME: the names the AGI side will put into HOTLINE_QUEUE.
QUEUE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
RESERVED = frozenset({"general"})  # app_queue reads [general] as its own settings, never as a queue
_PRINTABLE = re.compile(r"[^\w.-]")


class PhoneLike(Protocol):
    @property
    def endpoint(self) -> str: ...

    @property
    def skills(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class QueueSpec:
    """A database queue as the config generator needs it (ivr.db.models.Queue)."""

    name: str
    skill: str = ""
    weight: int = 0  # app_queue's weight: a member in several queues is offered the heavier queue's calls first
    max_wait_seconds: int = 300  # not a queues.conf setting: the AGI passes it to Queue() as HOTLINE_QUEUE_WAIT


@dataclass(frozen=True)
class AppQueue:
    """One app_queue queue to write: its name in queues.conf, the database queue and its member endpoints."""

    name: str
    spec: QueueSpec
    members: tuple[str, ...]


@dataclass(frozen=True)
class QueuePlan:
    queues: tuple[AppQueue, ...]
    skipped: tuple[tuple[str, str], ...]  # (database name, why)


def ring_limit_seconds(settings: Settings) -> int:
    return max(1, math.ceil(settings.ring.limit_seconds))


def app_queue_name(name: str) -> str:
    """The app_queue name of database queue `name` (assumed dialplan-safe)."""
    return ALIAS_PREFIX + name if name.lower() in RESERVED else name


def printable(name: str) -> str:
    """`name` safe inside a config comment (no ';', brackets or line breaks)."""
    return _PRINTABLE.sub("?", name)[:64]


def pick_queue_steps() -> list[str]:
    """Dialplan steps: HOTLINE_APP_QUEUE = the app_queue queue for ${HOTLINE_QUEUE} (set, not empty), else the
    fallback. The queue of that name, else its alias (a database queue app_queue cannot take by name)."""
    alias = f"{ALIAS_PREFIX}${{HOTLINE_QUEUE}}"
    return [f"Set(HOTLINE_APP_QUEUE={FALLBACK_QUEUE})",
            f"ExecIf(${{QUEUE_EXISTS({alias})}}?Set(HOTLINE_APP_QUEUE={alias}))",
            "ExecIf(${QUEUE_EXISTS(${HOTLINE_QUEUE})}?Set(HOTLINE_APP_QUEUE=${HOTLINE_QUEUE}))"]


def plan_queues(queues: Sequence[QueueSpec], phones: Sequence[PhoneLike]) -> QueuePlan:
    planned: list[AppQueue] = []
    skipped: list[tuple[str, str]] = []
    taken: set[str] = {FALLBACK_QUEUE}
    for q in sorted(queues, key=lambda q: q.name):
        if not QUEUE_NAME.fullmatch(q.name):
            skipped.append((q.name, "not a dialplan-safe name (letters, digits, '.', '_', '-'; at most 64)"))
            continue
        if q.name.lower().startswith("hotline-"):
            skipped.append((q.name, "'hotline-' names are reserved for the generated queues"))
            continue
        name = app_queue_name(q.name)
        if name.lower() in taken:
            skipped.append((q.name, f"app_queue names are case-insensitive: {name!r} is already a queue"))
            continue
        members = tuple(p.endpoint for p in phones if not q.skill or q.skill in p.skills)
        if not members:
            # app_queue would turn every caller away (JOINEMPTY) to the message: without the queue they wait
            # in hotline-fallback for whoever is there.
            skipped.append((q.name, f"no agent phone has skill {printable(q.skill)!r}: its callers wait in "
                                    f"{FALLBACK_QUEUE}"))
            continue
        taken.add(name.lower())
        planned.append(AppQueue(name, q, members))
    return QueuePlan(tuple(planned), tuple(skipped))


def _common(settings: Settings) -> list[tuple[str, object]]:
    return [
        ("timeout", ring_limit_seconds(settings)), ("retry", 2), ("wrapuptime", 0),
        ("timeoutpriority", "app"), ("ringinuse", "no"), ("musicclass", "default"),
        ("announce-frequency", 0), ("announce-holdtime", "no"), ("announce-position", "no"),
        # Nobody able to answer: leave at once for the message, do not hold the caller in an empty queue.
        ("joinempty", "unavailable,invalid"), ("leavewhenempty", "unavailable,invalid"),
        ("autofill", "yes"), ("setinterfacevar", "yes"), ("setqueueentryvar", "yes"),
    ]


def _member(endpoint: str) -> tuple[str, object]:
    return ("member", f"PJSIP/{endpoint},0,{endpoint}")


def queue_sections(settings: Settings, phones: Sequence[PhoneLike],
                   plan: QueuePlan) -> list[tuple[str, Sequence[tuple[str, object]]]]:
    """[general], hotline-fallback (every phone, rung at once), then one queue per planned database queue."""
    sections: list[tuple[str, Sequence[tuple[str, object]]]] = [
        # shared_lastcall: an agent's last call counts in every queue, so leastrecent picks whoever has been
        # idle longest across the hotline, as the ACD does, not per queue.
        ("general", [("persistentmembers", "no"), ("shared_lastcall", "yes")]),
        (FALLBACK_QUEUE, [("strategy", "ringall"), *_common(settings), *(_member(p.endpoint) for p in phones)]),
    ]
    for q in plan.queues:
        sections.append((q.name, [("strategy", "leastrecent"), ("weight", max(0, int(q.spec.weight))),
                                  *_common(settings), *(_member(ep) for ep in q.members)]))
    return sections


def describe(plan: QueuePlan) -> list[str]:
    """Comment lines for queues.conf: where each queue came from and what was skipped (names made printable)."""
    lines = []
    for q in plan.queues:
        skill = printable(q.spec.skill) or "(any)"
        lines.append(f"{q.name}: database queue {printable(q.spec.name)}, skill {skill}, {len(q.members)} "
                     f"member(s); max wait {int(q.spec.max_wait_seconds)} s comes with the call from the AGI")
    lines += [f"SKIPPED database queue {printable(name)}: {why}" for name, why in plan.skipped]
    return lines
