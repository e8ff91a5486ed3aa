"""Which roles may open which console page. The route guards (views) and the navigation (render) read the same
tuples, so a link is shown exactly to the users whose request it would not refuse."""

from __future__ import annotations

from ivr.db.models import Role

PHONE_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)  # have a phone: the agent page and call control
WALL_ROLES = (Role.SUPERVISOR, Role.ADMIN, Role.QA)  # the wallboard
REVIEW_ROLES = (Role.QA, Role.SUPERVISOR, Role.ADMIN)  # every scored call, the review queue, trends, export
SCORED_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)  # take calls, so have QA scores of their own
ORDER_BOARD_ROLES = (Role.SUPERVISOR, Role.ADMIN)  # every work order, alerts, extensions, reports, 12345 API
UNIT_ROLES = (Role.UNIT,)  # a responsible unit's queue

__all__ = ["PHONE_ROLES", "WALL_ROLES", "REVIEW_ROLES", "SCORED_ROLES", "ORDER_BOARD_ROLES", "UNIT_ROLES"]
