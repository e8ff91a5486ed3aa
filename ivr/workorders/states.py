"""What may follow what in an order's life: one declarative table (pure).

    受理 new ─dispatch─> 派单 dispatched ─accept─> 签收 accepted ─start─> 处理中 in_progress ─reply─> 办结 replied
      ─start_callback─> 回访 callback ─close─> 归档 closed
    in_progress ─wait_caller─> waiting_caller (the completion clock pauses) ─resume─> in_progress
    dispatched | accepted ─return─> 退单 returned ─redispatch (改派)─> dispatched, or ─close─> closed
    callback ─reopen (重办: the reply was untrue, the caller unsatisfied)─> dispatched (the same unit)
    a supervisor may reassign an order at a unit to another unit (─reassign─> dispatched)

Requests that change no state (the target is the source): a unit's extension request (延期) before the
deadline, the supervisor's grant (a new deadline, the caller is told) or refusal, the unit's answer to a 催办.
The system's own steps (creation, a complaint level raised, an outage call attached) are recorded the same way.

Who: `Party.UNIT` events are for the order's unit (role unit with that unit, or an admin), `Party.CENTRE`
for the hotline's agents, supervisors and admins, `Party.SUPERVISOR` for supervisors and admins,
`Party.SYSTEM` for the service itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ivr.db.models import Role, WorkOrderStatus as S
from ivr.workorders.exceptions import InvalidTransition, TransitionNotAllowed


class Event(enum.StrEnum):
    CREATE = "create"
    DISPATCH = "dispatch"
    ACCEPT = "accept"
    START = "start"
    WAIT_CALLER = "wait_caller"
    RESUME = "resume"
    REPLY = "reply"
    RETURN = "return"
    REDISPATCH = "redispatch"
    REASSIGN = "reassign"
    START_CALLBACK = "start_callback"
    CLOSE = "close"
    REOPEN = "reopen"
    REQUEST_EXTENSION = "request_extension"
    GRANT_EXTENSION = "grant_extension"
    REFUSE_EXTENSION = "refuse_extension"
    ANSWER_URGE = "answer_urge"
    RAISE_LEVEL = "raise_level"
    ATTACH = "attach"
    URGE = "urge"  # the sweep's 催办
    ESCALATE = "escalate"  # the sweep's escalation
    RECOMPUTE = "recompute"  # deadlines counted again: a year's holiday file arrived


class Party(enum.StrEnum):
    CENTRE = "centre"
    UNIT = "unit"
    SUPERVISOR = "supervisor"
    SYSTEM = "system"


class Needs(enum.StrEnum):
    UNIT = "unit"  # a responsible unit to send it to
    REASON = "reason"
    RESULT = "result"  # the unit's result text
    UNTIL = "until"  # a new deadline


@dataclass(frozen=True)
class Transition:
    event: Event
    sources: frozenset[S]
    target: S | None  # None: the state stays
    party: Party
    needs: frozenset[Needs] = frozenset()

    def to(self, source: S) -> S:
        return self.target if self.target is not None else source


def _t(event: Event, sources: tuple[S, ...], target: S | None, party: Party, *needs: Needs) -> Transition:
    return Transition(event, frozenset(sources), target, party, frozenset(needs))


AT_UNIT = (S.DISPATCHED, S.ACCEPTED, S.IN_PROGRESS, S.WAITING_CALLER)
WORKING = (S.ACCEPTED, S.IN_PROGRESS, S.WAITING_CALLER)
OPEN = tuple(s for s in S if s is not S.CLOSED)

TRANSITIONS: tuple[Transition, ...] = (
    _t(Event.DISPATCH, (S.NEW,), S.DISPATCHED, Party.CENTRE, Needs.UNIT),
    _t(Event.ACCEPT, (S.DISPATCHED,), S.ACCEPTED, Party.UNIT),
    _t(Event.START, (S.ACCEPTED,), S.IN_PROGRESS, Party.UNIT),
    _t(Event.WAIT_CALLER, (S.IN_PROGRESS,), S.WAITING_CALLER, Party.UNIT, Needs.REASON),
    _t(Event.RESUME, (S.WAITING_CALLER,), S.IN_PROGRESS, Party.UNIT),
    _t(Event.REPLY, (S.ACCEPTED, S.IN_PROGRESS), S.REPLIED, Party.UNIT, Needs.RESULT),
    _t(Event.RETURN, (S.DISPATCHED, S.ACCEPTED), S.RETURNED, Party.UNIT, Needs.REASON),
    _t(Event.REDISPATCH, (S.RETURNED,), S.DISPATCHED, Party.CENTRE, Needs.UNIT),
    _t(Event.REASSIGN, AT_UNIT, S.DISPATCHED, Party.SUPERVISOR, Needs.UNIT, Needs.REASON),
    _t(Event.START_CALLBACK, (S.REPLIED,), S.CALLBACK, Party.CENTRE),
    _t(Event.CLOSE, (S.REPLIED, S.CALLBACK), S.CLOSED, Party.CENTRE),
    _t(Event.CLOSE, (S.NEW, S.RETURNED), S.CLOSED, Party.CENTRE, Needs.REASON),  # answered, or not ours
    _t(Event.REOPEN, (S.CALLBACK,), S.DISPATCHED, Party.CENTRE, Needs.REASON),
    _t(Event.REQUEST_EXTENSION, WORKING, None, Party.UNIT, Needs.REASON, Needs.UNTIL),
    _t(Event.GRANT_EXTENSION, WORKING, None, Party.SUPERVISOR),
    _t(Event.REFUSE_EXTENSION, WORKING, None, Party.SUPERVISOR, Needs.REASON),
    _t(Event.ANSWER_URGE, AT_UNIT, None, Party.UNIT, Needs.REASON),
    _t(Event.RAISE_LEVEL, OPEN, None, Party.SYSTEM, Needs.REASON),
    _t(Event.ATTACH, OPEN, None, Party.SYSTEM),
    _t(Event.URGE, AT_UNIT, None, Party.SYSTEM),
    _t(Event.ESCALATE, OPEN, None, Party.SYSTEM),
    _t(Event.RECOMPUTE, OPEN, None, Party.SYSTEM),
)

# Events people start (the pages' buttons and the API); the rest are the service's own.
HUMAN_EVENTS = frozenset(t.event for t in TRANSITIONS if t.party is not Party.SYSTEM)
PARTY_ROLES: dict[Party, frozenset[Role]] = {
    Party.CENTRE: frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN}),
    Party.UNIT: frozenset({Role.UNIT, Role.ADMIN}),
    Party.SUPERVISOR: frozenset({Role.SUPERVISOR, Role.ADMIN}),
    Party.SYSTEM: frozenset(),
}


def transition(event: Event, status: S) -> Transition:
    """The row that allows `event` from `status`, or InvalidTransition (nothing is changed)."""
    for t in TRANSITIONS:
        if t.event is event and status in t.sources:
            return t
    allowed = sorted(t.event.value for t in TRANSITIONS if status in t.sources and t.party is not Party.SYSTEM)
    raise InvalidTransition(f"{event.value} is not possible for an order that is {status.value}",
                            event=event.value, status=status.value, allowed=", ".join(allowed))


def may(t: Transition, role: Role | None) -> bool:
    if t.party is Party.SYSTEM:
        return role is None
    return role in PARTY_ROLES[t.party]


def check_party(t: Transition, role: Role | None) -> None:
    if not may(t, role):
        raise TransitionNotAllowed(f"{role.value if role else 'the system'} may not {t.event.value} an order",
                                   event=t.event.value, role=role.value if role else "system")


def events_for(status: S, role: Role) -> list[Event]:
    """What this role may do to an order in this state (buttons), in the table's order."""
    seen: list[Event] = []
    for t in TRANSITIONS:
        if status in t.sources and may(t, role) and t.event not in seen:
            seen.append(t.event)
    return seen
