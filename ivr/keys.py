"""The kernel's AppKeys (settings, database). Every other key is declared next to the class it holds (e.g.
ivr.acd.service.ACD, ivr.workorders.ORDERS), typed, so a key never needs an import from a layer above."""

from __future__ import annotations

from aiohttp import web

from ivr.db import Database
from ivr.settings import Settings

SETTINGS: web.AppKey[Settings] = web.AppKey("settings", Settings)
DB: web.AppKey[Database] = web.AppKey("db", Database)
