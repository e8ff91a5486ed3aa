"""HTTP handlers: login/logout, the agent page, the wallboard, the WebSocket, and the small JSON API the
pages call (state changes, hold/transfer/hang-up, wrap-up). Every handler states who may call it."""

from __future__ import annotations

import logging
import math
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import select

from agent_console import keys as ck
from agent_console.access import VIEW_POP, log_read
from agent_console.auth import (
    COOKIE,
    LOADER,
    LOGIN_LIMITER,
    PASSWORDS,
    SESSIONS,
    Principal,
    clear_cookie,
    client_address,
    json_error,
    principal_of,
    require,
    same_origin,
    set_cookie,
)
from agent_console.exceptions import LoginBusy, LoginLocked
from agent_console.hub import WALL, agent_audience
from agent_console.i18n import LANG_COOKIE, Catalog, request_catalog
from agent_console.inputs import ascii_int
from agent_console.pages import agent_page, login_page, wallboard_page
from agent_console.roles import PHONE_ROLES, WALL_ROLES
from agent_console.sessions import SESSION_STORE
from agent_console.wrapup import submit_wrap_up
from ivr import keys
from ivr.acd.exceptions import AgentStateError
from ivr.acd.service import ACD
from ivr.db.models import Agent, Call, Offer, Role
from ivr.errors import InvalidInput
from ivr.workorders import ORDERS
from recordings.privacy import mask_text, sees_pii

log = logging.getLogger(__name__)
# Who may read a call's screen pop (name, address, accounts, special-care note): the agents it was offered
# to, supervisors and admins. QA works on the QA pages, which show what scoring needs, masked.
POP_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.ADMIN)
catalog = request_catalog


def _safe_next(url: str) -> str:
    # Only local paths: an attacker's ?next=https://evil/ must not turn login into an open redirect.
    parts = urlsplit(url)
    return url if url.startswith("/") and not url.startswith("//") and not parts.netloc else "/"


async def load_principal(request: web.Request) -> Principal | None:
    # The session row and the agent row, every request: a revocation from any process counts at once.
    return await request.app[SESSION_STORE].load(request.cookies.get(COOKIE))


def home_of(role: Role) -> str:
    if role is Role.UNIT:
        return "/orders/unit"  # a responsible unit's staff work on their queue
    return "/wallboard" if role in (Role.SUPERVISOR, Role.QA) else "/agent"


# --- login / logout ----------------------------------------------------------------------------------------


async def login_form(request: web.Request) -> web.Response:
    principal = await request.app[LOADER](request)
    if principal is not None:
        raise web.HTTPFound(home_of(principal.role))
    return login_page(request, catalog(request), next_url=_safe_next(request.query.get("next", "/")))


async def login_submit(request: web.Request) -> web.Response:
    c = catalog(request)
    form = await request.post()
    login = str(form.get("agent_id", "")).strip()[:16]
    password = str(form.get("password", ""))
    next_url = _safe_next(str(form.get("next", "/")))
    if not same_origin(request):
        raise web.HTTPForbidden(text="cross-site login refused")
    settings = request.app[keys.SETTINGS]
    address = client_address(request, trusted_proxy=settings.console.trusted_proxy)
    limiter = request.app[LOGIN_LIMITER]

    def refused(key: str, status: int, **kw: object) -> web.Response:
        response = login_page(request, c, error=c.t(key, **kw), next_url=next_url, agent_id=login)
        response.set_status(status)
        return response

    try:
        # Counted before anything is awaited: parallel guesses cannot all get past a check of the count, and
        # the right password is refused as well once the limit is reached.
        attempt = limiter.reserve(login, address)
    except LoginLocked as exc:
        wait = int(exc.details["retry_after"])
        log.warning("console: login %r from %s refused for %d s: too many failures", login, address, wait)
        response = refused("login.locked", 429, minutes=max(1, math.ceil(wait / 60)))
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        async with request.app[keys.DB].session() as s:
            agent = (await s.execute(select(Agent).where(Agent.agent_id == login))).scalar_one_or_none()
        ok = await request.app[PASSWORDS](password, agent.password_hash if agent else None)
    except LoginBusy:
        limiter.release(attempt)
        response = refused("login.busy", 503)
        response.headers["Retry-After"] = "5"
        return response
    except BaseException:
        limiter.release(attempt)  # not checked: not a guess
        raise
    if agent is None or not ok:
        limiter.failed(attempt)
        return refused("login.failed", 200)
    limiter.succeeded(attempt)
    if not agent.active:
        return refused("login.inactive", 200)
    token, principal = await request.app[SESSION_STORE].open(agent, address)
    service = request.app.get(ck.CONSOLE)
    if service is not None and service.role_of(agent.id) is not agent.role:
        await service.reload_agents()  # a changed role: offers are masked by the role the service knows
    target = next_url if next_url not in ("/", "/login") else home_of(principal.role)
    response = web.HTTPFound(target)
    set_cookie(response, token, max_age=request.app[SESSIONS].ttl, secure=request.secure)
    raise response


@require(csrf=True)
async def logout(request: web.Request) -> web.Response:
    principal = principal_of(request)
    await request.app[SESSION_STORE].end(principal)  # in the database, and its sockets close now
    acd = request.app.get(ACD)
    if acd is not None and principal.role in PHONE_ROLES:
        try:
            await acd.logout(principal.agent_pk)
        except AgentStateError:
            pass  # on a call: the phone stays signed in until the call ends; the web session still ends
    response = web.HTTPFound("/login")
    clear_cookie(response)
    raise response


async def set_language(request: web.Request) -> web.Response:
    lang = request.query.get("set", "zh")
    back = request.headers.get("Referer", "/")
    target = urlsplit(back).path if urlsplit(back).netloc in ("", request.host) else "/"
    response = web.HTTPFound(_safe_next(target or "/"))
    if lang in ("zh", "en"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="Strict", path="/")
    raise response


@require(page=True)
async def home(request: web.Request) -> web.Response:
    raise web.HTTPFound(home_of(principal_of(request).role))


# --- pages ---------------------------------------------------------------------------------------------


def _page_config(request: web.Request, principal: Principal, c: Catalog) -> dict[str, Any]:
    return {"csrf": request.app[SESSIONS].csrf_token(principal.sid), "agent_pk": principal.agent_pk,
            "agent_id": principal.agent_id, "role": principal.role.value, "lang": c.lang, "i18n": c.for_js()}


@require(*PHONE_ROLES, page=True)
async def agent_view(request: web.Request) -> web.Response:
    p, c = principal_of(request), catalog(request)
    units = [(u.code, u.name) for u in await request.app[ORDERS].units()]  # where the wrap-up may send an order
    return agent_page(request, c, config=_page_config(request, p, c), units=units)


@require(*WALL_ROLES, page=True)
async def wallboard_view(request: web.Request) -> web.Response:
    p, c = principal_of(request), catalog(request)
    return wallboard_page(request, c, config=_page_config(request, p, c))


# --- WebSocket ---------------------------------------------------------------------------------------------


@require(activity=False)  # a page (re)connects by itself: not activity
async def websocket(request: web.Request) -> web.StreamResponse:
    p = principal_of(request)
    if not same_origin(request):
        raise web.HTTPForbidden(text="cross-site WebSocket refused")
    service = request.app[ck.CONSOLE]
    store = request.app[SESSION_STORE]

    async def on_message(data: dict[str, Any]) -> None:
        await store.touch(p)  # a message the page sent (the hub answers pings itself: they are not activity)
    view = request.query.get("view", "agent")
    since_text = request.query.get("since", "")
    since = ascii_int(since_text)
    if view == "wall":
        if p.role not in WALL_ROLES:
            raise web.HTTPForbidden(text="wallboard: supervisors only")
        return await service.hub.serve(request, audiences=frozenset({WALL}), agent_pk=p.agent_pk,
                                       snapshot=service.wall_snapshot, since=since, sid=p.sid,
                                       on_message=on_message)
    return await service.hub.serve(request, audiences=frozenset({agent_audience(p.agent_pk)}), agent_pk=p.agent_pk,
                                   snapshot=lambda: service.agent_snapshot(p.agent_pk, p.role), since=since,
                                   sid=p.sid, on_message=on_message)


# --- JSON API ------------------------------------------------------------------------------------------


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (ValueError, UnicodeDecodeError, RecursionError):  # JSONDecodeError is a ValueError
        raise InvalidInput("the body is not JSON") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    return data


@require(*PHONE_ROLES, csrf=True)
async def agent_state(request: web.Request) -> web.Response:
    p, data = principal_of(request), await _json(request)
    acd = request.app[ACD]
    action = data.get("action")
    if action == "login":
        await acd.login(p.agent_pk)
    elif action == "ready":
        await acd.set_ready(p.agent_pk)
    elif action == "not_ready":
        await acd.set_not_ready(p.agent_pk, str(data.get("reason", "")))
    elif action == "logout":
        await acd.logout(p.agent_pk)
    else:
        raise InvalidInput(f"unknown action {str(action)[:40]!r}", field="action")
    slot = acd.roster.get(p.agent_pk)
    return web.json_response({"ok": True, "state": slot.state.value if slot else None})


def _call_id(request: web.Request) -> int:
    found = ascii_int(request.match_info["call_id"])
    if found is None:
        raise web.HTTPNotFound()
    return found


@require(*PHONE_ROLES, csrf=True)
async def call_control(request: web.Request) -> web.Response:
    p, call_id, action = principal_of(request), _call_id(request), request.match_info["action"]
    data = await _json(request) if request.can_read_body else {}
    acd = request.app[ACD]
    if action == "hold":
        await acd.hold(call_id, p.agent_pk, True)
    elif action == "unhold":
        await acd.hold(call_id, p.agent_pk, False)
    elif action == "hangup":
        await acd.hangup(call_id, p.agent_pk)
    elif action == "transfer":
        await acd.transfer(call_id, p.agent_pk, str(data.get("queue", "")))
    else:
        raise web.HTTPNotFound()
    return web.json_response({"ok": True})


@require(*PHONE_ROLES, csrf=True)
async def wrap_up(request: web.Request) -> web.Response:
    p, call_id, data = principal_of(request), _call_id(request), await _json(request)
    result = await submit_wrap_up(request.app[keys.DB], request.app[ACD], request.app[ORDERS], p, call_id, data)
    return web.json_response({"ok": True, **result})


async def pop_access(db: Any, principal: Principal, call_id: int) -> tuple[Call | None, str | None]:
    """(the call or None, why this user may not read its screen pop, or None if they may): supervisors and
    admins any call, agents only the calls offered to them (an Offer row), nobody else."""
    async with db.session() as s:
        call = await s.get(Call, call_id)
        if principal.role not in POP_ROLES:
            return call, f"role {principal.role.value} may not read screen pops"
        if call is None:
            return None, f"no call {call_id}"
        if principal.role is not Role.AGENT or call.agent_pk == principal.agent_pk:
            return call, None
        mine = (await s.execute(select(Offer.id).where(Offer.call_id == call_id,
                                                       Offer.agent_pk == principal.agent_pk).limit(1))).first()
        return call, None if mine is not None else "not offered to this agent"


@require()
async def call_detail(request: web.Request) -> web.Response:
    p, call_id = principal_of(request), _call_id(request)
    db = request.app[keys.DB]
    call, refused = await pop_access(db, p, call_id)
    # Logged before anything is sent, refusals too: who tried to read which caller's record.
    await log_read(db, p, VIEW_POP, call_id=call.id if call is not None else None, refused=refused)
    if p.role not in POP_ROLES:
        return json_error(403, catalog(request).t("pop.refused"))
    if call is None or refused is not None:
        return json_error(404, "没有这个通话，或您无权查看")  # the same answer for both: no probing
    service = request.app[ck.CONSOLE]
    pop = await service.pop_for(call_id, p.role, cache=False)
    return web.json_response({"call": pop, "state": call.state.value, "outcome": call.outcome,
                              "category": call.category,
                              "notes": call.notes if sees_pii(p.role) else mask_text(call.notes)})


@require(activity=False)  # the pages ask by themselves (after a dropped socket): not activity
async def me(request: web.Request) -> web.Response:
    p = principal_of(request)
    # The CSRF token is readable only by same-origin scripts (no CORS here), like the one in the page.
    return web.json_response({"agent_pk": p.agent_pk, "agent_id": p.agent_id, "name": p.name, "role": p.role.value,
                              "csrf": request.app[SESSIONS].csrf_token(p.sid)})


@require(*WALL_ROLES)
async def wallboard_data(request: web.Request) -> web.Response:
    return web.json_response(await request.app[ck.CONSOLE].wall_snapshot())
