"""What a new work order is made of, who acts on orders, what the rules compute, what the service announces."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from ivr.db.models import Role, WorkOrderType


class OrderSource(enum.StrEnum):
    """Who created the order: stored with it, so a report can tell the paths apart."""

    CONSOLE = "console"  # an agent's wrap-up
    IVR = "ivr"  # a message node in a flow
    QUEUE = "queue"  # 按1预约回电 while waiting
    FALLBACK = "fallback"  # a message left in the dialplan fallback
    PLATFORM_12345 = "12345"  # forwarded by the 12345 citizen hotline (JSON API)
    CLI = "cli"
    DEMO = "demo"


# Why a unit hands an order back (004 §15(三)): the codes the service accepts; the console names them.
RETURN_REASONS = ("wrong_unit", "missing_info", "wrong_info", "no_contact")
COMPLAINT_FLAGS = ("lawsuit", "media")  # 已引发法律诉讼 / 已经或可能被媒体曝光: level 1 at once


@dataclass(frozen=True)
class NewWorkOrder:
    type: WorkOrderType
    description: str
    source: OrderSource
    call_id: int | None = None
    customer_id: int | None = None
    owner_pk: int | None = None  # 首问负责: the agent who took the call owns it (default: the call's first)
    contact_phone: str = ""
    address: str = ""
    unit: str = ""  # a responsible unit's code; "" = the unit that handles the type, if there is one
    complaint_level: int | None = None
    recording: str = ""  # the caller's message, when the order came from one
    topic: str = ""  # complaints: what about (服务态度, 燃气压力...): part of "the same matter"
    complaint_flags: tuple[str, ...] = ()  # COMPLAINT_FLAGS
    group_size: int = 1  # a collective complaint of this many people (5+: level 2)
    outage_id: int | None = None  # the call is about this outage: attach to its parent order
    external_ref: str | None = None  # the 12345 platform's number (idempotent: the same ref is one order)
    due_at: dt.datetime | None = None  # a completion deadline set by the platform that forwarded it


@dataclass(frozen=True)
class Demand:
    """One of several things a caller wants in one call (004 §15(一)3): one order per responsible unit."""

    type: WorkOrderType
    description: str
    unit: str = ""
    complaint_level: int | None = None
    topic: str = ""


@dataclass(frozen=True)
class Actor:
    """Who acts on an order. role None: the service itself (the sweep, a level raised automatically)."""

    agent_pk: int | None
    role: Role | None
    unit_code: str | None = None
    label: str = ""

    @classmethod
    def system(cls, label: str = "system") -> "Actor":
        return cls(None, None, None, label)


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


@dataclass(frozen=True)
class OrderEvent:
    """What the service announces after a commit: the console turns it into live updates."""

    kind: str  # created / transition / clock
    order_id: int
    number: str
    status: str
    clock_state: str
    clock_stage: str
    due_at: dt.datetime | None
    unit_code: str | None
    owner_pk: int | None
    event: str = ""
    data: dict[str, object] = field(default_factory=dict)
