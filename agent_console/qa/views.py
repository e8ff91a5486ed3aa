"""HTTP handlers of the QA pages. Who may do what is decided by recordings/privacy.py through QaService; these
handlers only turn its answers into pages, JSON and status codes:

    Service errors (recordings/qa/exceptions.py) go to the console's error middleware; rubric not loaded -> 503.

Pages answer an anonymous browser with the login redirect, the JSON routes and the audio with 401.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
import math
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from agent_console.access import PLAY, SEEK, VIEW_TRANSCRIPT, log_read
from agent_console.auth import Principal, json_error, principal_of, require
from agent_console.i18n import CATEGORIES
from agent_console.inputs import ascii_int
from agent_console.qa.export import neutralise_csv
from agent_console.qa.filters import Choices, day_start, local_today, parse_filter
from agent_console.qa.i18n import QaCatalog
from agent_console.qa.keys import QA_SERVICE
from agent_console.qa.pages import (
    calibration_page,
    detail_page,
    list_page,
    message_html,
    message_page,
    mine_page,
    queue_page,
    spot_page,
    trends_page,
    unscorable_text,
)
from agent_console.roles import REVIEW_ROLES, SCORED_ROLES
from agent_console.views import catalog
from ivr import keys
from ivr.db.models import Agent, Call, Queue, Recording, Role
from recordings.privacy import Viewer, may_open_call, may_review
from ivr.errors import InvalidInput
from recordings.qa.exceptions import (AccessDenied, CommentTooLong, OwnCallsOnly, PointsNotANumber, QaNotFound,
                                      RecordingFileMissing, RecordingNotFound, RecordingPurged)
from recordings.qa.calibration import calibration_report
from recordings.qa.pending import speech_state
from recordings.qa.service import CallDetail, QaService, ScoreFilter
from recordings.qa.trends import team_trends

log = logging.getLogger(__name__)
TREND_DAYS = 14
MAX_COMMENT = 2000


def _catalog(request: web.Request) -> QaCatalog:
    return QaCatalog(catalog(request).lang)


def _viewer(p: Principal) -> Viewer:
    return Viewer(p.agent_pk, p.role)


def _service(request: web.Request, *, page: bool) -> QaService:
    svc = request.app.get(QA_SERVICE)
    if svc is None:
        c = _catalog(request)
        if page:
            raise web.HTTPServiceUnavailable(text=message_html(request, c, c.t("qa.unavailable")),
                                             content_type="text/html")
        raise web.HTTPServiceUnavailable(text=json.dumps({"error": c.t("qa.unavailable")}, ensure_ascii=False),
                                         content_type="application/json")
    return svc


def _page_error(request: web.Request, status: int, text: str) -> web.Response:
    return message_page(request, _catalog(request), text, status=status)


def _zone(request: web.Request) -> dt.tzinfo:
    return request.app[keys.SETTINGS].hotline.zone


def _id(request: web.Request, name: str) -> int:
    found = ascii_int(request.match_info[name])
    if found is None:
        raise web.HTTPNotFound()
    return found


async def _queues(request: web.Request) -> list[tuple[str, str]]:
    async with request.app[keys.DB].session() as s:
        rows = (await s.execute(select(Queue.name, Queue.display_name).order_by(Queue.name))).all()
    return [(name, label or name) for name, label in rows]


async def _choices(request: web.Request, svc: QaService) -> Choices:
    queues = await _queues(request)
    async with request.app[keys.DB].session() as s:
        agents = (await s.execute(select(Agent.id, Agent.agent_id, Agent.name).where(Agent.role != Role.QA)
                                  .order_by(Agent.agent_id))).all()
        teams = (await s.execute(select(Agent.team).where(Agent.team != "").distinct().order_by(Agent.team))
                 ).scalars().all()
    return Choices(agents=[(pk, aid, name) for pk, aid, name in agents],
                   queues=queues, categories=CATEGORIES,
                   teams=list(teams), rules=[(r.id, r.title) for r in svc.rubric.spec.rules])


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime) else value


def detail_json(d: CallDetail, queues: dict[str, str], request: web.Request) -> dict[str, Any]:
    score = None
    if d.score is not None:
        score = {k: _iso(v) for k, v in asdict(d.score).items()}
        score["unscorable_text"] = unscorable_text(request, _catalog(request), d.score.unscorable)
    call = {k: _iso(v) for k, v in d.call.items()}
    call["queue_label"] = queues.get(d.call["queue"], d.call["queue"])
    return {"call": call,
            "recordings": [{**r, "url": f"/qa/recordings/{r['id']}/audio"} for r in d.recordings],
            "segments": d.segments, "score": score, "rules": d.rules,
            "reviews": [{k: _iso(v) for k, v in r.items()} for r in d.reviews], "masked": d.masked}


# --- pages -------------------------------------------------------------------------------------------------


@require(page=True)
async def qa_list(request: web.Request) -> web.Response:
    p = principal_of(request)
    if p.role not in REVIEW_ROLES:
        raise web.HTTPFound("/qa/mine")
    svc = _service(request, page=True)
    choices = await _choices(request, svc)
    parsed = parse_filter(request.query, choices, _zone(request))
    items, total, unscorable, pending = [], 0, 0, 0
    if not parsed.errors:
        items, total = await svc.list_scores(_viewer(p), parsed.flt)
        if parsed.flt.unscorable is None:  # counted apart: how many of these have no verdict
            unscorable = (await svc.list_scores(_viewer(p), replace(parsed.flt, unscorable=True, limit=0)))[1]
        if parsed.flt.speech_pending is None:
            pending = (await svc.list_scores(_viewer(p), replace(parsed.flt, speech_pending=True, limit=0)))[1]
    c = _catalog(request)
    return list_page(request, c, form=parsed.form, choices=choices,
                     errors=[c.t("qa.f.bad", error=e) for e in parsed.errors], items=items, total=total,
                     page=parsed.page, unscorable=unscorable, pending=pending,
                     speech=await speech_state(request.app[keys.DB], request.app[keys.SETTINGS].vosk.model_path))


@require(*REVIEW_ROLES, page=True)
async def qa_review_queue(request: web.Request) -> web.Response:
    p = principal_of(request)
    items = await _service(request, page=True).review_queue(_viewer(p), limit=200)
    return queue_page(request, _catalog(request), items, dict(await _queues(request)),
                      speech=await speech_state(request.app[keys.DB], request.app[keys.SETTINGS].vosk.model_path))


@require(*REVIEW_ROLES, page=True)
async def qa_spot_checks(request: web.Request) -> web.Response:
    p = principal_of(request)
    items = await _service(request, page=True).spot_checks(_viewer(p), limit=200)
    return spot_page(request, _catalog(request), items, dict(await _queues(request)))


@require(*SCORED_ROLES, page=True)  # QA staff take no calls: they have no scores of their own
async def qa_mine(request: web.Request) -> web.Response:
    p = principal_of(request)
    svc = _service(request, page=True)
    viewer = _viewer(p)
    items, total = await svc.list_scores(viewer, ScoreFilter(agent_pk=p.agent_pk, limit=100))
    until = day_start(local_today(_zone(request)) + dt.timedelta(days=1), _zone(request))
    trends = await team_trends(svc, viewer, until - dt.timedelta(days=30), until, agent_pk=p.agent_pk)
    titles = {r.id: r.title for r in svc.rubric.spec.rules}
    return mine_page(request, _catalog(request), items, total, trends, titles, dict(await _queues(request)))


def _days(request: web.Request, c: QaCatalog, default_days: int) -> tuple[dt.date, dt.date] | web.Response:
    """The page's since/until days (the last default_days by default), or the 400 page saying what is wrong."""
    today = local_today(_zone(request))
    try:
        since = dt.date.fromisoformat(request.query.get("since") or str(today - dt.timedelta(days=default_days - 1)))
        until = dt.date.fromisoformat(request.query.get("until") or str(today))
    except ValueError:
        return _page_error(request, 400, c.t("qa.f.bad", error="日期请用 年-月-日（如 2026-03-01）"))
    if since > until or (until - since).days > 366:
        return _page_error(request, 400, c.t("qa.f.bad", error="日期范围须在一年以内，且开始不晚于结束"))
    return since, until


@require(*REVIEW_ROLES, page=True)
async def qa_trends(request: web.Request) -> web.Response:
    p = principal_of(request)
    svc = _service(request, page=True)
    c = _catalog(request)
    days = _days(request, c, TREND_DAYS)
    if isinstance(days, web.Response):
        return days
    since, until = days
    async with request.app[keys.DB].session() as s:
        me = await s.get(Agent, p.agent_pk)
        teams = list((await s.execute(select(Agent.team).where(Agent.team != "").distinct().order_by(Agent.team))
                      ).scalars())
    # A supervisor starts on their own team; "all" stays one click away (the form sends team="").
    team = request.query["team"] if "team" in request.query else (
        me.team if me is not None and p.role is Role.SUPERVISOR else "")
    trends = await team_trends(svc, _viewer(p), day_start(since, _zone(request)),
                               day_start(until + dt.timedelta(days=1), _zone(request)),
                               team=team[:64] or None)
    return trends_page(request, c, trends, since=str(since), until=str(until), team=team, teams=teams)


CALIBRATION_DAYS = 30


@require(*REVIEW_ROLES, page=True)
async def qa_calibration(request: web.Request) -> web.Response:
    """Where reviewers changed the machine's results, per rule and per reviewer (grader calibration)."""
    p = principal_of(request)
    svc = _service(request, page=True)
    c = _catalog(request)
    days = _days(request, c, CALIBRATION_DAYS)
    if isinstance(days, web.Response):
        return days
    since, until = days
    report = await calibration_report(svc, _viewer(p), day_start(since, _zone(request)),
                                      day_start(until + dt.timedelta(days=1), _zone(request)))
    return calibration_page(request, c, report, since=str(since), until=str(until))


@require(page=True)
async def qa_call_page(request: web.Request) -> web.Response:
    p, call_id = principal_of(request), _id(request, "call_id")
    svc = _service(request, page=True)
    c = _catalog(request)
    try:
        d = await svc.call_detail(_viewer(p), call_id)  # logs the allowed view itself
    except AccessDenied as exc:
        await log_read(request.app[keys.DB], p, VIEW_TRANSCRIPT, call_id=call_id, refused=str(exc))
        return _page_error(request, 403, c.t("qa.forbidden"))
    except QaNotFound:
        await log_read(request.app[keys.DB], p, VIEW_TRANSCRIPT, refused=f"no call {call_id}")
        return _page_error(request, 404, c.t("qa.not_found"))
    return detail_page(request, c, detail_json(d, dict(await _queues(request)), request),
                       may_review=may_review(p.role))


@require(*REVIEW_ROLES, page=True)
async def qa_export(request: web.Request) -> web.StreamResponse:
    p = principal_of(request)
    svc = _service(request, page=True)
    parsed = parse_filter(request.query, await _choices(request, svc), _zone(request))
    if parsed.errors:
        return json_error(400, "；".join(parsed.errors))
    out = io.StringIO()
    await svc.export_csv(_viewer(p), parsed.flt, out)
    name = f"qa-{local_today(_zone(request)):%Y%m%d}.csv"
    # The BOM makes Excel read the file as UTF-8 (Chinese headers and names); no-store and nosniff come from
    # agent_console.headers like every response's.
    return web.Response(body=("\ufeff" + neutralise_csv(out.getvalue())).encode("utf-8"), content_type="text/csv",
                        charset="utf-8", headers={"Content-Disposition": f'attachment; filename="{name}"'})


# --- audio -------------------------------------------------------------------------------------------------


AUDIO_CHUNK = 256 * 1024


def _byte_span(request: web.Request, size: int) -> tuple[int, int, bool] | None:
    """(start, end, partial) of what a request asks for from a file of `size` bytes; None when it cannot be
    served (a malformed or unsatisfiable Range: 416)."""
    try:
        rng = request.http_range
    except ValueError:
        return None
    if rng.start is None and rng.stop is None:
        return 0, size, False
    start = rng.start or 0
    if start < 0:  # bytes=-N: the last N bytes
        start, end = max(0, size + start), size
    else:
        end = min(rng.stop if rng.stop is not None else size, size)
    return (start, end, True) if start < size else None


def _read_chunk(path: Path, offset: int, count: int) -> bytes:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read(count)


@require()
async def qa_audio(request: web.Request) -> web.StreamResponse:
    """The recording for the <audio> element. Each request is checked and logged before a byte is sent: a
    listen from the start as "play", the byte ranges the player fetches when the listener jumps as "seek",
    refusals with their reason. A HEAD request and a range that cannot be served send no audio: no row."""
    p, rec_id = principal_of(request), _id(request, "recording_id")
    _service(request, page=False)
    db, viewer = request.app[keys.DB], _viewer(p)
    async with db.session() as s:
        rec = await s.get(Recording, rec_id)
        call = await s.get(Call, rec.call_id) if rec is not None else None
    if rec is None:
        await log_read(db, p, PLAY, refused=f"no recording {rec_id}")
        raise RecordingNotFound(f"no recording {rec_id}", recording_id=rec_id)
    if not may_open_call(viewer, call.agent_pk if call is not None else None):
        await log_read(db, p, PLAY, call_id=rec.call_id, recording_id=rec.id, refused="not the agent's own call")
        raise OwnCallsOnly(f"recording {rec_id} is not of this agent's calls", call_id=rec.call_id)
    if rec.purged_at is not None:
        await log_read(db, p, PLAY, call_id=rec.call_id, recording_id=rec.id, refused="purged")
        purged_on = f"{rec.purged_at.astimezone(_zone(request)):%Y-%m-%d}"
        raise RecordingPurged(f"recording {rec_id} was purged on {purged_on}", purged_on=purged_on)
    path = Path(rec.path)
    try:
        size = (await asyncio.to_thread(path.stat)).st_size
    except OSError:
        log.error("qa: recording %s is registered but its file %s is missing", rec_id, path)
        await log_read(db, p, PLAY, call_id=rec.call_id, recording_id=rec.id, refused="file missing")
        raise RecordingFileMissing(f"recording {rec_id}: its file is missing", recording_id=rec_id)
    span = _byte_span(request, size)
    if span is None:
        return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
    start, end, partial = span
    if request.method == "GET":
        await log_read(db, p, SEEK if start else PLAY, call_id=rec.call_id, recording_id=rec.id)
    response = web.StreamResponse(status=206 if partial else 200, headers={
        "Content-Type": "audio/wav", "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
        "Accept-Ranges": "bytes"})
    if partial:
        response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
    response.content_length = end - start
    await response.prepare(request)
    if request.method != "HEAD":
        offset = start
        while offset < end:
            chunk = await asyncio.to_thread(_read_chunk, path, offset, min(AUDIO_CHUNK, end - offset))
            if not chunk:
                break  # the file shrank under us; the client sees a short body
            await response.write(chunk)
            offset += len(chunk)
    await response.write_eof()
    return response


# --- JSON --------------------------------------------------------------------------------------------------


@require()
async def api_call(request: web.Request) -> web.Response:
    p, call_id = principal_of(request), _id(request, "call_id")
    try:
        # Masked for roles without the right to see personal numbers; logs the allowed view itself.
        d = await _service(request, page=False).call_detail(_viewer(p), call_id)
    except AccessDenied as exc:
        await log_read(request.app[keys.DB], p, VIEW_TRANSCRIPT, call_id=call_id, refused=str(exc))
        raise
    except QaNotFound:
        await log_read(request.app[keys.DB], p, VIEW_TRANSCRIPT, refused=f"no call {call_id}")
        raise
    return web.json_response(detail_json(d, dict(await _queues(request)), request))


def _points(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise PointsNotANumber("points must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise PointsNotANumber("points must be a number") from None
    if not math.isfinite(number):
        raise PointsNotANumber("points must be a finite number")
    return number


@require(*REVIEW_ROLES, csrf=True)
async def api_review(request: web.Request) -> web.Response:
    """An override (rule_id + points + reason), a comment on a rule, or the conclusion on the whole call."""
    p, call_id = principal_of(request), _id(request, "call_id")
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput("the body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    rule_id, comment = data.get("rule_id", ""), data.get("comment", "")
    if not isinstance(rule_id, str) or not isinstance(comment, str):
        raise InvalidInput("rule_id and comment must be strings")
    if len(comment) > MAX_COMMENT:
        raise CommentTooLong(f"a comment is limited to {MAX_COMMENT} characters", max=MAX_COMMENT)
    svc = _service(request, page=False)
    viewer = _viewer(p)
    review_id = await svc.review_call(viewer, call_id, rule_id=rule_id, points=_points(data.get("points")),
                                      comment=comment)
    d = await svc.call_detail(viewer, call_id)
    return web.json_response({"ok": True, "review_id": review_id,
                              "detail": detail_json(d, dict(await _queues(request)), request)})
