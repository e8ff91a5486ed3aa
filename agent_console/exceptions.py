"""Console errors: each has a stable error_id the console maps to a status and zh/en text."""

from __future__ import annotations

from ivr.errors import Conflict, HotlineError, InvalidInput, NotFound


class ConsoleError(HotlineError):
    error_id = "console.error"


class LoginLocked(ConsoleError, Conflict):
    """Too many failed logins for this login or address; details: login, address, retry_after (seconds)."""

    error_id = "console.login_locked"


class LoginBusy(ConsoleError, Conflict):
    """More logins are waiting for their password check than the console queues; the person retries."""

    error_id = "console.login_busy"


class WrapUpError(ConsoleError):
    error_id = "wrapup.error"


class CategoryRequired(InvalidInput, WrapUpError):
    error_id = "wrapup.category_required"


class TextTooLong(InvalidInput, WrapUpError):
    """details: field, field_label (zh), field_label_en, max."""

    error_id = "wrapup.text_too_long"


class UnknownOrderType(InvalidInput, WrapUpError):
    error_id = "wrapup.unknown_order_type"


class SystemOrderType(InvalidInput, WrapUpError):
    """Callback orders come from the queue and the fallback, never from a form."""

    error_id = "wrapup.system_order_type"


class NotYourCall(NotFound, WrapUpError):
    """The same answer for a call that does not exist and one the agent did not answer: no probing."""

    error_id = "wrapup.not_your_call"


class AlreadyWrappedUp(Conflict, WrapUpError):
    error_id = "wrapup.already_done"
