"""Work-order pages of the console: a unit's queue, an agent's own orders, the supervisors' list, alerts,
reports, one order's card; the JSON API their buttons (and the 12345 platform) call.

    setup_orders(app)   # called by agent_console.setup_console; needs ivr.workorders.ORDERS
"""

from __future__ import annotations

from aiohttp import web

from agent_console.orders import reports, views


def setup_orders(app: web.Application) -> None:
    r = app.router
    r.add_get("/orders", views.all_page)
    r.add_get("/orders/unit", views.unit_page)
    r.add_get("/orders/mine", views.mine_page)
    r.add_get("/orders/alerts", views.alerts_page)
    r.add_get("/orders/reports", reports.reports_page)
    r.add_get("/orders/reports.csv", reports.reports_csv)
    r.add_get("/orders/{order_id}", views.detail_page)
    r.add_get("/api/orders/alerts", views.api_alerts)
    r.add_post("/api/orders/forwarded", views.api_forwarded)
    r.add_post("/api/orders/{order_id}/{event}", views.api_action)


__all__ = ["setup_orders"]
