"""Typed aiohttp AppKeys: the only way components find each other (no module globals)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from ivr.db import Database
    from ivr.settings import Settings

SETTINGS: web.AppKey["Settings"] = web.AppKey("settings")
DB: web.AppKey["Database"] = web.AppKey("db")
# Filled by the components that own them; typed loosely here to keep this module import-light.
ARI: web.AppKey[Any] = web.AppKey("ari")
AGI_SERVER: web.AppKey[Any] = web.AppKey("agi_server")
CALLS: web.AppKey[Any] = web.AppKey("calls")
ACD: web.AppKey[Any] = web.AppKey("acd")
NOTIFIER: web.AppKey[Any] = web.AppKey("notifier")
FLOWS: web.AppKey[Any] = web.AppKey("flows")
SPEECH: web.AppKey[Any] = web.AppKey("speech")
