"""What the rest of hotline needs from the Asterisk provisioning at run time.

`instance_for(settings)` gives the AsteriskInstance the settings describe (no build, no start), for:
  - `sounds_dir_host`: where prompts must be written so Asterisk plays `sound:hotline/...`
    (the flow engine's dynamic outage notices included);
  - `recordings_dir_host`: where ARI recordings and fallback messages (+ .txt sidecars) land;
  - `asterisk_path(host_path)` / `host_path(ast_path)`: the path mapping ARI `file:` media needs in a sandbox.
Blocking (it runs `asterisk -V`): call it at start-up or through asyncio.to_thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging

from ivr.asterisk.config import AgentPhone, agents_from_settings
from ivr.asterisk.instance import AsteriskInstance
from ivr.asterisk.sandbox import resolve_runtime
from ivr.settings import Settings

log = logging.getLogger(__name__)


def phone_password(settings: Settings, endpoint: str) -> str:
    digest = hmac.new(settings.asterisk.phone_secret.encode(), endpoint.encode(), hashlib.sha256).hexdigest()
    return digest[:16]


async def _db_endpoints(settings: Settings) -> list[str]:
    from sqlalchemy import select

    from ivr.db import Database
    from ivr.db.models import Agent

    db = Database(settings.database.url)
    try:
        async with db.session() as s:
            rows = await s.execute(select(Agent.sip_endpoint).where(Agent.active.is_(True),
                                                                     Agent.sip_endpoint.is_not(None)))
            return sorted(str(r[0]) for r in rows)
    finally:
        await db.dispose()


def agent_phones(settings: Settings, *, from_db: bool = True) -> list[AgentPhone]:
    """Phones from [asterisk] agent_phones plus every active agent's sip_endpoint in the database."""
    phones = {p.endpoint: p for p in agents_from_settings(settings)}
    if from_db:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise RuntimeError("agent_phones(from_db=True) is CLI code; inside the service use from_db=False")
        try:
            endpoints = asyncio.run(_db_endpoints(settings))
        except Exception as exc:  # no database yet (first `up` runs before `db upgrade`): settings only
            log.warning("agent phones from the database skipped: %s", str(exc).splitlines()[0][:200])
            endpoints = []
        for ep in endpoints:
            phones.setdefault(ep, AgentPhone(ep, phone_password(settings, ep)))
    return [phones[k] for k in sorted(phones)]


def instance_for(settings: Settings, *, build: bool = False, from_db: bool = False) -> AsteriskInstance:
    """The instance the settings describe; `build` lets it build the sandbox (slow, root) when missing."""
    runtime = resolve_runtime(settings, build=build)
    return AsteriskInstance(runtime, settings, agents=agent_phones(settings, from_db=from_db))
