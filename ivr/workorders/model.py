"""What a new work order is made of and what the rules compute for it."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

from ivr.db.models import WorkOrderType


class OrderSource(enum.StrEnum):
    """Who created the order: written into its history, so a report can tell the paths apart."""

    CONSOLE = "console"  # an agent's wrap-up
    IVR = "ivr"  # a message node in a flow
    QUEUE = "queue"  # 按1预约回电 while waiting
    FALLBACK = "fallback"  # a message left in the dialplan fallback
    CLI = "cli"


@dataclass(frozen=True)
class NewWorkOrder:
    type: WorkOrderType
    description: str
    source: OrderSource
    call_id: int | None = None
    customer_id: int | None = None
    owner_pk: int | None = None  # 首问负责: the agent who took the call owns it
    contact_phone: str = ""
    address: str = ""
    unit: str = ""
    complaint_level: int | None = None
    recording: str = ""  # the caller's message, when the order came from one


@dataclass(frozen=True)
class Deadlines:
    dispatch_due_at: dt.datetime
    contact_due_at: dt.datetime | None
    finish_due_at: dt.datetime | None
    callback_required: bool
    callback_due_at: dt.datetime | None
    reply_due_at: dt.datetime | None = None  # the centre answers the caller (回复), provisional until the reply
    estimated_years: tuple[int, ...] = ()  # years the calendar does not know: counted with weekends only

    @property
    def estimated(self) -> bool:
        return bool(self.estimated_years)
