"""WorkOrderService: the one place that creates and changes work-order rows (the IVR, the queue's callback
offer, the fallback intake, the console, the 12345 API and the CLI all come here), so the same request always
gets the same shape of order: one numbering, the regulation deadlines, every step on record.

- `create` / `create_for_call`: a new order (one per responsible unit when a call has several demands),
  numbered per local day, with its deadlines and clock; a gas alarm is dispatched at once and back-filled; a
  call about an active outage attaches to the outage's parent order; complaint levels are raised by the
  rules of "the same matter" (matters.py).
- `apply`: one transition of the table in states.py, checked (state, party, unit, inputs) before anything
  is written; each is a work_order_transitions row with who, when and why, in the order's transaction.
- After each commit the service tells its subscribers (the console) what changed.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import replace
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from ivr.db import Database
from ivr.db.models import Role, Unit, Utility, WorkOrder, WorkOrderTransition, WorkOrderType, utcnow
from ivr.workorders.calendar import WorkingCalendar
from ivr.workorders.clocks import OrderFacts, Policy, current, finish_kind, resume_finish
from ivr.workorders.exceptions import (
    ChangedMeanwhile,
    DeadlineInPast,
    DeadlineNotLater,
    EmptyDescription,
    ExtensionPending,
    ExtensionTooLate,
    InvalidTransition,
    NaiveTime,
    NoExtensionRequested,
    NotYourUnit,
    NumberExhausted,
    OrderNotFound,
    ReasonRequired,
    ResultRequired,
    SameUnit,
    TextTooLong,
    UnknownEvent,
    UnknownReturnReason,
    UnknownUnit,
)
from ivr.workorders import creation
from ivr.workorders.forwarded import parse_forwarded, received_at
from ivr.workorders.model import RETURN_REASONS, Actor, Demand, NewWorkOrder, OrderEvent
from ivr.workorders.rules import (
    RULES,
    add_span,
    complaint_level_of,
    finish_span,
    highest_type,
    reply_due,
)
from ivr.workorders.states import HUMAN_EVENTS, Event, Needs, Party, check_party, transition

log = logging.getLogger(__name__)
UNIT_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
NUMBER_ATTEMPTS = 10
MAX_REASON = 500
MAX_RESULT = 2000
Listener = Callable[[OrderEvent], None]


def facts_of(o: WorkOrder) -> OrderFacts:
    return OrderFacts(type=o.type, status=o.status, created_at=o.created_at, dispatch_due_at=o.dispatch_due_at,
                      contact_due_at=o.contact_due_at, finish_due_at=o.finish_due_at, reply_due_at=o.reply_due_at,
                      complaint_level=o.complaint_level, contacted_at=o.contacted_at, replied_at=o.replied_at,
                      returned_at=o.returned_at, paused_at=o.paused_at,
                      finish_paused_seconds=o.finish_paused_seconds or 0.0)


def event_of(o: WorkOrder, kind: str, event: str = "", **data: object) -> OrderEvent:
    return OrderEvent(kind=kind, order_id=o.id, number=o.number, status=o.status.value, clock_state=o.clock_state,
                      clock_stage=o.clock_stage, due_at=o.clock_due_at, unit_code=o.unit_code, owner_pk=o.owner_pk,
                      event=event, data=dict(data))


def _text(value: str, limit: int, field: str) -> str:
    text = (value or "").strip()
    if len(text) > limit:
        raise TextTooLong(f"{field} is longer than {limit} characters", field=field, max=limit)
    return text


def _aware(t: dt.datetime, field: str) -> dt.datetime:
    if t.tzinfo is None:
        raise NaiveTime(f"{field} must be an aware datetime", field=field)
    return t.astimezone(dt.timezone.utc)


class WorkOrderService:
    def __init__(self, db: Database, zone: dt.tzinfo, *, calendar: WorkingCalendar | None = None,
                 policy: Policy = Policy()) -> None:
        self.db = db
        self.zone = zone
        self.calendar = calendar if calendar is not None else WorkingCalendar.builtin()
        self.policy = policy
        self._listeners: list[Listener] = []

    # --- subscribers -----------------------------------------------------------------------------------

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    def announce(self, events: list[OrderEvent]) -> None:
        for ev in events:
            for listener in list(self._listeners):
                try:
                    listener(ev)
                except Exception:  # noqa: BLE001 - a broken screen must not undo a committed order
                    log.exception("work-order listener failed on %s %s", ev.kind, ev.number)

    # --- clocks ----------------------------------------------------------------------------------------

    def refresh_clock(self, o: WorkOrder, now: dt.datetime) -> None:
        """Store the order's running clock (clocks.current): what the sweep's indexed UPDATEs work from."""
        v = current(facts_of(o), now, self.zone, self.calendar, self.policy)
        stage = v.stage.value if v.stage else ""
        if (stage, v.due_at) != (o.clock_stage, o.clock_due_at):
            # another clock: its own 催办 and escalation, none yet
            o.urge_at, o.escalate_at, o.urged_at, o.escalated_at = v.urge_at, v.escalate_at, None, None
        o.clock_stage, o.clock_state, o.clock_due_at, o.clock_warn_at = stage, v.state.value, v.due_at, v.warn_at

    # --- units -----------------------------------------------------------------------------------------

    async def units(self, *, active_only: bool = True) -> list[Unit]:
        async with self.db.session() as s:
            q = select(Unit).order_by(Unit.code)
            if active_only:
                q = q.where(Unit.active.is_(True))
            return list((await s.execute(q)).scalars().all())

    async def save_unit(self, code: str, name: str, *, utility: Utility | None = None,
                        handles: list[WorkOrderType] | None = None, phone: str = "", active: bool = True) -> Unit:
        """Add or change a responsible unit (the CLI, the demo data)."""
        if not UNIT_CODE.match(code):
            raise UnknownUnit(f"a unit code is 1-32 lowercase letters, digits, - or _, not {code[:40]!r}",
                              unit=code[:32])
        if not name.strip():
            raise EmptyDescription("a unit needs a name", field="name")
        async with self.db.begin() as s:
            unit = await s.get(Unit, code)
            if unit is None:
                unit = Unit(code=code)
                s.add(unit)
            unit.name, unit.utility, unit.phone, unit.active = name.strip()[:100], utility, phone[:32], active
            unit.handles = [k.value for k in handles or []]
        return unit

    async def _unit(self, s: AsyncSession, code: str) -> Unit:
        unit = await s.get(Unit, code) if code else None
        if unit is None or not unit.active:
            raise UnknownUnit(f"no active responsible unit {code!r}", unit=code[:32])
        return unit

    async def _default_unit(self, s: AsyncSession, kind: WorkOrderType) -> str | None:
        rows = (await s.execute(select(Unit.code, Unit.handles).where(Unit.active.is_(True))
                                .order_by(Unit.code))).all()
        return next((code for code, handles in rows if kind.value in (handles or [])), None)

    # --- creation --------------------------------------------------------------------------------------

    async def create(self, new: NewWorkOrder, *, at: dt.datetime) -> WorkOrder:
        """The order for one matter (see creation.py for what that can be): with its deadlines and clock,
        numbered per local day (retried on a concurrent clash)."""
        return (await self.create_many([new], at=at))[0]

    async def create_for_call(self, demands: list[Demand], *, base: NewWorkOrder, at: dt.datetime
                              ) -> tuple[list[WorkOrder], WorkOrderType]:
        """Several demands in one call (004 §15(一)3): the call's type is the highest of them, and each
        responsible unit gets its own order (of the highest type among its demands)."""
        if not demands:
            raise EmptyDescription("no demand to file", field="demands")
        groups: dict[str, list[Demand]] = {}
        async with self.db.session() as s:
            for d in demands:
                unit = d.unit or await self._default_unit(s, d.type) or ""
                groups.setdefault(unit, []).append(d)
        news = []
        for unit, ds in groups.items():
            kind = highest_type([d.type for d in ds])
            levels = [d.complaint_level for d in ds if d.type is WorkOrderType.COMPLAINT and d.complaint_level]
            text = "；".join(f"{i}. {d.description.strip()}" for i, d in enumerate(ds, 1)) if len(ds) > 1 \
                else ds[0].description
            news.append(replace(base, type=kind, description=text, unit=unit,
                                complaint_level=min(levels) if levels else None,
                                topic=next((d.topic for d in ds if d.topic), base.topic)))
        return await self.create_many(news, at=at), highest_type([d.type for d in demands])

    async def create_many(self, news: list[NewWorkOrder], *, at: dt.datetime) -> list[WorkOrder]:
        at = _aware(at, "created_at")
        for new in news:
            if not new.description.strip():
                raise EmptyDescription("a work order needs a description", field="description")
            complaint_level_of(new.type, new.complaint_level)  # a bad level fails before the transaction
            if new.due_at is not None and _aware(new.due_at, "due_at") <= at:
                raise DeadlineInPast("the deadline given is in the past", field="due_at",
                                     until=new.due_at.isoformat())
        for attempt in range(NUMBER_ATTEMPTS):
            try:
                async with self.db.begin() as s:
                    out = await creation.insert(self, s, news, at, attempt)
            except IntegrityError:
                continue  # a number (or a 12345 ref) taken concurrently: count again
            self.announce(out.events)
            return out.orders
        raise NumberExhausted(f"no free work-order number after {NUMBER_ATTEMPTS} attempts", at=at.isoformat())

    async def create_forwarded(self, data: object, *, now: dt.datetime | None = None) -> tuple[WorkOrder, bool]:
        """An order the 12345 platform forwarded (forwarded.py): (the order, whether it is new). The same
        ref again is the same order, not a second one."""
        now = _aware(now, "now") if now is not None else utcnow()
        new = parse_forwarded(data, now=now)
        async with self.db.session() as s:
            seen = (await s.execute(select(WorkOrder).where(WorkOrder.external_ref == new.external_ref))
                    ).scalar_one_or_none()
        if seen is not None:
            return seen, False
        # Two deliveries at once: creation finds the other's row by its ref, still one order.
        return await self.create(new, at=received_at(data, now)), True

    # --- transitions -----------------------------------------------------------------------------------

    async def apply(self, order_id: int, event: Event | str, actor: Actor, *, at: dt.datetime | None = None,
                    reason: str = "", result: str = "", unit: str = "", until: dt.datetime | None = None,
                    return_reason: str = "") -> WorkOrder:
        """One step of the order's life (states.TRANSITIONS), or a typed error and nothing written."""
        try:
            ev = Event(event)
        except ValueError:
            raise UnknownEvent(f"unknown work-order action {str(event)[:40]!r}", event=str(event)[:40]) from None
        if ev not in HUMAN_EVENTS and actor.role is not None:
            raise UnknownEvent(f"{ev.value} is done by the service itself", event=ev.value)
        now = _aware(at, "at") if at is not None else utcnow()
        reason = _text(reason, MAX_REASON, "reason")
        result = _text(result, MAX_RESULT, "result")
        if until is not None:
            until = _aware(until, "until")
        try:
            async with self.db.begin() as s:
                order = await self._locked(s, order_id)
                t = transition(ev, order.status)
                check_party(t, actor.role)
                if t.party is Party.UNIT and actor.role is Role.UNIT and actor.unit_code != order.unit_code:
                    raise NotYourUnit(f"order {order.number} is not at unit {actor.unit_code}",
                                      number=order.number)
                if Needs.REASON in t.needs and not reason and not (ev is Event.RETURN and return_reason):
                    raise ReasonRequired(f"{ev.value} needs a reason", field="reason", event=ev.value)
                if Needs.RESULT in t.needs and not result:
                    raise ResultRequired("a reply needs the unit's result", field="result")
                if Needs.UNIT in t.needs:
                    # a dispatch goes to the unit chosen when the order was taken unless told otherwise
                    target = unit or (order.unit_code or "" if ev is Event.DISPATCH else "")
                    new_unit: str | None = (await self._unit(s, target)).code
                    if ev is Event.REASSIGN and new_unit == order.unit_code:
                        raise SameUnit(f"order {order.number} is at {new_unit} already", unit=new_unit)
                else:
                    new_unit = None
                before = order.status
                data = self._effect(order, ev, now, reason=reason, result=result, unit=new_unit, until=until,
                                    return_reason=return_reason)
                order.status = t.to(before)
                self.refresh_clock(order, now)
                s.add(WorkOrderTransition(order_id=order.id, at=now, event=ev.value, from_status=before.value,
                                          to_status=order.status.value, actor_pk=actor.agent_pk,
                                          actor=actor.label[:64], unit_code=order.unit_code, reason=reason,
                                          data=data))
        except StaleDataError:
            raise ChangedMeanwhile(f"order {order_id} was changed meanwhile; reload it", order_id=order_id) from None
        self.announce([event_of(order, "transition", ev.value, **data)])
        return order

    async def _locked(self, s: AsyncSession, order_id: int) -> WorkOrder:
        q = select(WorkOrder).where(WorkOrder.id == order_id)
        if not self.db.is_sqlite:
            q = q.with_for_update()  # SQLite has one writer at a time anyway; the version column covers the rest
        order = (await s.execute(q)).scalar_one_or_none()
        if order is None:
            raise OrderNotFound(f"no work order {order_id}", order_id=order_id)
        return order

    def _effect(self, o: WorkOrder, ev: Event, now: dt.datetime, *, reason: str, result: str, unit: str | None,
                until: dt.datetime | None, return_reason: str) -> dict[str, Any]:
        """What the event changes besides the state; returns the facts for the transition row."""
        data: dict[str, Any] = {}
        if ev in (Event.DISPATCH, Event.REDISPATCH, Event.REASSIGN, Event.REOPEN):
            if unit is not None:
                data["from_unit"], data["unit"] = o.unit_code, unit
                o.unit_code = unit
            o.dispatched_at = o.dispatched_at or now
            o.accepted_at = None  # the unit it is at now signs for it itself
            if o.extension_state == "requested":
                o.extension_state = ""  # a request of the previous unit
            if ev is Event.REOPEN:
                # 重办: the unit handles it again, with a completion clock of its type from now
                span = finish_span(o.type, o.complaint_level)
                o.finish_due_at = add_span(now, span, self.zone, self.calendar) if span else o.finish_due_at
                o.replied_at, o.paused_at = None, None
                data["previous_result"] = o.result
        elif ev is Event.ACCEPT:
            o.accepted_at = now
        elif ev is Event.START:
            o.contacted_at = o.contacted_at or now
        elif ev is Event.WAIT_CALLER:
            o.paused_at = now
        elif ev is Event.RESUME:
            if o.paused_at is not None and o.finish_due_at is not None:
                kind = finish_kind(o.type, o.complaint_level)
                o.finish_due_at, paused = resume_finish(o.finish_due_at, o.paused_at, now, kind, self.zone,
                                                        self.calendar)
                o.finish_paused_seconds = (o.finish_paused_seconds or 0.0) + paused
                data["paused_seconds"] = round(paused)
            o.paused_at = None
        elif ev is Event.REPLY:
            o.result, o.replied_at = result, now
            o.contacted_at = o.contacted_at or now
            if RULES[o.type].reply:
                o.reply_due_at = reply_due(now, self.zone, self.calendar)
                o.callback_due_at = o.reply_due_at if o.callback_required else None
        elif ev is Event.RETURN:
            if return_reason and return_reason not in RETURN_REASONS:
                raise UnknownReturnReason(f"unknown return reason {return_reason[:32]!r}", reason=return_reason[:32])
            o.returned_at, o.returns, o.accepted_at = now, (o.returns or 0) + 1, None
            data["return_reason"] = return_reason or "other"
        elif ev is Event.CLOSE:
            o.closed_at = now
        elif ev is Event.REQUEST_EXTENSION:
            if o.extension_state == "requested":
                raise ExtensionPending(f"order {o.number} already has an extension request", number=o.number)
            due = o.finish_due_at or o.clock_due_at
            if due is None or now >= due:
                raise ExtensionTooLate(f"the deadline of {o.number} has passed: an extension is asked for before",
                                       number=o.number)
            assert until is not None  # Needs.UNTIL
            self._later(until, due, now)
            o.extension_state, o.extension_until, o.extension_reason = "requested", until, reason
            data["until"] = until.isoformat()
        elif ev in (Event.GRANT_EXTENSION, Event.REFUSE_EXTENSION):
            if o.extension_state != "requested":
                raise NoExtensionRequested(f"order {o.number} has no extension request", number=o.number)
            if ev is Event.GRANT_EXTENSION:
                new_due = until or o.extension_until
                assert new_due is not None
                self._later(new_due, o.finish_due_at, now)
                data["from"] = o.finish_due_at.isoformat() if o.finish_due_at else None
                data["until"] = new_due.isoformat()
                # the caller is told the new deadline (the callback work of issue 13 reads this)
                data["tell_caller"] = o.contact_phone
                o.finish_due_at, o.extensions, o.extension_state = new_due, (o.extensions or 0) + 1, "granted"
            else:
                o.extension_state = "refused"
        elif ev is Event.ANSWER_URGE:
            if o.urged_at is None:
                raise InvalidTransition(f"order {o.number} has no 催办 to answer", event=ev.value,
                                        status=o.status.value, allowed="")
            o.escalate_at = None  # answered: no escalation for this clock
        return data

    @staticmethod
    def _later(new: dt.datetime, current_due: dt.datetime | None, now: dt.datetime) -> None:
        if new <= now:
            raise DeadlineInPast("the new deadline is in the past", field="until", until=new.isoformat())
        if current_due is not None and new <= current_due:
            raise DeadlineNotLater("an extension must end after the current deadline", field="until",
                                   until=new.isoformat(), due=current_due.isoformat())

    # --- reads the writers need ------------------------------------------------------------------------

    async def get(self, order_id: int) -> WorkOrder:
        async with self.db.session() as s:
            order = await s.get(WorkOrder, order_id)
        if order is None:
            raise OrderNotFound(f"no work order {order_id}", order_id=order_id)
        return order

    async def transitions(self, order_id: int) -> list[WorkOrderTransition]:
        async with self.db.session() as s:
            return list((await s.execute(select(WorkOrderTransition).where(
                WorkOrderTransition.order_id == order_id).order_by(WorkOrderTransition.at,
                                                                   WorkOrderTransition.id))).scalars().all())


__all__ = ["WorkOrderService", "facts_of", "event_of"]
