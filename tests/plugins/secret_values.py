"""The tests' secrets, in one place: random per test process, never a literal in a test file.

Secrets have no defaults (ivr/secrets.py), so every test whose settings sign cookies, talk to ARI or derive
phone passwords takes them from here:

    with_secrets(settings)              the settings with the session's secrets
    secret_sections()                   {"console": {"secret": ...}, "asterisk": {...}} for Settings data
    write_secrets_file(path)            a real secrets file (mode 0600), as `hotline secrets generate` writes
    session_secrets()                   {"console.secret": ..., ...}
"""

from __future__ import annotations

import functools
import secrets
from pathlib import Path
from typing import Any

from ivr.secrets import GENERATED_BYTES, NAMES, render, write_private
from ivr.settings import Settings


@functools.cache
def session_secrets() -> dict[str, str]:
    return {name: secrets.token_urlsafe(GENERATED_BYTES) for name in NAMES}


def fresh_secrets() -> dict[str, str]:
    """New random secrets (a rotation, a second service)."""
    return {name: secrets.token_urlsafe(GENERATED_BYTES) for name in NAMES}


def secret_sections(values: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, value in (values or session_secrets()).items():
        section, key = name.split(".")
        out.setdefault(section, {})[key] = value
    return out


def with_secrets(settings: Settings, values: dict[str, str] | None = None) -> Settings:
    update = {section: getattr(settings, section).model_copy(update=keys)
              for section, keys in secret_sections(values).items()}
    return settings.model_copy(update=update)


def write_secrets_file(path: Path, values: dict[str, str] | None = None) -> Path:
    write_private(path, render(values or session_secrets()))
    return path
