"""What the rest of hotline needs from the Asterisk provisioning at run time.

`instance_for(settings)` gives the AsteriskInstance the settings describe (no build, no start), for:
  - `sounds_dir_host`: where prompts must be written so Asterisk plays `sound:hotline/...`
    (the flow engine's dynamic outage notices included);
  - `recordings_dir_host`: where ARI recordings and fallback messages (+ .txt sidecars) land;
  - `asterisk_path(host_path)` / `host_path(ast_path)`: the path mapping ARI `file:` media needs in a sandbox.
Blocking (it runs `asterisk -V`): call it at start-up or through asyncio.to_thread.
`instance_for(settings, from_db=True)` (CLI only) also reads the agents' phones and skills and the queues from
the database, so the generated queues.conf has one app_queue queue per database queue.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from dataclasses import dataclass, replace

from ivr.asterisk.config import AgentPhone, ConfigError, QueueSpec, agents_from_settings
from ivr.asterisk.instance import AsteriskInstance
from ivr.asterisk.sandbox import resolve_runtime
from ivr.settings import Settings

log = logging.getLogger(__name__)


def phone_password(settings: Settings, endpoint: str) -> str:
    """The SIP password of a database agent's phone: changes whenever asterisk.phone_secret does (rotation
    re-provisions every phone through `hotline asterisk config`)."""
    if not settings.asterisk.phone_secret:
        # HMAC with an empty key is a password anyone can compute: fail closed.
        raise ConfigError("asterisk.phone_secret is not set: run `hotline secrets generate`, then "
                          "`hotline asterisk config`")
    digest = hmac.new(settings.asterisk.phone_secret.encode(), endpoint.encode(), hashlib.sha256).hexdigest()
    return digest[:16]


@dataclass(frozen=True)
class FromDatabase:
    """What the Asterisk config takes from the database: agent phones with their skills, and the queues."""

    skills: dict[str, frozenset[str]]  # sip_endpoint of every active agent -> skills
    queues: tuple[QueueSpec, ...]


async def _read_db(settings: Settings) -> FromDatabase:
    from sqlalchemy import select

    from ivr.db import Database
    from ivr.db.models import Agent, Queue

    db = Database(settings.database.url)
    try:
        async with db.session() as s:
            rows = await s.execute(select(Agent.sip_endpoint, Agent.skills).where(
                Agent.active.is_(True), Agent.sip_endpoint.is_not(None)))
            skills = {str(ep): frozenset(str(k) for k in (sk or [])) for ep, sk in rows}
            queues = (await s.execute(select(Queue).order_by(Queue.name))).scalars().all()
            return FromDatabase(skills, tuple(QueueSpec(q.name, q.skill or "", int(q.weight or 0),
                                                        int(q.max_wait_seconds or 0)) for q in queues))
    finally:
        await db.dispose()


def from_database(settings: Settings) -> FromDatabase:
    """Blocking CLI code: the database's agents and queues, or nothing when there is no database yet."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError("from_database() is CLI code; inside the service use from_db=False")
    try:
        return asyncio.run(_read_db(settings))
    except Exception as exc:  # no database yet (first `up` runs before `db upgrade`): settings only
        log.warning("agent phones and queues from the database skipped: %s", str(exc).splitlines()[0][:200])
        return FromDatabase({}, ())


def merge_phones(settings: Settings, db: FromDatabase) -> list[AgentPhone]:
    """[asterisk] agent_phones (their passwords win) plus every database endpoint; skills from the database."""
    phones = {p.endpoint: p for p in agents_from_settings(settings)}
    for ep, skills in db.skills.items():
        phone = phones.get(ep) or AgentPhone(ep, phone_password(settings, ep))
        phones[ep] = replace(phone, skills=skills)
    return [phones[k] for k in sorted(phones)]


def agent_phones(settings: Settings, *, from_db: bool = True) -> list[AgentPhone]:
    """Phones from [asterisk] agent_phones plus every active agent's sip_endpoint in the database."""
    return merge_phones(settings, from_database(settings) if from_db else FromDatabase({}, ()))


def instance_for(settings: Settings, *, build: bool = False, from_db: bool = False) -> AsteriskInstance:
    """The instance the settings describe; `build` lets it build the sandbox (slow, root) when missing."""
    runtime = resolve_runtime(settings, build=build)
    db = from_database(settings) if from_db else FromDatabase({}, ())
    return AsteriskInstance(runtime, settings, agents=merge_phones(settings, db), queues=db.queues)
