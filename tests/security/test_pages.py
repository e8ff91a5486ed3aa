"""Pages and headers, tried as an attacker would against the real console (real aiohttp server, real sockets,
real database; the detail page also in real headless Chromium): data that tries to close the page's JSON
block, formulas in CSV exports, the headers that keep personal data out of caches and frames, a forged
Host + Origin pair, and the TLS-proxy settings."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
from typing import Any, Callable

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pydantic import ValidationError
from sqlalchemy import update

from agent_console.headers import PAGE_CSP
from agent_console.qa.export import neutralise_cell, neutralise_csv
from agent_console.render import NAV, page_json
from ivr.db.models import Agent, Call
from ivr.settings import ConsoleSettings
from tests.console.conftest import Console, agent_page, browser, console, http, login  # noqa: F401 (fixtures)
from tests.console.qa_helpers import QaWorld, seed_scored_calls

# A QA comment written to break out of the page's JSON block: an HTML comment opener followed by a script
# start tag makes the parser skip the real </script>; a plain </script> closes the block early.
EVIL_COMMENT = 'x</script><script src="/static/console/agent.js"></script><!--<script>&amp;"\u2028.'
CONFIG_RE = re.compile(r'<script id="config" type="application/json">(.*?)</script>', re.S)


async def scored(console: Callable[..., Any], **sections: Any) -> tuple[Console, TestServer, QaWorld]:
    c, server = await console(**sections)
    return c, server, await seed_scored_calls(c.db, c.settings)


def base(server: TestServer) -> str:
    return f"http://{server.host}:{server.port}"


async def comment(client: aiohttp.ClientSession, csrf: str, call_id: int, text: str) -> None:
    r = await client.post(f"/api/qa/calls/{call_id}/reviews", json={"rule_id": "", "comment": text},
                          headers={"X-CSRF-Token": csrf})
    assert r.status == 200, await r.text()


def test_page_json_escapes_markup_characters() -> None:
    text = page_json({"c": EVIL_COMMENT, "zh": "坐席"})
    assert not set(text) & set("<>&\u2028")
    assert json.loads(text) == {"c": EVIL_COMMENT, "zh": "坐席"}


async def test_qa_comment_cannot_break_the_detail_page(console: Callable[..., Any]) -> None:
    c, server, world = await scored(console)
    call = world.calls["forbidden"]
    async with http(server) as qa, http(server) as agent:
        await comment(qa, await login(qa, "2001"), call, EVIL_COMMENT)
        # The agent whose call it is opens it too: the comment must not run in anybody's page.
        await login(agent, "1024")
        for client in (qa, agent):
            r = await client.get(f"/qa/calls/{call}")
            assert r.status == 200
            page = await r.text()
            [block] = CONFIG_RE.findall(page)
            assert not set(block) & set("<>&")
            detail = json.loads(block)["detail"]
            assert [v["comment"] for v in detail["reviews"]] == [EVIL_COMMENT]
            # Only the page's own scripts, and the document ends where the template ends it.
            assert re.findall(r"<script[^>]*>", page) == [
                '<script src="/static/console/console.js" defer>', '<script src="/static/console/qa/qa-detail.js" defer>',
                '<script id="config" type="application/json">']
            assert "<!--" not in page and page.rstrip().endswith("</body></html>")


@pytest.mark.browser
async def test_qa_comment_in_chromium_the_page_script_still_runs(console: Callable[..., Any], browser: Any) -> None:
    c, server, world = await scored(console)
    call = world.calls["forbidden"]
    async with http(server) as qa:
        await comment(qa, await login(qa, "2001"), call, EVIL_COMMENT)
    page = await agent_page(browser, server, "2001", f"/qa/calls/{call}")
    await page.wait_for_function("() => document.body.dataset.ready === '1'")
    assert await page.locator("#reviews tbody tr .comment").all_text_contents() == [EVIL_COMMENT]
    # The injected tag never became an element: the only scripts are the page's.
    sources = await page.evaluate("() => [...document.scripts].map(s => s.src || s.type)")
    assert sources == [f"{base(server)}/static/console/console.js", f"{base(server)}/static/console/qa/qa-detail.js",
                       "application/json"]
    assert page.errors == []


def test_formula_cells_get_a_quote() -> None:
    for evil in ("=1+2", "+1+2", "-1+2", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://evil.example")'):
        assert neutralise_cell(evil) == "'" + evil
    for plain in ("-3", "+8613800138000", "96.67", "张伟", "a=b", "", "'=already"):
        assert neutralise_cell(plain) == plain
    table = neutralise_csv('id,name\r\n1,"=cmd|\' /C calc\'!A0"\r\n2,"line\r\n=two"\r\n')
    assert list(csv.reader(io.StringIO(table))) == [["id", "name"], ["1", "'=cmd|' /C calc'!A0"],
                                                    ["2", "line\r\n=two"]]


async def test_csv_export_neutralises_formulas(console: Callable[..., Any]) -> None:
    c, server, world = await scored(console)
    async with c.db.begin() as s:
        await s.execute(update(Agent).where(Agent.agent_id == "1024").values(name="=HYPERLINK(\"http://evil.example\")"))
        await s.execute(update(Call).where(Call.id == world.calls["good"]).values(category="@SUM(1+1)"))
        await s.execute(update(Call).where(Call.id == world.calls["late"]).values(category="-2+3"))
    async with http(server) as admin:
        await login(admin, "9001")
        r = await admin.get("/qa/export.csv")
        assert r.status == 200
        assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Content-Type-Options"] == "nosniff"
        rows = {int(x["通话ID"]): x for x in csv.DictReader(io.StringIO((await r.read()).decode("utf-8-sig")))}
    assert set(rows) == set(world.calls.values())
    assert rows[world.calls["good"]]["坐席姓名"] == "'=HYPERLINK(\"http://evil.example\")"
    assert rows[world.calls["good"]]["来电分类"] == "'@SUM(1+1)"
    assert rows[world.calls["late"]]["来电分类"] == "'-2+3"
    assert rows[world.calls["late"]]["坐席姓名"] == "刘志强"
    assert rows[world.calls["good"]]["来电号码"] == "13800138000"  # numbers are data, not formulas
    assert all(not cell.startswith(("=", "+", "-", "@")) or re.fullmatch(r"[+-]?\d+(\.\d+)?", cell)
               for row in rows.values() for cell in row.values())


async def test_security_headers_on_pages_json_and_errors(console: Callable[..., Any]) -> None:
    c, server, world = await scored(console)
    async with http(server) as anon:
        login_page = await anon.get("/login")
        assert login_page.headers["Content-Security-Policy"] == PAGE_CSP
    async with http(server) as qa:
        await login(qa, "2001")
        for path in ("/qa", "/qa/review", "/qa/trends", f"/qa/calls/{world.calls['good']}", "/wallboard",
                     "/qa/calls/99999999"):
            r = await qa.get(path)
            assert r.headers["Content-Type"].startswith("text/html"), path
            assert r.headers["Content-Security-Policy"] == PAGE_CSP and "frame-ancestors 'none'" in PAGE_CSP
            assert r.headers["X-Frame-Options"] == "DENY", path
            assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Content-Type-Options"] == "nosniff"
        # JSON with personal data (a masked transcript still names the caller's matter), errors included.
        for path, status in ((f"/api/qa/calls/{world.calls['good']}", 200), ("/api/me", 200),
                             ("/api/wallboard", 200), ("/api/calls/1", 403), ("/agent", 403)):
            r = await qa.get(path)
            assert r.status == status, path
            assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Content-Type-Options"] == "nosniff"
        static = await qa.get("/static/console/console.js")
        assert static.status == 200 and static.headers["X-Content-Type-Options"] == "nosniff"
        assert "no-store" not in static.headers.get("Cache-Control", "")  # scripts may be cached
        assert "Strict-Transport-Security" not in static.headers  # plain HTTP: no HSTS


async def test_navigation_shows_each_role_only_what_it_may_open(console: Callable[..., Any]) -> None:
    c, server, world = await scored(console)
    for agent_id in ("1001", "2001", "3001", "9001"):
        async with http(server) as client:
            await login(client, agent_id)
            page = await (await client.get("/qa/mine" if agent_id != "2001" else "/qa")).text()
            shown = dict(re.findall(r'<a href="([^"]+)" id="nav-([a-z]+)"', page))
            assert shown, agent_id
            for link in NAV:
                r = await client.get(link.href, allow_redirects=False)
                if link.href in shown:
                    assert r.status == 200, (agent_id, link.href)
                else:
                    assert r.status in (302, 403), (agent_id, link.href)


async def test_origin_check_ignores_a_forged_host(console: Callable[..., Any]) -> None:
    c, server = await console()
    own = base(server)
    async with http(server) as agent:
        csrf = await login(agent, "1001")
        h = {"X-CSRF-Token": csrf}
        # A page on evil.example whose request says Host: evil.example was accepted when Origin was compared
        # with the Host header.
        r = await agent.post("/api/agent/state", json={"action": "login"},
                             headers={**h, "Host": "evil.example", "Origin": "http://evil.example"})
        assert r.status == 403
        try:
            async with agent.ws_connect("/ws", headers={"Host": "evil.example", "Origin": "http://evil.example"}):
                raise AssertionError("cross-site WebSocket accepted")
        except aiohttp.WSServerHandshakeError as exc:
            assert exc.status == 403
        for origin in (own, own.replace("127.0.0.1", "localhost")):
            r = await agent.post("/api/agent/state", json={"action": "login"}, headers={**h, "Origin": origin})
            assert r.status == 200, origin
        async with agent.ws_connect("/ws", headers={"Origin": own}) as ws:
            async with asyncio.timeout(10):  # a guard against a hung test, not a speed assertion
                first = await ws.receive()
            assert json.loads(first.data)["type"] == "snapshot"


async def test_configured_origins_replace_the_defaults(console: Callable[..., Any]) -> None:
    assert ConsoleSettings(origins=["HTTPS://Hotline.Example:443/", "http://[::1]:8080"]).origins == [
        "https://hotline.example", "http://[::1]:8080"]
    assert ConsoleSettings.model_validate({"origins": "https://a.example, https://b.example:8443"}).origins == [
        "https://a.example", "https://b.example:8443"]  # the form of HOTLINE_CONSOLE_ORIGINS
    for bad in ("hotline.example", "https://hotline.example/console", "ftp://hotline.example"):
        with pytest.raises(ValidationError):
            ConsoleSettings(origins=[bad])
    c, server = await console(console={"origins": ["https://hotline.example"]})
    async with http(server) as agent:
        csrf = await login(agent, "1001")
        h = {"X-CSRF-Token": csrf}
        r = await agent.post("/api/agent/state", json={"action": "login"}, headers={**h, "Origin": base(server)})
        assert r.status == 403  # the console is reached through the proxy's origin only
        r = await agent.post("/api/agent/state", json={"action": "login"},
                             headers={**h, "Origin": "https://hotline.example"})
        assert r.status == 200


def session_cookie(response: aiohttp.ClientResponse) -> str:
    [cookie] = [v for v in response.headers.getall("Set-Cookie") if v.startswith("hotline_session=")]
    return cookie


@pytest.mark.parametrize(("section", "request_headers", "secure", "hsts"), [
    ({}, {}, False, False),
    ({}, {"X-Forwarded-Proto": "https"}, False, False),  # nobody said to trust the header
    ({"trusted_proxy": True}, {"X-Forwarded-Proto": "https"}, True, True),
    ({"trusted_proxy": True}, {"X-Forwarded-Proto": "https, http"}, False, False),  # the proxy wrote http
    ({"trusted_proxy": True}, {}, False, False),
    ({"secure_cookies": True}, {}, True, False),
], ids=["plain", "untrusted-header", "trusted-proxy-https", "client-prepended-https", "trusted-proxy-http",
        "secure-cookies"])
async def test_hsts_and_secure_cookies_only_when_configured(console: Callable[..., Any], section: dict[str, Any],
                                                            request_headers: dict[str, str], secure: bool,
                                                            hsts: bool) -> None:
    _, server = await console(console=section)
    async with http(server) as client:
        r = await client.post("/login", data={"agent_id": "1001", "password": "hotline123"},
                              headers=request_headers, allow_redirects=False)
        assert r.status == 302
        cookie = session_cookie(r)
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        assert ("Secure" in cookie) is secure
        assert ("Strict-Transport-Security" in r.headers) is hsts
        page = await client.get("/login", headers=request_headers)
        assert ("Strict-Transport-Security" in page.headers) is hsts
