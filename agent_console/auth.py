"""Console authentication: bcrypt passwords, an HMAC-signed session cookie, CSRF tokens, role checks.

The cookie carries who the user is and when the session ends, signed with settings.console.secret; it is
HttpOnly and SameSite=Strict, so no other site can make the browser send it. Every request still reads the
agent row, so a deactivated agent or a changed role takes effect at once. Logout revokes the session id in
memory (sessions of a restarted service stay valid until they expire, which is the point of a signed cookie).
Form posts and API calls carry a CSRF token derived from the session; the WebSocket checks Origin.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import bcrypt
from aiohttp import web

from agent_console.headers import console_origins
from ivr.db.models import Agent, Role

COOKIE = "hotline_session"
CSRF_HEADER = "X-CSRF-Token"
BCRYPT_ROUNDS = 12
MAX_FAILURES = 5
LOCKOUT_SECONDS = 60.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def hash_password(password: str, *, rounds: int = BCRYPT_ROUNDS) -> str:
    """A bcrypt hash for Agent.password_hash (demo data, CLI). Blocking: call it off the event loop."""
    if len(password) < 6:
        raise ValueError("密码至少6位")
    if len(password.encode("utf-8")) > 72:
        raise ValueError("密码不能超过72字节")  # bcrypt ignores the rest: refuse rather than truncate silently
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds=rounds)).decode("ascii")


def password_matches(password: str, password_hash: str) -> bool:
    """Blocking (bcrypt): use check_password from async code."""
    try:
        return bcrypt.checkpw(password.encode("utf-8")[:72], password_hash.encode("ascii"))
    except ValueError:  # not a bcrypt hash (e.g. an account created without a password)
        return False


async def check_password(password: str, password_hash: str) -> bool:
    return await asyncio.to_thread(password_matches, password, password_hash)


@dataclass(frozen=True)
class Principal:
    agent_pk: int
    agent_id: str
    name: str
    role: Role
    sid: str
    expires: float

    def has(self, *roles: Role) -> bool:
        return self.role in roles


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Sessions:
    """Issues and reads signed session tokens; tracks logouts and failed logins (per process)."""

    def __init__(self, secret: str, ttl_seconds: float, *, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("console.secret must be at least 16 characters")
        self._key = hashlib.sha256(b"hotline-console|" + secret.encode("utf-8")).digest()
        self.ttl = ttl_seconds
        self._clock = clock
        self._revoked: dict[str, float] = {}
        self._failures: dict[str, tuple[int, float]] = {}

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    def issue(self, agent: Agent) -> tuple[str, Principal]:
        now = self._clock()
        p = Principal(agent_pk=agent.id, agent_id=agent.agent_id, name=agent.name, role=agent.role,
                      sid=secrets.token_urlsafe(16), expires=now + self.ttl)
        payload = json.dumps({"pk": p.agent_pk, "sid": p.sid, "exp": int(p.expires)}, separators=(",", ":"))
        body = _b64(payload.encode("utf-8"))
        return f"{body}.{self._sign(body.encode('ascii'))}", p

    def read(self, token: str | None) -> tuple[int, str, float] | None:
        """(agent pk, session id, expiry) of a valid, unexpired, not revoked token; None otherwise."""
        if not token or token.count(".") != 1:
            return None
        body, sig = token.split(".")
        if not hmac.compare_digest(sig, self._sign(body.encode("ascii", "replace"))):
            return None
        try:
            data = json.loads(_unb64(body))
            pk, sid, exp = int(data["pk"]), str(data["sid"]), float(data["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        if exp <= self._clock() or sid in self._revoked:
            return None
        return pk, sid, exp

    def revoke(self, sid: str, expires: float) -> None:
        now = self._clock()
        self._revoked = {s: e for s, e in self._revoked.items() if e > now}
        self._revoked[sid] = expires

    def csrf_token(self, sid: str) -> str:
        return self._sign(b"csrf|" + sid.encode("ascii"))

    def csrf_ok(self, principal: Principal, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(principal.sid))

    # brute-force brake: a few wrong passwords lock the login for a minute
    def locked(self, login: str) -> bool:
        count, since = self._failures.get(login, (0, 0.0))
        return count >= MAX_FAILURES and self._clock() - since < LOCKOUT_SECONDS

    def failed(self, login: str) -> None:
        count, since = self._failures.get(login, (0, 0.0))
        now = self._clock()
        if now - since >= LOCKOUT_SECONDS:
            count, since = 0, now
        self._failures[login] = (count + 1, since)

    def succeeded(self, login: str) -> None:
        self._failures.pop(login, None)


PrincipalLoader = Callable[[web.Request], Awaitable[Principal | None]]
LOADER: web.AppKey[PrincipalLoader] = web.AppKey("console_principal_loader")
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("console_principal", Principal)


def same_origin(request: web.Request) -> bool:
    """Browsers send Origin on WebSocket upgrades and POSTs; it must be one of the console's own origins
    ([console] origins, or the address the connection came in on), never what the Host header claims."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # non-browser clients (tests, curl) do not send it; the cookie is SameSite=Strict anyway
    return origin.lower() in console_origins(request)


def require(*roles: Role, page: bool = False, csrf: bool = False) -> Callable[[Handler], Handler]:
    """Handler decorator: a logged-in user with one of the roles (any role if none given).

    page=True answers an anonymous browser with a redirect to the login form instead of 401; csrf=True checks
    the token (form field `csrf` or header X-CSRF-Token) and the Origin header.
    """

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def inner(request: web.Request) -> web.StreamResponse:
            principal = await request.app[LOADER](request)
            if principal is None:
                if page:
                    raise web.HTTPFound(f"/login?next={request.rel_url.path}")
                raise web.HTTPUnauthorized(text=json.dumps({"error": "请先登录"}), content_type="application/json")
            if roles and principal.role not in roles:
                raise web.HTTPForbidden(text=json.dumps({"error": "无权访问"}), content_type="application/json")
            if csrf:
                token = request.headers.get(CSRF_HEADER)
                if token is None and request.content_type in ("application/x-www-form-urlencoded",
                                                              "multipart/form-data"):
                    token = str((await request.post()).get("csrf", ""))
                sessions: Sessions = request.app[SESSIONS]
                if not same_origin(request) or not sessions.csrf_ok(principal, token):
                    raise web.HTTPForbidden(text=json.dumps({"error": "请求校验失败，请刷新页面"}),
                                            content_type="application/json")
            request[PRINCIPAL] = principal
            return await handler(request)

        return inner

    return wrap


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]


SESSIONS: web.AppKey[Sessions] = web.AppKey("console_sessions")


def set_cookie(response: web.StreamResponse, token: str, *, max_age: float, secure: bool) -> None:
    response.set_cookie(COOKIE, token, max_age=int(max_age), httponly=True, samesite="Strict", secure=secure,
                        path="/")


def clear_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/")


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)
