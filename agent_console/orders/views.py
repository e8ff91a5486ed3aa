"""HTTP handlers of the work-order pages and their JSON API. WorkOrderService decides what may happen to an
order (states.py, the unit check, the inputs); these handlers decide who may *see* which order and turn the
service's answers into pages (errors go to the console's error middleware as zh/en JSON).

    /orders/unit      a unit's staff: their unit's open orders, most urgent deadline first
    /orders/mine      agents: the orders they own (首问负责)
    /orders           supervisors, admins: every order, filters
    /orders/alerts    supervisors, admins: overdue and nearly due, extension requests, escalations
    /orders/{id}      one order: deadlines, history, what this user may do to it
    POST /api/orders/{id}/{event}    a transition (JSON: reason, result, unit, until, return_reason)
    POST /api/orders/forwarded       an order forwarded by the 12345 platform (supervisors, admins)
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from agent_console.auth import Principal, principal_of, require
from agent_console.i18n import Catalog, order_type_label
from agent_console.inputs import ascii_int
from agent_console.orders.live import alert_view
from agent_console.render import csrf_of, render
from agent_console.roles import ORDER_BOARD_ROLES, PHONE_ROLES, UNIT_ROLES
from agent_console.views import _json, catalog  # one reading of JSON bodies for the console's API
from ivr import keys
from ivr.db.models import Agent, Role, WorkOrder, WorkOrderStatus, WorkOrderType
from ivr.errors import InvalidInput
from ivr.workorders import ORDERS, Actor
from ivr.workorders.exceptions import OrderNotFound
from ivr.workorders.model import RETURN_REASONS
from ivr.workorders.queries import OrderFilter, alerts, detail, estimated_years, list_orders, my_orders, unit_queue
from ivr.workorders.states import TRANSITIONS, Event, Party, events_for

PAGE_SIZE = 50
CLOCKS = ("ok", "near", "overdue", "paused", "done")
STATUS_ORDER = tuple(s.value for s in WorkOrderStatus)


async def unit_of(request: web.Request, agent_pk: int) -> str | None:
    async with request.app[keys.DB].session() as s:
        return (await s.execute(select(Agent.unit_code).where(Agent.id == agent_pk))).scalar_one_or_none()


async def actor_of(request: web.Request, p: Principal) -> Actor:
    unit = await unit_of(request, p.agent_pk) if p.role is Role.UNIT else None
    return Actor(p.agent_pk, p.role, unit, f"{p.agent_id} {p.name}")


def may_see(actor: Actor, unit_code: str | None, owner_pk: int | None) -> bool:
    """Supervisors and admins every order; a unit's staff their unit's; agents their own and the centre's
    unowned ones (IVR messages, 12345 orders), which any agent may dispatch."""
    if actor.role in ORDER_BOARD_ROLES:
        return True
    if actor.role is Role.UNIT:
        return actor.unit_code is not None and unit_code == actor.unit_code
    if actor.role is Role.AGENT:
        return owner_pk is None or owner_pk == actor.agent_pk
    return False


def needs_of(event: Event, status: str) -> list[str]:
    row = next(t for t in TRANSITIONS if t.event is event and WorkOrderStatus(status) in t.sources)
    needs = [n.value for n in row.needs]
    if event is Event.RETURN:
        needs.append("return_reason")
    if event is Event.GRANT_EXTENSION:
        needs.append("until")  # optional: the requested date is the default
    return needs


def actions_for(actor: Actor, order: dict[str, Any]) -> list[dict[str, Any]]:
    if actor.role is None or order["status"] == WorkOrderStatus.CLOSED.value:
        return []
    out = []
    for event in events_for(WorkOrderStatus(order["status"]), actor.role):
        party = next(t.party for t in TRANSITIONS if t.event is event)
        if party is Party.UNIT and actor.role is Role.UNIT and order["unit_code"] != actor.unit_code:
            continue
        if event is Event.ANSWER_URGE and not order["urged"]:
            continue
        if event in (Event.GRANT_EXTENSION, Event.REFUSE_EXTENSION) and order["extension_state"] != "requested":
            continue
        if event is Event.REQUEST_EXTENSION and order["extension_state"] == "requested":
            continue
        out.append({"event": event.value, "needs": needs_of(event, order["status"])})
    return out


class Fmt:
    """Times in the hotline's zone, labels in the visitor's language."""

    def __init__(self, c: Catalog, zone: dt.tzinfo) -> None:
        self.c, self.zone = c, zone

    def time(self, t: dt.datetime | None) -> str:
        return t.astimezone(self.zone).strftime("%Y-%m-%d %H:%M") if t is not None else ""

    def order(self, o: dict[str, Any], actor: Actor) -> dict[str, Any]:
        c = self.c
        return {**o, "type_label": order_type_label(o["type"], c.lang), "status_label": c.t(f"wo.status.{o['status']}"),
                "stage_label": c.t(f"wo.stage.{o['clock_stage']}"),
                "clock_label": c.t(f"wo.clock.{o['clock_state']}"), "due_text": self.time(o["due_at"]),
                "created_text": self.time(o["created_at"]), "due_iso": o["due_at"].isoformat() if o["due_at"] else "",
                "extension_text": self.time(o["extension_until"]), "actions": actions_for(actor, o)}


def _fmt(request: web.Request) -> Fmt:
    return Fmt(catalog(request), request.app[keys.SETTINGS].hotline.zone)


async def order_page(request: web.Request, template: str, title: str, current: str, values: dict[str, Any]
                ) -> web.Response:
    p, c = principal_of(request), catalog(request)
    orders = request.app[ORDERS]
    zone = request.app[keys.SETTINGS].hotline.zone
    warn: list[int] = []
    if p.role in ORDER_BOARD_ROLES:
        warn = await estimated_years(request.app[keys.DB], orders.calendar, dt.datetime.now(zone).date())
    units = [(u.code, u.name) for u in await orders.units()]
    config = {"csrf": values.pop("csrf", ""), "lang": c.lang, "i18n": c.for_js(),
              "return_reasons": list(RETURN_REASONS), "units": units}
    return render(request, template, c, {
        "title": title, "current": current, "config": config, "styles": ("orders.css",),
        "scripts": ("console.js", "orders.js"), "estimated_years": ", ".join(str(y) for y in warn), **values})


@require(*UNIT_ROLES, page=True)
async def unit_page(request: web.Request) -> web.Response:
    p = principal_of(request)
    actor = await actor_of(request, p)
    f = _fmt(request)
    rows = [f.order(o, actor) for o in await unit_queue(request.app[keys.DB], actor.unit_code)] \
        if actor.unit_code else []
    return await order_page(request, "orders/queue.html", f.c.t("wo.title.unit"), "unitqueue", {
        "rows": rows, "table_id": "unit-queue", "no_unit": actor.unit_code is None, "csrf": csrf_of(request)})


@require(*PHONE_ROLES, page=True)
async def mine_page(request: web.Request) -> web.Response:
    p = principal_of(request)
    actor = await actor_of(request, p)
    f = _fmt(request)
    rows = [f.order(o, actor) for o in await my_orders(request.app[keys.DB], p.agent_pk)]
    return await order_page(request, "orders/queue.html", f.c.t("wo.title.mine"), "myorders", {
        "rows": rows, "table_id": "my-orders", "no_unit": False, "csrf": csrf_of(request)})


def parse_filter(query: Any, zone: dt.tzinfo) -> tuple[OrderFilter, dict[str, str], list[str]]:
    form = {k: str(query.get(k, "")).strip()[:40] for k in ("status", "clock", "type", "unit", "q", "since", "until",
                                                            "page")}
    errors: list[str] = []
    statuses: tuple[WorkOrderStatus, ...] = ()
    if form["status"]:
        if form["status"] == "open":
            pass
        elif form["status"] in STATUS_ORDER:
            statuses = (WorkOrderStatus(form["status"]),)
        else:
            errors.append(f"status {form['status']}")
    if form["clock"] and form["clock"] not in CLOCKS:
        errors.append(f"clock {form['clock']}")
    kind = None
    if form["type"]:
        try:
            kind = WorkOrderType(form["type"])
        except ValueError:
            errors.append(f"type {form['type']}")
    days: dict[str, dt.datetime | None] = {"since": None, "until": None}
    for key in days:
        if form[key]:
            try:
                day = dt.date.fromisoformat(form[key])
                days[key] = dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.timezone.utc) + (
                    dt.timedelta(days=1) if key == "until" else dt.timedelta(0))
            except ValueError:
                errors.append(f"{key} {form[key]}")
    page = ascii_int(form["page"], max_digits=6) or 1 if form["page"] else 1
    f = OrderFilter(statuses=statuses, open_only=form["status"] == "open", unit=form["unit"], type=kind,
                    clock=form["clock"] if form["clock"] in CLOCKS else "", text=form["q"], since=days["since"],
                    until=days["until"], limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, order_by=("created",))
    return f, form, errors


@require(*ORDER_BOARD_ROLES, page=True)
async def all_page(request: web.Request) -> web.Response:
    p = principal_of(request)
    actor = await actor_of(request, p)
    f = _fmt(request)
    zone = request.app[keys.SETTINGS].hotline.zone
    flt, form, errors = parse_filter(request.query, zone)
    rows, total = ([], 0) if errors else await list_orders(request.app[keys.DB], flt)
    page = flt.offset // PAGE_SIZE + 1
    statuses = [("open", f.c.t("wo.status.new") + "…" + f.c.t("wo.status.callback"))] + [
        (s, f.c.t(f"wo.status.{s}")) for s in STATUS_ORDER]
    return await order_page(request, "orders/list.html", f.c.t("wo.title.all"), "orders", {
        "rows": [f.order(o, actor) for o in rows], "total": total, "form": form,
        "errors": [f.c.t("wo.f.bad", error=e) for e in errors], "csrf": csrf_of(request),
        "statuses": statuses, "clocks": [(k, f.c.t(f"wo.clock.{k}")) for k in CLOCKS],
        "types": [(k.value, order_type_label(k.value, f.c.lang)) for k in WorkOrderType],
        "next_url": "/orders?" + urlencode({**{k: v for k, v in form.items() if v and k != "page"},
                                            "page": page + 1}) if total > page * PAGE_SIZE else ""})


@require(*ORDER_BOARD_ROLES, page=True)
async def alerts_page(request: web.Request) -> web.Response:
    p = principal_of(request)
    actor = await actor_of(request, p)
    f = _fmt(request)
    db = request.app[keys.DB]
    due = [f.order(o, actor) for o in await alerts(db, limit=200)]
    extensions, _ = await list_orders(db, OrderFilter(extension_requested=True, open_only=True, limit=200))
    escalated, _ = await list_orders(db, OrderFilter(escalated=True, limit=200))
    return await order_page(request, "orders/alerts.html", f.c.t("wo.title.alerts"), "orderalerts", {
        "overdue": [o for o in due if o["clock_state"] == "overdue"],
        "near": [o for o in due if o["clock_state"] == "near"],
        "extensions": [f.order(o, actor) for o in extensions], "escalated": [f.order(o, actor) for o in escalated],
        "csrf": csrf_of(request)})


def _order_id(request: web.Request) -> int:
    found = ascii_int(request.match_info["order_id"])
    if found is None:
        raise web.HTTPNotFound()
    return found


@require(page=True)
async def detail_page(request: web.Request) -> web.Response:
    p = principal_of(request)
    actor = await actor_of(request, p)
    f = _fmt(request)
    found = await detail(request.app[keys.DB], _order_id(request))
    if found is None or not may_see(actor, found[0]["unit_code"] or None, found[0]["owner_pk"]):
        raise web.HTTPNotFound(text=f.c.t("wo.none"))  # the same for both: no probing of numbers
    order, history = found
    stages = [(key, f.time(order.get(key))) for key in ("dispatch_due_at", "contact_due_at", "finish_due_at",
                                                         "reply_due_at", "callback_due_at")]
    steps = [{**h, "at_text": f.time(h["at"]), "label": f.c.t(f"wo.event.{h['event']}"),
              "to_label": f.c.t(f"wo.status.{h['to']}") if h["to"] else ""} for h in history]
    return await order_page(request, "orders/detail.html", f.c.t("wo.title.detail", number=order["number"]),
                       "", {"o": f.order(order, actor), "stages": stages, "history": steps, "csrf": csrf_of(request),
                            "done_times": [(k, f.time(order.get(k))) for k in ("dispatched_at", "contacted_at",
                                                                                "replied_at", "closed_at")]})


def _until(value: Any, zone: dt.tzinfo) -> dt.datetime | None:
    """A new deadline: ISO with an offset, or a local 'YYYY-MM-DDTHH:MM' from a datetime-local input."""
    if value in (None, ""):
        return None
    try:
        t = dt.datetime.fromisoformat(str(value)[:40])
    except ValueError:
        raise InvalidInput(f"until {str(value)[:40]!r} is not a time", field="until") from None
    return (t.replace(tzinfo=zone) if t.tzinfo is None else t).astimezone(dt.timezone.utc)


@require(csrf=True)
async def api_action(request: web.Request) -> web.Response:
    p = principal_of(request)
    actor = await actor_of(request, p)
    order_id, event = _order_id(request), request.match_info["event"][:40]
    data = await _json(request)
    async with request.app[keys.DB].session() as s:
        row = (await s.execute(select(WorkOrder.unit_code, WorkOrder.owner_pk).where(WorkOrder.id == order_id))).first()
    if row is None or not may_see(actor, row.unit_code, row.owner_pk):
        raise OrderNotFound(f"no work order {order_id}", order_id=order_id)
    zone = request.app[keys.SETTINGS].hotline.zone
    order = await request.app[ORDERS].apply(
        order_id, event, actor, reason=str(data.get("reason", ""))[:2000], result=str(data.get("result", ""))[:4000],
        unit=str(data.get("unit", "") or "")[:32], until=_until(data.get("until"), zone),
        return_reason=str(data.get("return_reason", "") or "")[:32])
    return web.json_response({"ok": True, "number": order.number, "status": order.status.value,
                              "clock_state": order.clock_state})


@require(*ORDER_BOARD_ROLES, csrf=True)
async def api_forwarded(request: web.Request) -> web.Response:
    if request.content_length is not None and request.content_length > 64 * 1024:
        raise InvalidInput("a forwarded order is at most 64 KiB")
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput("the body is not JSON") from None
    order, created = await request.app[ORDERS].create_forwarded(data)
    return web.json_response({"ok": True, "number": order.number, "id": order.id, "created": created},
                             status=201 if created else 200)


@require(*ORDER_BOARD_ROLES)
async def api_alerts(request: web.Request) -> web.Response:
    rows = await alerts(request.app[keys.DB])
    return web.json_response({"orders": [alert_view(o) for o in rows]})
