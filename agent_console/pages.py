"""The login page, the agent page and the wallboard, rendered from templates/ (see agent_console/render.py).
The live parts are filled by small vanilla scripts in static/ (no build step) from the page's JSON block."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent_console.i18n import CATEGORIES, Catalog, order_type_label
from agent_console.render import render
from ivr.db.models import WorkOrderType


def login_page(request: web.Request, c: Catalog, *, error: str = "", next_url: str = "/",
               agent_id: str = "") -> web.Response:
    return render(request, "login.html", c, {"title": c.t("app.title"), "error": error, "next_url": next_url,
                                             "agent_id": agent_id})


def agent_page(request: web.Request, c: Catalog, *, config: dict[str, Any],
               units: list[tuple[str, str]] | None = None) -> web.Response:
    # A callback request is what the IVR makes of a message; an agent files the caller's matter itself.
    kinds = [(k.value, order_type_label(k.value, c.lang)) for k in WorkOrderType
             if k is not WorkOrderType.CALLBACK_REQUEST]
    return render(request, "agent.html", c, {
        "title": c.t("app.title"), "current": "agent", "live": True, "config": config,
        "scripts": ("console.js", "agent.js"), "categories": CATEGORIES, "order_types": kinds,
        "units": units or []})


def wallboard_page(request: web.Request, c: Catalog, *, config: dict[str, Any]) -> web.Response:
    return render(request, "wallboard.html", c, {
        "title": c.t("wall.title"), "current": "wallboard", "live": True, "config": config,
        "scripts": ("chart.umd.js", "console.js", "wallboard.js")})


__all__ = ["agent_page", "login_page", "wallboard_page"]
