"""WorkOrderService: the one place that creates work-order rows (the IVR, the queue's callback offer, the
fallback intake, the console and the CLI all come here), so the same request always gets the same shape of
order: one numbering, the regulation deadlines, a history that says where it came from."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ivr.db import Database
from ivr.db.models import WorkOrder, WorkOrderStatus
from ivr.workorders.calendar import WorkingCalendar
from ivr.workorders.exceptions import EmptyDescription, NaiveTime, NumberExhausted
from ivr.workorders.model import NewWorkOrder
from ivr.workorders.rules import complaint_level_of, deadlines, order_number

NUMBER_ATTEMPTS = 10


class WorkOrderService:
    def __init__(self, db: Database, zone: dt.tzinfo, *, calendar: WorkingCalendar | None = None) -> None:
        self.db = db
        self.zone = zone
        self.calendar = calendar if calendar is not None else WorkingCalendar.builtin()

    async def create(self, new: NewWorkOrder, *, at: dt.datetime) -> WorkOrder:
        """Insert the order with its deadlines; numbers are per local day and retried on a concurrent clash."""
        description = new.description.strip()
        if not description:
            raise EmptyDescription("a work order needs a description", field="description")
        if at.tzinfo is None:
            raise NaiveTime("created_at must be an aware datetime")
        level = complaint_level_of(new.type, new.complaint_level)
        due = deadlines(new.type, at, self.zone, complaint_level=level, calendar=self.calendar)
        local_midnight = at.astimezone(self.zone).replace(hour=0, minute=0, second=0, microsecond=0)
        created: dict[str, object] = {"at": at.isoformat(), "action": "created", "by": new.owner_pk,
                                      "source": new.source.value}
        if new.recording:
            created["recording"] = new.recording
        for attempt in range(NUMBER_ATTEMPTS):
            try:
                async with self.db.begin() as s:
                    today = (await s.execute(select(func.count(WorkOrder.id)).where(
                        WorkOrder.created_at >= local_midnight.astimezone(dt.timezone.utc)))).scalar_one()
                    order = WorkOrder(
                        number=order_number(at, today + 1 + attempt, self.zone), type=new.type,
                        status=WorkOrderStatus.NEW, complaint_level=level,
                        call_id=new.call_id, customer_id=new.customer_id, owner_pk=new.owner_pk, unit=new.unit,
                        contact_phone=new.contact_phone, address=new.address, description=description,
                        created_at=at, dispatch_due_at=due.dispatch_due_at, contact_due_at=due.contact_due_at,
                        finish_due_at=due.finish_due_at, callback_required=due.callback_required,
                        callback_due_at=due.callback_due_at, history=[created])
                    s.add(order)
                return order
            except IntegrityError:
                continue
        raise NumberExhausted(f"no free work-order number after {NUMBER_ATTEMPTS} attempts", at=at.isoformat())
