"""Bad input is a 4xx with the console's error shape, never a 500, and leaves no traceback in the log."""

from __future__ import annotations

import logging
from typing import Any, Callable

import aiohttp
import pytest

from tests.console.conftest import console, http, login  # noqa: F401 - console is a fixture

Factory = Callable[..., Any]


def _no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not bad, [f"{r.name}: {r.getMessage()}" for r in bad]


async def test_malformed_bodies_are_400_with_an_error_id(console: Factory, caplog: pytest.LogCaptureFixture) -> None:
    _c, server = await console()
    async with http(server) as client:
        csrf = await login(client, "1001")
        headers = {"X-CSRF-Token": csrf, "Content-Type": "application/json"}
        nested = "[" * 100_000 + "]" * 100_000  # past the JSON parser's recursion limit
        for body in (nested, "{not json", b"\xff\xfe\x00{", "[1, 2, 3]", '{"action": 1e999999}'):
            r = await client.post("/api/agent/state", data=body, headers=headers)
            assert r.status == 400, (body[:20], r.status, await r.text())
            data = await r.json()
            assert data["error_id"] == "hotline.invalid_input" and data["error"] == "请求格式错误"
    _no_traceback(caplog)


async def test_ids_past_64_bits_and_unicode_digits_are_not_found(console: Factory,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    _c, server = await console()
    async with http(server) as client:
        csrf = await login(client, "9001")  # a supervisor may read any call
        for call_id in ("9" * 30, "²", "١٢", "1e3", "-1"):
            r = await client.get(f"/api/calls/{call_id}")
            assert r.status == 404, (call_id, r.status)
            r = await client.get(f"/api/qa/calls/{call_id}")
            assert r.status == 404, (call_id, r.status)
            r = await client.post(f"/api/calls/{call_id}/hold", headers={"X-CSRF-Token": csrf})
            assert r.status in (403, 404), (call_id, r.status)  # supervisors have phones; no such call
        for page in ("²", "9" * 40, "-3", "٣"):
            r = await client.get("/qa", params={"page": page})
            assert r.status == 200, (page, r.status)
        r = await client.get("/ws", params={"since": "²"})
        assert r.status < 500
    _no_traceback(caplog)


async def test_non_ascii_cookie_values_are_anonymous_not_errors(console: Factory,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    _c, server = await console()
    base = f"http://{server.host}:{server.port}"
    async with aiohttp.ClientSession() as client:
        for cookie in ("会话", "abc.def\u00e9", "x" * 5000, "..", "a.b.c"):
            r = await client.get(f"{base}/api/me", headers={"Cookie": f"hotline_session={cookie}; hotline_lang=中文"})
            assert r.status == 401, (cookie[:10], r.status)
    _no_traceback(caplog)


async def test_service_errors_speak_the_visitors_language(console: Factory) -> None:
    _c, server = await console()
    async with http(server) as client:
        csrf = await login(client, "1001")
        r = await client.post("/api/agent/state", json={"action": "ready"}, headers={"X-CSRF-Token": csrf})
        assert r.status == 409
        assert await r.json() == {"error": "请先签入", "error_id": "acd.not_signed_in", "details": {}}
        client.cookie_jar.update_cookies({"hotline_lang": "en"})
        await client.post("/api/agent/state", json={"action": "login"}, headers={"X-CSRF-Token": csrf})
        r = await client.post("/api/agent/state", json={"action": "not_ready", "reason": "打游戏"},
                              headers={"X-CSRF-Token": csrf})
        assert r.status == 409
        assert await r.json() == {"error": "Unknown not-ready reason: 打游戏", "error_id": "acd.unknown_reason",
                                  "details": {"reason": "打游戏"}}
        r = await client.post("/api/calls/1/wrapup", json={"category": "其他咨询", "notes": "x" * 3000},
                              headers={"X-CSRF-Token": csrf})
        assert r.status == 400
        data = await r.json()
        assert data["error_id"] == "wrapup.text_too_long"
        assert data["error"] == "Call notes is limited to 2000 characters"
