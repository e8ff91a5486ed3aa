"""The QA pages, rendered from templates/qa/. Lists are rendered on the server (they work without scripts); the
call detail and the trend charts are drawn by scripts in static/qa/ from the JSON embedded in the page.

These functions only shape what the views hand them for the templates (formatting, query strings); the
layout, the role's navigation and the escaping are the templates' (agent_console/render.py).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from aiohttp import web

from agent_console.auth import principal_of
from agent_console.qa.filters import KEYWORD_HINTS, PAGE_SIZE, Choices, query_string
from agent_console.qa.i18n import QaCatalog
from agent_console.qa.keys import QA_SERVICE
from agent_console.render import csrf_of, render, render_page
from agent_console.roles import REVIEW_ROLES
from ivr import keys
from recordings.qa.calibration import Calibration
from recordings.qa.pending import SpeechState
from recordings.qa.service import ScoreItem
from recordings.qa.trends import Trends

STYLES = ("qa/qa.css",)


def local(at: dt.datetime | None, zone: dt.tzinfo) -> str:
    """A time as the hotline's people read it: in the hotline's timezone."""
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if at else ""


def num(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def unscorable_text(request: web.Request, c: QaCatalog, code: str) -> str:
    """Why a call has no verdict, in the viewer's language, with the rubric's minimum talk time."""
    svc = request.app.get(QA_SERVICE)
    least = svc.rubric.spec.unscorable.min_talk_seconds if svc is not None else 0
    return c.t(f"qa.unscorable.{code}", min=f"{least:g}") if code else ""


def _values(request: web.Request, c: QaCatalog, current: str, title: str, queues: dict[str, str] | None = None,
            **page: Any) -> dict[str, Any]:
    zone = request.app[keys.SETTINGS].hotline.zone
    return {"current": current, "title": title, "styles": STYLES, "num": num,
            "local": lambda at: local(at, zone), "unscorable_text": lambda code: unscorable_text(request, c, code),
            "queues": queues or {}, **page}


def _config(request: web.Request, c: QaCatalog, **data: Any) -> dict[str, Any]:
    """What the page's scripts read from its JSON block."""
    return {"csrf": csrf_of(request), "role": principal_of(request).role.value, "lang": c.lang,
            "i18n": c.for_js(), **data}


def message_page(request: web.Request, c: QaCatalog, text: str, *, status: int = 200) -> web.Response:
    return render(request, "qa/message.html", c, _values(request, c, "", c.t("qa.title"), text=text), status=status)


def message_html(request: web.Request, c: QaCatalog, text: str) -> str:
    """The same page as text, for an HTTP error raised with it (e.g. 503 when the rubric is missing)."""
    return render_page(request, "qa/message.html", c, _values(request, c, "", c.t("qa.title"), text=text))


def _failed(i: ScoreItem, titles: dict[str, str]) -> str:
    return "、".join(titles.get(r, r) for r in i.failed_rules)


def list_page(request: web.Request, c: QaCatalog, *, form: dict[str, str], choices: Choices, errors: list[str],
              items: list[ScoreItem], total: int, page: int, unscorable: int = 0, pending: int = 0,
              speech: SpeechState | None = None) -> web.Response:
    titles = dict(choices.rules)
    pages = max(1, math.ceil(total / PAGE_SIZE))
    export = query_string(form)
    return render(request, "qa/list.html", c, _values(
        request, c, "list", c.t("qa.title"), dict(choices.queues), form=form, choices=choices, errors=errors,
        agents=[(aid, f"{aid} {name}") for _, aid, name in choices.agents],
        categories=[(x, x) for x in choices.categories], teams=[(x, x) for x in choices.teams],
        results=[("pass", c.t("qa.result.pass")), ("fail", c.t("qa.result.fail")),
                 ("pending", c.t("qa.result.pending")), ("unscorable", c.t("qa.result.unscorable"))],
        keyword_hints=KEYWORD_HINTS, unscorable=unscorable, pending=pending, speech=speech,
        export_url="/qa/export.csv" + (f"?{export}" if export else ""),
        rows=[(i, _failed(i, titles)) for i in items], total=total, page=page, pages=pages,
        prev_url=f"/qa?{query_string(form, page=page - 1)}" if page > 1 else None,
        next_url=f"/qa?{query_string(form, page=page + 1)}" if page < pages else None))


def queue_page(request: web.Request, c: QaCatalog, items: list[ScoreItem], queues: dict[str, str],
               speech: SpeechState | None = None) -> web.Response:
    rows = [(i, "；".join(i.review_reasons)) for i in items]
    return render(request, "qa/review.html", c, _values(request, c, "review", c.t("qa.nav.review"), queues, rows=rows,
                                                        speech=speech))


def spot_page(request: web.Request, c: QaCatalog, items: list[ScoreItem], queues: dict[str, str]) -> web.Response:
    rows = [(i, c.t("qa.spot.why")) for i in items]
    return render(request, "qa/spot.html", c, _values(request, c, "spot", c.t("qa.nav.spot"), queues, rows=rows))


def calibration_page(request: web.Request, c: QaCatalog, report: Calibration, *, since: str,
                     until: str) -> web.Response:
    return render(request, "qa/calibration.html", c, _values(
        request, c, "calibration", c.t("qa.nav.calibration"), report=report, since=since, until=until))


def mine_page(request: web.Request, c: QaCatalog, items: list[ScoreItem], total: int, trends: Trends,
              titles: dict[str, str], queues: dict[str, str]) -> web.Response:
    return render(request, "qa/mine.html", c, _values(
        request, c, "mine", c.t("qa.mine.title"), queues, rows=[(i, _failed(i, titles)) for i in items], total=total,
        trends=trends))


def trends_page(request: web.Request, c: QaCatalog, trends: Trends, *, since: str, until: str, team: str,
                teams: list[str]) -> web.Response:
    return render(request, "qa/trends.html", c, _values(
        request, c, "trends", c.t("qa.t.title"), trends=trends, since=since, until=until, team=team,
        teams=[(x, x) for x in teams], scripts=("chart.umd.js", "console.js", "qa/qa-trends.js"),
        config=_config(request, c, trends=trends.as_json())))


def detail_page(request: web.Request, c: QaCatalog, detail: dict[str, Any], *, may_review: bool) -> web.Response:
    return render(request, "qa/detail.html", c, _values(
        request, c, "", c.t("qa.d.title"), may_review=may_review, scripts=("console.js", "qa/qa-detail.js"),
        config=_config(request, c, detail=detail, may_review=may_review)))


__all__ = ["REVIEW_ROLES", "calibration_page", "detail_page", "list_page", "local", "message_html", "message_page", "mine_page", "num",
           "queue_page", "spot_page", "trends_page"]
