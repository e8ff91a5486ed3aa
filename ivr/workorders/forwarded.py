"""Orders forwarded by the 12345 citizen platform (市民热线转办): the JSON they arrive as, read strictly.

    {"ref": "12345-2026-000123", "type": "complaint", "description": "…", "contact_phone": "139…",
     "address": "…", "unit": "kf", "complaint_level": 2, "topic": "燃气压力",
     "received_at": "2026-03-03T10:00:00+08:00", "due_at": "2026-03-04T10:00:00+08:00"}

`ref` is the platform's number: the same ref twice is one order (the platform retries). `due_at` is the
platform's completion deadline; the earlier of it and the rules' deadline counts (004 §14(六): a stricter
local requirement wins). Unknown fields, a time without an offset, a deadline in the past are refused with
the field named: a forwarded order is never half read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ivr.db.models import WorkOrderType
from ivr.workorders.exceptions import DeadlineInPast, InvalidForwarded
from ivr.workorders.model import NewWorkOrder, OrderSource

MAX_BODY = 64 * 1024


class Forwarded(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ref: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    type: Literal["consultation", "emergency", "repair", "service_application", "complaint", "report", "opinion",
                  "suggestion", "praise"]
    description: str = Field(min_length=1, max_length=2000)
    contact_phone: str = Field("", max_length=32, pattern=r"^[0-9+\- ]*$")
    address: str = Field("", max_length=300)
    unit: str = Field("", max_length=32)
    complaint_level: int | None = Field(None, ge=1, le=3)
    topic: str = Field("", max_length=64)
    received_at: dt.datetime | None = None
    due_at: dt.datetime | None = None

    @field_validator("received_at", "due_at")
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("needs a UTC offset, e.g. 2026-03-03T10:00:00+08:00")
        return v


def parse_forwarded(data: Any, *, now: dt.datetime) -> NewWorkOrder:
    """The platform's JSON (already decoded) -> NewWorkOrder, or InvalidForwarded naming the field."""
    if not isinstance(data, dict):
        raise InvalidForwarded("a forwarded order is a JSON object", field="(body)", problem="not an object")
    try:
        f = Forwarded.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(body)"
        raise InvalidForwarded(f"forwarded order: {where}: {first['msg']}", field=where,
                               problem=str(first["msg"])[:120]) from None
    if f.due_at is not None and f.due_at <= now:
        raise DeadlineInPast("the platform's deadline is in the past", field="due_at", until=f.due_at.isoformat())
    if f.received_at is not None and f.received_at > now + dt.timedelta(minutes=5):
        raise InvalidForwarded("received_at is in the future", field="received_at", problem="in the future")
    return NewWorkOrder(
        type=WorkOrderType(f.type), description=f"【12345转办 {f.ref}】{f.description}",
        source=OrderSource.PLATFORM_12345, contact_phone=f.contact_phone.replace(" ", ""), address=f.address,
        unit=f.unit, complaint_level=f.complaint_level if f.type == "complaint" else None, topic=f.topic,
        external_ref=f.ref, due_at=f.due_at.astimezone(dt.timezone.utc) if f.due_at else None)


def received_at(data: Any, now: dt.datetime) -> dt.datetime:
    """When the matter was taken (the platform's time, if it gave one): the clocks count from there."""
    raw = data.get("received_at") if isinstance(data, dict) else None
    if isinstance(raw, str):
        try:
            t = dt.datetime.fromisoformat(raw)
        except ValueError:
            return now
        if t.tzinfo is not None and t <= now:
            return t.astimezone(dt.timezone.utc)
    return now
