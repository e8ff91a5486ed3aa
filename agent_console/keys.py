"""AppKeys owned by the console (the shared ones live in ivr/keys.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from agent_console.service import ConsoleService

CONSOLE: web.AppKey["ConsoleService"] = web.AppKey("console_service")
