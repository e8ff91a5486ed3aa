"""/healthz is anonymous: it says which parts work in fixed words, never a database URL or exception text."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from aiohttp import web

from ivr import keys
from ivr.app import health
from ivr.db import Database
from tests.plugins.database import free_port


@pytest.fixture
def dead_database_url() -> str:
    # A real PostgreSQL URL nobody listens on, with a password that must never reach an anonymous caller.
    return f"postgresql+asyncpg://hotline:PW-must-not-leak@127.0.0.1:{free_port()}/hotline"


async def test_a_dead_database_is_one_word_and_a_503(aiohttp_client: Any, dead_database_url: str,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    db = Database(dead_database_url)
    app = web.Application()
    app[keys.DB] = db
    app.router.add_get("/healthz", health)
    client = await aiohttp_client(app)
    with caplog.at_level(logging.WARNING):
        r = await client.get("/healthz")
    body = await r.text()
    assert r.status == 503
    assert await r.json() == {"service": "hotline", "database": "unavailable", "asterisk": "not configured",
                              "agi": "off"}
    for secret in ("PW-must-not-leak", "postgresql", "127.0.0.1", "hotline@", "Error", "refused"):
        assert secret not in body
    assert "database unavailable" in caplog.text  # the operator still learns why, from the log
    await db.dispose()


async def test_a_working_database_is_ok(aiohttp_client: Any, db: Database) -> None:
    app = web.Application()
    app[keys.DB] = db
    app.router.add_get("/healthz", health)
    client = await aiohttp_client(app)
    r = await client.get("/healthz")
    assert r.status == 200 and (await r.json())["database"] == "ok"
    assert "://" not in await r.text() and db.url not in await r.text()
    # No speech model here and no worker: transcripts (and the speech rules of QA) wait (issue 16).
    assert (await r.json())["speech"] == "missing" and (await r.json())["transcription_waiting"] == 0
