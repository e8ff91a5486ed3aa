"""What the console sends in HTTP headers, and which request headers it trusts.

One response hook (`security_headers`, on_response_prepare) gives every response its protective headers, so
no handler can forget them: pages get the Content-Security-Policy and frame ban, every non-static answer
(pages, JSON with personal data, CSV, audio) `Cache-Control: no-store`, everything `nosniff`; on TLS the
cookies are Secure and HSTS is sent.

Behind a TLS-terminating proxy the console sees plain HTTP; `[console] trusted_proxy` makes it believe the
proxy's X-Forwarded-Proto. The Origin check compares against `[console] origins`, or by default against the
address the connection really arrived at (never the Host header, which the client writes).
"""

from __future__ import annotations

import re

from aiohttp import hdrs, web

from ivr import keys
from ivr.settings import ConsoleSettings

# No inline script or style anywhere: page data travels as JSON in <script type="application/json">.
PAGE_CSP = ("default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
HSTS = "max-age=31536000"
STATIC_PREFIX = "/static/"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SECURE = re.compile(r";\s*secure\s*(;|$)", re.IGNORECASE)


def _console(request: web.Request) -> ConsoleSettings:
    return request.app[keys.SETTINGS].console


def on_tls(request: web.Request) -> bool:
    """True when the browser talks TLS to us: directly, or to the proxy we were told to trust."""
    if request.secure:
        return True
    if not _console(request).trusted_proxy:
        return False
    # The last value is the one our proxy wrote; anything before it came from the client.
    proto = request.headers.get("X-Forwarded-Proto", "").rsplit(",", 1)[-1].strip().lower()
    return proto == "https"


def origin_of(scheme: str, host: str, port: int) -> str:
    """An origin as browsers serialise it: no default port, IPv6 hosts in brackets."""
    name = f"[{host}]" if ":" in host else host
    return f"{scheme}://{name}" if _DEFAULT_PORTS.get(scheme) == port else f"{scheme}://{name}:{port}"


def console_origins(request: web.Request) -> frozenset[str]:
    """The origins a same-site browser request may carry (settings normalise the configured ones)."""
    cfg = _console(request)
    if cfg.origins:
        return frozenset(cfg.origins)
    # The socket's own address, not the Host header: a forged Host cannot make a foreign Origin look local.
    sock = request.transport.get_extra_info("sockname") if request.transport is not None else None
    port = int(sock[1]) if isinstance(sock, tuple) and len(sock) >= 2 else cfg.port
    hosts = {cfg.host, "127.0.0.1", "localhost"}
    if isinstance(sock, tuple) and sock:
        hosts.add(str(sock[0]))
    scheme = "https" if request.secure else "http"
    return frozenset(origin_of(scheme, h, p) for h in hosts for p in {port, cfg.port})


def _secure_cookies(response: web.StreamResponse) -> None:
    # aiohttp has already written the cookies into Set-Cookie headers when this hook runs; a cookie set after
    # the hook (none today) would still get the flag from its morsel.
    for morsel in response.cookies.values():
        morsel["secure"] = True
    values = response.headers.getall(hdrs.SET_COOKIE, [])
    if values:
        del response.headers[hdrs.SET_COOKIE]
        for value in values:
            response.headers.add(hdrs.SET_COOKIE, value if _SECURE.search(value) else f"{value}; Secure")


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: runs for every response, including raised HTTP errors and redirects."""
    if isinstance(response, web.WebSocketResponse):
        return
    h = response.headers
    h.setdefault("X-Content-Type-Options", "nosniff")
    tls = on_tls(request)
    if tls:
        h.setdefault("Strict-Transport-Security", HSTS)
    if tls or _console(request).secure_cookies:
        _secure_cookies(response)
    if request.path.startswith(STATIC_PREFIX):
        return  # scripts and styles: cacheable, no personal data
    h.setdefault("Cache-Control", "no-store")
    h.setdefault("Referrer-Policy", "same-origin")
    if response.content_type == "text/html":
        h["Content-Security-Policy"] = PAGE_CSP
        h["X-Frame-Options"] = "DENY"


def setup_headers(app: web.Application) -> None:
    app.on_response_prepare.append(security_headers)


__all__ = ["PAGE_CSP", "console_origins", "on_tls", "origin_of", "security_headers", "setup_headers"]
