"""Work-order changes on the console's WebSocket: the wallboard's alerts, a unit's and an owner's screens.

WorkOrderService announces every committed change (OrderEvent); `publish` turns one into an `order` message
for the supervisors' screens (WALL), the unit it is at and the agent who owns it.
"""

from __future__ import annotations

from typing import Any

from agent_console.hub import WALL, Audience, Hub, agent_audience
from ivr.workorders import OrderEvent


def unit_audience(code: str) -> Audience:
    return ("unit", code)


def order_message(ev: OrderEvent, unit_names: dict[str, str]) -> dict[str, Any]:
    return {"type": "order", "order": {
        "id": ev.order_id, "number": ev.number, "status": ev.status, "clock_state": ev.clock_state,
        "clock_stage": ev.clock_stage, "due_at": ev.due_at.isoformat() if ev.due_at else None,
        "unit_code": ev.unit_code or "", "unit_name": unit_names.get(ev.unit_code or "", ev.unit_code or ""),
        "event": ev.event, "kind": ev.kind, "urged": ev.event == "urge" or None,
        "escalated": ev.event == "escalate" or None}}


def publish(hub: Hub, ev: OrderEvent, unit_names: dict[str, str]) -> None:
    msg = order_message(ev, unit_names)
    hub.publish(WALL, msg)
    if ev.unit_code:
        hub.publish(unit_audience(ev.unit_code), msg)
    if ev.owner_pk is not None:
        hub.publish(agent_audience(ev.owner_pk), msg)


def alert_view(o: dict[str, Any]) -> dict[str, Any]:
    """What the wallboard shows of an order row (ivr.workorders.queries.row): the shape of `order` messages."""
    return {"id": o["id"], "number": o["number"], "type": o["type"], "status": o["status"],
            "clock_state": o["clock_state"], "clock_stage": o["clock_stage"],
            "due_at": o["due_at"].isoformat() if o["due_at"] else None, "unit_code": o["unit_code"],
            "unit_name": o["unit_name"], "urged": o["urged"], "escalated": o["escalated"]}
