"""The timeliness report page and its CSV (ivr/workorders/reports.py computes the figures)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from aiohttp import web

from agent_console.auth import require
from agent_console.i18n import Catalog, order_type_label
from agent_console.orders.views import order_page
from agent_console.qa.export import neutralise_cell
from agent_console.render import csrf_of
from agent_console.roles import ORDER_BOARD_ROLES
from agent_console.views import catalog
from ivr import keys
from ivr.errors import InvalidInput
from ivr.workorders import ORDERS
from ivr.workorders.reports import GROUPS, ReportRow, timeliness

MAX_DAYS = 366


def _period(query: Any, zone: dt.tzinfo) -> tuple[dt.date, dt.date, str]:
    today = dt.datetime.now(zone).date()
    try:
        since = dt.date.fromisoformat(query.get("since", "")) if query.get("since") else today.replace(day=1)
        until = dt.date.fromisoformat(query.get("until", "")) if query.get("until") else today
    except ValueError:
        raise InvalidInput("dates are YYYY-MM-DD", field="since") from None
    group = str(query.get("group", "unit"))
    if group not in GROUPS:
        raise InvalidInput(f"group by one of {', '.join(GROUPS)}", field="group")
    if until < since or (until - since).days > MAX_DAYS:
        raise InvalidInput(f"a period of 1 to {MAX_DAYS} days, from before to", field="until")
    return since, until, group


async def _rows(request: web.Request) -> tuple[dt.date, dt.date, str, list[ReportRow]]:
    zone = request.app[keys.SETTINGS].hotline.zone
    since, until, group = _period(request.query, zone)
    start = dt.datetime(since.year, since.month, since.day, tzinfo=zone).astimezone(dt.timezone.utc)
    end = dt.datetime(until.year, until.month, until.day, tzinfo=zone).astimezone(dt.timezone.utc) + dt.timedelta(days=1)
    rows = await timeliness(request.app[keys.DB], since=start, until=end, group=group, zone=zone,
                            now=dt.datetime.now(dt.timezone.utc))
    return since, until, group, rows


def _label(c: Catalog, group: str, key: str, units: dict[str, str]) -> str:
    if key == "":
        return "合计" if c.lang == "zh" else "Total"
    if group == "unit":
        return units.get(key, key) or "—"
    if group == "type":
        return order_type_label(key, c.lang)
    return key


@require(*ORDER_BOARD_ROLES, page=True)
async def reports_page(request: web.Request) -> web.Response:
    c = catalog(request)
    since, until, group, rows = await _rows(request)
    units = {u.code: u.name for u in await request.app[ORDERS].units(active_only=False)}
    return await order_page(request, "orders/reports.html", c.t("wo.title.reports"), "orderreports", {
        "rows": [{**r.as_dict(), "label": _label(c, group, r.key, units)} for r in rows],
        "form": {"since": since.isoformat(), "until": until.isoformat(), "group": group}, "groups": GROUPS,
        "csv_url": f"/orders/reports.csv?since={since}&until={until}&group={group}", "csrf": csrf_of(request)})


@require(*ORDER_BOARD_ROLES)
async def reports_csv(request: web.Request) -> web.Response:
    c = catalog(request)
    since, until, group, rows = await _rows(request)
    units = {u.code: u.name for u in await request.app[ORDERS].units(active_only=False)}
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([c.t("wo.r.key"), c.t("wo.r.orders"), c.t("wo.r.dispatch"), c.t("wo.r.contact"),
                c.t("wo.r.finish"), c.t("wo.r.returns"), c.t("wo.r.extensions"),
                c.t("wo.r.open_overdue")])
    for r in rows:
        d = r.as_dict()
        pct = [("" if d[k] is None else f"{d[k]:.1f}") for k in ("dispatch_pct", "contact_pct", "finish_pct")]
        # unit names and codes are operator text: never a formula in a spreadsheet
        w.writerow([neutralise_cell(_label(c, group, r.key, units)), d["orders"], *pct, d["returns"],
                    d["extensions"], d["open_overdue"]])
    name = f"workorders-{group}-{since}-{until}.csv"
    return web.Response(body=("\ufeff" + out.getvalue()).encode("utf-8"), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"',
                                 "Cache-Control": "no-store"})
