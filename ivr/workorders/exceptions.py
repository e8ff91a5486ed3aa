"""Work-order errors: each has a stable error_id the console maps to a status and zh/en text."""

from __future__ import annotations

from ivr.errors import Conflict, Forbidden, HotlineError, InvalidInput, NotFound


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


class OrderNotFound(NotFound, WorkOrderError):
    error_id = "workorders.not_found"


class InvalidTransition(Conflict, WorkOrderError):
    """The event is not possible in the order's state (states.TRANSITIONS); details: event, status, allowed."""

    error_id = "workorders.invalid_transition"


class TransitionNotAllowed(Forbidden, WorkOrderError):
    error_id = "workorders.not_allowed"


class NotYourUnit(Forbidden, WorkOrderError):
    """A unit's staff act on their unit's orders only."""

    error_id = "workorders.not_your_unit"


class UnknownUnit(InvalidInput, WorkOrderError):
    error_id = "workorders.unknown_unit"


class UnknownEvent(InvalidInput, WorkOrderError):
    error_id = "workorders.unknown_event"


class ReasonRequired(InvalidInput, WorkOrderError):
    error_id = "workorders.reason_required"


class ResultRequired(InvalidInput, WorkOrderError):
    """A reply needs the unit's result in words: the caller is told it."""

    error_id = "workorders.result_required"


class UnknownReturnReason(InvalidInput, WorkOrderError):
    error_id = "workorders.unknown_return_reason"


class TextTooLong(InvalidInput, WorkOrderError):
    error_id = "workorders.text_too_long"


class DeadlineInPast(InvalidInput, WorkOrderError):
    error_id = "workorders.deadline_in_past"


class DeadlineNotLater(InvalidInput, WorkOrderError):
    error_id = "workorders.deadline_not_later"


class ExtensionTooLate(Conflict, WorkOrderError):
    """An extension is asked for before the deadline (004 §15(二)2), not after it has passed."""

    error_id = "workorders.extension_after_deadline"


class ExtensionPending(Conflict, WorkOrderError):
    error_id = "workorders.extension_pending"


class NoExtensionRequested(Conflict, WorkOrderError):
    error_id = "workorders.no_extension"


class ChangedMeanwhile(Conflict, WorkOrderError):
    """Someone else changed the order between our read and our write: nothing of ours was written."""

    error_id = "workorders.changed_meanwhile"


class UnknownOutage(InvalidInput, WorkOrderError):
    error_id = "workorders.unknown_outage"


class InvalidForwarded(InvalidInput, WorkOrderError):
    """A 12345-forwarded order that cannot be read; details name the field and the problem."""

    error_id = "workorders.invalid_forwarded"


class SameUnit(InvalidInput, WorkOrderError):
    error_id = "workorders.same_unit"
