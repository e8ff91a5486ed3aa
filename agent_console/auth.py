"""Console authentication: bcrypt passwords, an HMAC-signed session cookie, CSRF tokens, role checks.

The cookie carries who the user is, the session id and when the session ends, signed with
settings.console.secret; it is HttpOnly and SameSite=Strict, so no other site can make the browser send it.
The signature only says the cookie was issued here: whether the session still counts (logout, a disabled
account, a changed role or password, the idle timeout) is the console_sessions row's to say (see
agent_console/sessions.py), read with the agent row on every request.
Form posts and API calls carry a CSRF token derived from the session; the WebSocket checks Origin.

Logins are braked before the password is checked (LoginLimiter: an attempt is counted when it starts, so
parallel guesses cannot get past the limit) and bcrypt runs at most a few at a time (PasswordChecker), so a
login flood neither succeeds nor starves the call engine of its event loop and threads.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import functools
import hashlib
import hmac
import ipaddress
import json
import math
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import bcrypt
from aiohttp import web

from agent_console.exceptions import LoginBusy, LoginLocked
from agent_console.headers import console_origins
from ivr.db.models import Agent, Role

COOKIE = "hotline_session"
CSRF_HEADER = "X-CSRF-Token"
BCRYPT_ROUNDS = 12

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


PasswordCheck = Callable[[str, str], bool]
# The blocking check the console uses (password_matches unless the app sets another before start-up).
PASSWORD_CHECK: web.AppKey[PasswordCheck] = web.AppKey("console_password_check")
PASSWORDS: web.AppKey["PasswordChecker"] = web.AppKey("console_passwords")
LOGIN_LIMITER: web.AppKey["LoginLimiter"] = web.AppKey("console_login_limiter")


class PasswordChecker:
    """bcrypt checks, at most `concurrency` at once on the default thread pool, which the call engine's
    to_thread work shares; beyond `max_waiting` queued checks a login is answered "busy" (LoginBusy) at once
    instead of queueing without bound."""

    def __init__(self, check: PasswordCheck = password_matches, *, concurrency: int = 2,
                 max_waiting: int = 32) -> None:
        self._check = check
        self._slots = asyncio.Semaphore(concurrency)
        self._max_waiting = max_waiting
        self._waiting = 0
        self._dummy: str | None = None

    async def __call__(self, password: str, password_hash: str | None) -> bool:
        """Whether the password matches; None (no such agent) costs the same bcrypt work and is False."""
        if self._waiting >= self._max_waiting:
            raise LoginBusy("too many logins being checked", waiting=self._waiting)
        self._waiting += 1
        try:
            async with self._slots:
                if password_hash is None:
                    # Same answer and the same bcrypt cost whether or not the agent exists: no guessing IDs.
                    if self._dummy is None:
                        self._dummy = await asyncio.to_thread(hash_password, secrets.token_urlsafe(12))
                    await asyncio.to_thread(self._check, password, self._dummy)
                    return False
                return await asyncio.to_thread(self._check, password, password_hash)
        finally:
            self._waiting -= 1


# --- login limits ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginPolicy:
    """Failures counted in a sliding window; a key is locked while it has `limit` failures in the window.

    pair: one login from one address (the usual brake on guessing one password); address: one address over
    all logins (password spraying); account: one login over all addresses. With the defaults one address
    adds at most max_failures to an account's count, so locking an account for everyone takes
    account_max_failures / max_failures addresses (4): an outsider on one address cannot lock an agent out.
    """

    window_seconds: float = 900.0
    max_failures: int = 5
    address_max_failures: int = 20
    account_max_failures: int = 20

    @classmethod
    def from_settings(cls, console: Any) -> "LoginPolicy":
        return cls(window_seconds=console.login_window_minutes * 60, max_failures=console.login_max_failures,
                   address_max_failures=console.login_address_max_failures,
                   account_max_failures=console.login_account_max_failures)


@dataclass(eq=False)
class LoginAttempt:
    """A reserved attempt: counted as a failure from the moment it starts until it succeeds or is released."""

    login: str
    address: str
    at: float
    keys: tuple[tuple[str, ...], ...] = field(default_factory=tuple)
    settled: bool = False


class LoginLimiter:
    """In-memory counters of one service process (a restart forgets them; the lockout is a brake, the
    password hash is the wall). reserve() runs without awaiting, so on one event loop no two attempts can
    both see the count below the limit."""

    MAX_KEYS = 100_000  # a spray of random logins must not grow memory without bound

    def __init__(self, policy: LoginPolicy = LoginPolicy(), *, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._failures: dict[tuple[str, ...], collections.deque[float]] = {}
        self._pending: set[LoginAttempt] = set()  # reserved, being checked

    def _limits(self, login: str, address: str) -> list[tuple[tuple[str, ...], int]]:
        p = self.policy
        return [(("pair", login, address), p.max_failures), (("address", address), p.address_max_failures),
                (("account", login), p.account_max_failures)]

    def _recent(self, key: tuple[str, ...], now: float) -> collections.deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.policy.window_seconds:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def retry_after(self, login: str, address: str) -> float:
        """Seconds until an attempt from this address for this login is possible again (0: now)."""
        now = self._clock()
        wait = 0.0
        for key, limit in self._limits(login, address):
            times = self._recent(key, now)
            if times is not None and len(times) >= limit:
                # Unlocked when enough of the oldest failures have left the window.
                wait = max(wait, times[len(times) - limit] + self.policy.window_seconds - now)
        return wait

    def counts(self, login: str, address: str) -> tuple[int, ...]:
        """Failures (and attempts being checked) in the window: (this pair, this address, this login)."""
        now = self._clock()
        return tuple(len(self._recent(key, now) or ()) for key, _ in self._limits(login, address))

    def reserve(self, login: str, address: str) -> LoginAttempt:
        """Count an attempt before its password is checked; LoginLocked if any of its keys is at the limit."""
        wait = self.retry_after(login, address)
        if wait > 0:
            raise LoginLocked("too many failed logins", login=login, address=address,
                              retry_after=math.ceil(wait))
        now = self._clock()
        if len(self._failures) >= self.MAX_KEYS:
            self._prune(now)
        keys = tuple(key for key, _ in self._limits(login, address))
        for key in keys:
            self._failures.setdefault(key, collections.deque()).append(now)
        attempt = LoginAttempt(login, address, now, keys)
        self._pending.add(attempt)
        return attempt

    def _forget(self, attempt: LoginAttempt) -> None:
        if attempt.settled:
            return
        attempt.settled = True
        self._pending.discard(attempt)
        for key in attempt.keys:
            times = self._failures.get(key)
            if times is not None:
                try:
                    times.remove(attempt.at)
                except ValueError:
                    pass  # already out of the window
                if not times:
                    del self._failures[key]

    def failed(self, attempt: LoginAttempt) -> None:
        attempt.settled = True  # the reservation stays: it was a failure
        self._pending.discard(attempt)

    def release(self, attempt: LoginAttempt) -> None:
        """The attempt was not a guess after all (refused as busy before the check): uncount it."""
        self._forget(attempt)

    def succeeded(self, attempt: LoginAttempt) -> None:
        """The right password: this attempt and this pair's earlier failures are forgiven; what the address
        and the account collected elsewhere stays (knowing one password must not reset a spraying address)."""
        self._forget(attempt)
        pair = ("pair", attempt.login, attempt.address)
        # Guesses still being checked in parallel stay counted: a success must not launder them.
        still = sorted(a.at for a in self._pending if pair in a.keys)
        if still:
            self._failures[pair] = collections.deque(still)
        else:
            self._failures.pop(pair, None)

    def _prune(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        while len(self._failures) >= self.MAX_KEYS:  # still full of live keys: drop the oldest
            del self._failures[next(iter(self._failures))]


def client_address(request: web.Request, *, trusted_proxy: bool = False) -> str:
    """The address a login is counted against: the peer, or behind a trusted proxy the address the proxy
    appended to X-Forwarded-For (the last one: every earlier entry is whatever the client sent). IPv6
    addresses count per /64, which is what one subscriber usually gets."""
    text = request.remote or ""
    if trusted_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            text = last
    try:
        ip = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return text[:64] or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


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
    """Issues and reads signed session tokens (pure: whether a session still counts is SessionStore's)."""

    def __init__(self, secret: str, ttl_seconds: float, *, clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("console.secret must be at least 16 characters")
        self._key = hashlib.sha256(b"hotline-console|" + secret.encode("utf-8")).digest()
        self.ttl = ttl_seconds
        self._clock = clock

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
        """(agent pk, session id, expiry) of a token signed here and not expired; None otherwise."""
        # Cookies are attacker-chosen text: compare_digest refuses non-ASCII str (TypeError), so refuse first.
        if not token or not token.isascii() or token.count(".") != 1:
            return None
        body, sig = token.split(".")
        if not hmac.compare_digest(sig, self._sign(body.encode("ascii", "replace"))):
            return None
        try:
            data = json.loads(_unb64(body))
            pk, sid, exp = int(data["pk"]), str(data["sid"]), float(data["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        if exp <= self._clock():
            return None
        return pk, sid, exp

    def csrf_token(self, sid: str) -> str:
        return self._sign(b"csrf|" + sid.encode("ascii"))

    def csrf_ok(self, principal: Principal, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(principal.sid))


PrincipalLoader = Callable[[web.Request], Awaitable[Principal | None]]
LOADER: web.AppKey[PrincipalLoader] = web.AppKey("console_principal_loader")
# Called with the principal of every authenticated request that counts as activity (the idle timeout).
Activity = Callable[[Principal], Awaitable[None]]
ACTIVITY: web.AppKey[Activity] = web.AppKey("console_activity")
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("console_principal", Principal)


def same_origin(request: web.Request) -> bool:
    """Browsers send Origin on WebSocket upgrades and POSTs; it must be one of the console's own origins
    ([console] origins, or the address the connection came in on), never what the Host header claims."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # non-browser clients (tests, curl) do not send it; the cookie is SameSite=Strict anyway
    return origin.lower() in console_origins(request)


def require(*roles: Role, page: bool = False, csrf: bool = False,
            activity: bool = True) -> Callable[[Handler], Handler]:
    """Handler decorator: a logged-in user with one of the roles (any role if none given).

    page=True answers an anonymous browser with a redirect to the login form instead of 401; csrf=True checks
    the token (form field `csrf` or header X-CSRF-Token) and the Origin header. activity=False for requests
    a page makes by itself (the socket's upgrade, the login probe after a drop): they do not keep a session
    from going idle.
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
            touch = request.app.get(ACTIVITY)
            if activity and touch is not None:
                await touch(principal)
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
