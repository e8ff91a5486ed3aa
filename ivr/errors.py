"""The error shape every service raises, and the CLI's error.

A service never raises UI text: it raises a `HotlineError` subclass with a stable `error_id` (the key the
console's zh/en catalog and the HTTP status map use) and the facts behind it in `details`. `str()` is an
English sentence for logs and the CLI. The Channel/AGI exception trees are protocol errors and stay apart.
"""

from __future__ import annotations

from typing import Any, ClassVar


class HotlineError(Exception):
    """A failure a caller of the service can act on. Subclasses set error_id; details fill the message."""

    error_id: ClassVar[str] = "hotline.error"

    def __init__(self, message: str = "", /, **details: Any) -> None:
        self.details: dict[str, Any] = details
        super().__init__(message or self.error_id)

    @property
    def message(self) -> str:
        return str(self)


class NotFound(HotlineError):
    error_id = "hotline.not_found"


class InvalidInput(HotlineError):
    """Input that cannot be used: details name the field (`field`) when there is one."""

    error_id = "hotline.invalid_input"


class Conflict(HotlineError):
    """The thing exists but is in a state that does not allow the request."""

    error_id = "hotline.conflict"


class Forbidden(HotlineError):
    error_id = "hotline.forbidden"


class Unavailable(HotlineError):
    """A part we depend on (database, Asterisk) is not answering; the request may work later."""

    error_id = "hotline.unavailable"


class CliError(Exception):
    """A failure the user can act on: printed as one message, exit code 2, no traceback."""
