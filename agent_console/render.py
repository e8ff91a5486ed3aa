"""Server-rendered pages: Jinja2 templates (agent_console/templates/) through aiohttp-jinja2, autoescaping on.

Every page extends templates/base.html: the title bar with the navigation of the user's role, the language
switch and the logout form. Templates get `t` (the message catalog of the page's language) and never build
markup from data by hand. The live parts are drawn by the scripts in static/ from the page's JSON block
(`page_json`), which the browser never executes and no data can close early.

    setup_templates(app)                           # once, by agent_console.setup_console
    render(request, "agent.html", catalog, {...})  # a text/html response
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from agent_console.auth import PRINCIPAL, SESSIONS
from agent_console.i18n import Catalog
from agent_console.roles import (ORDER_BOARD_ROLES, PHONE_ROLES, REVIEW_ROLES, SCORED_ROLES, UNIT_ROLES,
                                 WALL_ROLES)
from ivr.db.models import Role

TEMPLATES: web.AppKey[jinja2.Environment] = web.AppKey("console_templates", jinja2.Environment)
STATIC = "/static/console"

# Inside <script type="application/json"> the HTML parser ends the element at "</script" and treats "<!--"
# specially; \u003c and friends are the same JSON strings to JSON.parse, and no data can form either.
_JSON_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028",
                 0x2029: "\\u2029"}


def page_json(data: Any) -> Markup:
    """JSON safe to embed in an HTML element's text (a filter: `{{ config|page_json }}`)."""
    return Markup(json.dumps(data, ensure_ascii=False, separators=(",", ":")).translate(_JSON_ESCAPES))


@dataclass(frozen=True)
class NavLink:
    key: str  # the link's id is nav-<key>; pages name their own key as `current`
    href: str
    label: str  # message key
    roles: tuple[Role, ...]


NAV = (
    NavLink("agent", "/agent", "app.title", PHONE_ROLES),
    NavLink("wallboard", "/wallboard", "wall.title", WALL_ROLES),
    NavLink("list", "/qa", "qa.nav.list", REVIEW_ROLES),
    NavLink("review", "/qa/review", "qa.nav.review", REVIEW_ROLES),
    NavLink("spot", "/qa/spot-check", "qa.nav.spot", REVIEW_ROLES),
    NavLink("trends", "/qa/trends", "qa.nav.trends", REVIEW_ROLES),
    NavLink("calibration", "/qa/calibration", "qa.nav.calibration", REVIEW_ROLES),
    NavLink("mine", "/qa/mine", "qa.nav.mine", SCORED_ROLES),
    NavLink("unitqueue", "/orders/unit", "wo.nav.unit", UNIT_ROLES),
    NavLink("myorders", "/orders/mine", "wo.nav.mine", PHONE_ROLES),
    NavLink("orders", "/orders", "wo.nav.all", ORDER_BOARD_ROLES),
    NavLink("orderalerts", "/orders/alerts", "wo.nav.alerts", ORDER_BOARD_ROLES),
    NavLink("orderreports", "/orders/reports", "wo.nav.reports", ORDER_BOARD_ROLES),
)


def nav_for(role: Role) -> list[NavLink]:
    return [link for link in NAV if role in link.roles]


def setup_templates(app: web.Application) -> jinja2.Environment:
    env = aiohttp_jinja2.setup(
        app, app_key=TEMPLATES, loader=jinja2.PackageLoader("agent_console", "templates"), autoescape=True,
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, auto_reload=False,
        default_helpers=False)
    env.globals.pop("app", None)  # templates render what the handler hands them, not the application
    env.globals["static"] = STATIC
    env.filters["page_json"] = page_json
    return env


def csrf_of(request: web.Request) -> str:
    principal = request.get(PRINCIPAL)
    return request.app[SESSIONS].csrf_token(principal.sid) if principal is not None else ""


def _texts(catalog: Catalog) -> Catalog:
    # The layout's navigation names QA pages, so every page gets the QA catalog (a superset of the console's).
    # Imported here: the QA package imports the console's views, which import this module.
    from agent_console.qa.i18n import QaCatalog

    return catalog if isinstance(catalog, QaCatalog) else QaCatalog(catalog.lang)


def context(request: web.Request, catalog: Catalog, values: Mapping[str, Any]) -> dict[str, Any]:
    """The layout's variables (user, navigation, language), then the page's own."""
    texts = _texts(catalog)
    principal = request.get(PRINCIPAL)
    base: dict[str, Any] = {
        "t": texts.t, "lang": texts.lang, "other_lang": "en" if texts.lang == "zh" else "zh",
        "user": principal, "csrf": csrf_of(request), "nav": nav_for(principal.role) if principal else [],
        "current": "", "styles": (), "scripts": (), "config": None, "live": False,
    }
    return {**base, **values}


def render_page(request: web.Request, template: str, catalog: Catalog, values: Mapping[str, Any]) -> str:
    return aiohttp_jinja2.render_string(template, request, context(request, catalog, values), app_key=TEMPLATES)


def render(request: web.Request, template: str, catalog: Catalog, values: Mapping[str, Any], *,
           status: int = 200) -> web.Response:
    """A text/html page; its security headers come from agent_console.headers like every response's."""
    return aiohttp_jinja2.render_template(template, request, context(request, catalog, values),
                                          app_key=TEMPLATES, status=status)


__all__ = ["NAV", "TEMPLATES", "NavLink", "context", "csrf_of", "nav_for", "page_json", "render", "render_page",
           "setup_templates"]
