"""One priority scale for the ACD, app_queue's QUEUE_PRIO (AGI flows) and the AGI lookup: app_queue may hold
callers from all three, so they must rank alike."""

from __future__ import annotations

import enum


class Priority(enum.IntEnum):
    """Waiting-call priority; flows may use any int, these are the levels the rules name."""

    NORMAL = 0
    SPECIAL_CARE = 10  # elderly, disabled, pregnant, veterans (registered 老弱病残)
    EMERGENCY = 20  # gas alarm / leak


def effective_priority(requested: int, special_care: bool) -> int:
    """A registered special-care caller is never served after ordinary callers, whatever the flow asked."""
    return max(requested, int(Priority.SPECIAL_CARE)) if special_care else requested
