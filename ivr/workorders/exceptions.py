"""Work-order errors: each has a stable error_id the console maps to a status and zh/en text."""

from __future__ import annotations

from ivr.errors import Conflict, HotlineError, InvalidInput


class WorkOrderError(HotlineError):
    error_id = "workorders.error"


class EmptyDescription(InvalidInput, WorkOrderError):
    error_id = "workorders.empty_description"


class InvalidComplaintLevel(InvalidInput, WorkOrderError):
    error_id = "workorders.invalid_complaint_level"


class NaiveTime(InvalidInput, WorkOrderError):
    error_id = "workorders.naive_time"


class NumberExhausted(Conflict, WorkOrderError):
    """Concurrent creators kept taking the same number: retried, then given up (a person retries)."""

    error_id = "workorders.number_exhausted"


class CalendarFileError(InvalidInput, WorkOrderError):
    """An operator's holiday file that cannot be read as holiday-cn JSON; str() names file:line."""

    error_id = "workorders.calendar_file"
