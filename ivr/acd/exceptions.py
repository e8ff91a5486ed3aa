"""ACD errors an agent's command can meet: each has a stable error_id the console maps to a status and
zh/en text; str() is an English sentence for logs."""

from __future__ import annotations

from ivr.errors import Conflict, NotFound


class AgentStateError(Conflict):
    """A state change that is not allowed now."""

    error_id = "acd.agent_state"


class AgentInactive(AgentStateError):
    error_id = "acd.agent_inactive"


class NotSignedIn(AgentStateError):
    error_id = "acd.not_signed_in"


class BusyOnCall(AgentStateError):
    """Signing out or changing state while ringing or talking."""

    error_id = "acd.busy_on_call"


class NoPhone(AgentStateError):
    error_id = "acd.no_phone"


class UnknownReason(AgentStateError):
    error_id = "acd.unknown_reason"


class CallControlError(Conflict):
    """A console command for a call the agent does not have, or one Asterisk refused."""

    error_id = "acd.call_control"


class NotYourCall(CallControlError):
    error_id = "acd.not_your_call"


class UnknownQueue(CallControlError, NotFound):
    error_id = "acd.unknown_queue"


class HoldFailed(CallControlError):
    error_id = "acd.hold_failed"
