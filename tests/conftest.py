"""Shared fixtures. Real components (PostgreSQL, Asterisk, Chromium) are started by the tests themselves and a
failure to start them fails the run: CI must never pass by skipping them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ivr.settings import Settings, load_settings
from tests.plugins.secret_values import with_secrets

pytest_plugins = ["tests.plugins.database", "tests.plugins.asterisk", "tests.plugins.fake_ari", "tests.plugins.fake_agi"]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    """Settings for a test: its own database and recordings dir, the session's random secrets, nothing from
    the environment or a developer's secrets file."""
    base = with_secrets(load_settings(env={}, read_secrets=False))
    return base.model_copy(update={
        "database": base.database.model_copy(update={"url": db_url}),
        "recordings": base.recordings.model_copy(update={"dir": tmp_path / "recordings"}),
    })


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    # In CI (HOTLINE_NO_SKIP=1) a skipped test means a real component was missing: report it as a failure.
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("HOTLINE_NO_SKIP") == "1" and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in a no-skip run: {report.longrepr}"
