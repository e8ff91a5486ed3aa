"""Console sessions that end: one console_sessions row per login, read with the agent row on every request.

A session stops counting when
- its user logs out (the row is revoked and its sockets are closed at once),
- `hotline agents disable|set --role|set --active no|passwd` runs, in another process: the command revokes
  every row of the agent in its own transaction; this service notices on the next request, and its sockets
  are closed by the periodic check (every console.session_check_seconds) of the sessions that have a socket
  open,
- nobody used a console page of it for console.idle_minutes (activity: authenticated HTTP requests other than
  the ones a page makes by itself, and messages a page sends over its socket other than ping; a socket that
  merely stays open is not activity),
- its absolute lifetime (console.session_hours) is over.
Everything that decides this is in the database, so it survives a restart and holds for every process.

Activity is kept in memory and written to last_seen_at at most once per `touch_every` (a minute, or a quarter
of the idle timeout if that is shorter): a restart may end a session up to that much early, never late.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Callable

from aiohttp import web
from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from agent_console.auth import Principal, Sessions
from agent_console.hub import Hub
from ivr.db import Database
from ivr.db.models import Agent, ConsoleSession

log = logging.getLogger(__name__)

Clock = Callable[[], float]
SESSION_STORE: web.AppKey["SessionStore"] = web.AppKey("console_session_store")
# The wall clock sessions are measured by (time.time unless the app sets another before start-up).
SESSION_CLOCK: web.AppKey[Clock] = web.AppKey("console_session_clock")

LOGOUT, DISABLED, ROLE, PASSWORD, IDLE, EXPIRED, UNKNOWN = (
    "logout", "disabled", "role", "password", "idle", "expired", "unknown")
KEEP_ENDED = dt.timedelta(days=1)  # rows stay a day past their lifetime: when and why a session ended
PRUNE_EVERY = 3600.0
SWEEP_CHUNK = 500


def _at(t: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc)


async def revoke_agent_sessions(s: AsyncSession, agent_pk: int, reason: str,
                                now: dt.datetime | None = None) -> int:
    """End every session of an agent, in the caller's transaction (with the change that is the reason)."""
    result = await s.execute(
        update(ConsoleSession).where(ConsoleSession.agent_pk == agent_pk, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now or dt.datetime.now(dt.timezone.utc), revoked_reason=reason[:32]))
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass
class _Seen:
    activity: float  # the latest activity this process knows of
    written: float  # what last_seen_at holds


class SessionStore:
    def __init__(self, db: Database, tokens: Sessions, *, idle_seconds: float, hub: Hub | None = None,
                 clock: Clock = time.time) -> None:
        self.db = db
        self.tokens = tokens
        self.idle_seconds = idle_seconds
        self.touch_every = min(60.0, idle_seconds / 4)
        self.hub = hub
        self._clock = clock
        self._seen: dict[str, _Seen] = {}
        self._pruned = clock()
        self.sweeps = 0
        self.ended = 0  # sockets closed because their session ended

    # --- lifecycle of one session -----------------------------------------------------------------------

    async def open(self, agent: Agent, address: str) -> tuple[str, Principal]:
        """A new session for an agent whose password was just checked: its cookie token and principal."""
        token, principal = self.tokens.issue(agent)
        now = self._clock()
        async with self.db.begin() as s:
            s.add(ConsoleSession(sid=principal.sid, agent_pk=agent.id, created_at=_at(now),
                                 expires_at=_at(principal.expires), last_seen_at=_at(now), address=address[:64]))
        self._seen[principal.sid] = _Seen(now, now)
        return token, principal

    async def load(self, token: str | None) -> Principal | None:
        """The principal of a session that still counts, with the agent's current name and role."""
        found = self.tokens.read(token)
        if found is None:
            return None
        pk, sid, expires = found
        async with self.db.session() as s:
            row = (await s.execute(select(ConsoleSession, Agent).join(Agent, Agent.id == ConsoleSession.agent_pk)
                                   .where(ConsoleSession.sid == sid))).first()
        if row is None:
            return None
        session, agent = row
        if session.agent_pk != pk or self.why_ended(session, agent.active) is not None:
            return None
        return Principal(agent_pk=agent.id, agent_id=agent.agent_id, name=agent.name, role=agent.role, sid=sid,
                         expires=expires)

    def why_ended(self, session: ConsoleSession | None, active: bool) -> str | None:
        """Why this session no longer counts, or None while it does."""
        if session is None:
            return UNKNOWN
        if session.revoked_at is not None:
            return session.revoked_reason or LOGOUT
        if not active:
            return DISABLED
        now = self._clock()
        if session.expires_at.timestamp() <= now:
            return EXPIRED
        written = session.last_seen_at.timestamp()
        seen = self._seen.get(session.sid)
        if seen is None:
            seen = self._seen[session.sid] = _Seen(written, written)
        else:
            seen.written = max(seen.written, written)
            seen.activity = max(seen.activity, written)
        if now - seen.activity > self.idle_seconds:
            return IDLE
        return None

    async def touch(self, principal: Principal) -> None:
        """Activity on a page of this session: the idle timeout starts again."""
        now = self._clock()
        seen = self._seen.setdefault(principal.sid, _Seen(now, 0.0))
        seen.activity = max(seen.activity, now)
        if now - seen.written < self.touch_every:
            return
        seen.written = now
        try:
            async with self.db.begin() as s:
                await s.execute(update(ConsoleSession).where(ConsoleSession.sid == principal.sid)
                                .values(last_seen_at=_at(now)))
        except SQLAlchemyError as exc:
            # Kept in memory meanwhile; only a restart before the next write could end the session early.
            log.warning("console: could not note the activity of a session: %s", exc)

    async def end(self, principal: Principal, reason: str = LOGOUT) -> None:
        """Revoke the session in the database, then close its sockets at once."""
        async with self.db.begin() as s:
            await s.execute(update(ConsoleSession).where(ConsoleSession.sid == principal.sid,
                                                         ConsoleSession.revoked_at.is_(None))
                            .values(revoked_at=_at(self._clock()), revoked_reason=reason[:32]))
        self._seen.pop(principal.sid, None)
        if self.hub is not None:
            self.ended += self.hub.end_sessions({principal.sid: reason})

    # --- the periodic check --------------------------------------------------------------------------------

    async def sweep(self) -> dict[str, str]:
        """Close the sockets of sessions that ended since (revoked by another process, idle, expired) and
        forget what is no longer needed. Returns the sessions ended now (sid -> reason)."""
        ended: dict[str, str] = {}
        if self.hub is not None:
            sids = sorted(self.hub.session_ids())
            for i in range(0, len(sids), SWEEP_CHUNK):
                chunk = sids[i:i + SWEEP_CHUNK]
                async with self.db.session() as s:
                    rows = (await s.execute(select(ConsoleSession, Agent.active)
                                            .join(Agent, Agent.id == ConsoleSession.agent_pk)
                                            .where(ConsoleSession.sid.in_(chunk)))).all()
                found = {session.sid: (session, active) for session, active in rows}
                for sid in chunk:
                    session, active = found.get(sid, (None, False))
                    reason = self.why_ended(session, active)
                    if reason is not None:
                        ended[sid] = reason
            if ended:
                self.ended += self.hub.end_sessions(ended)
                log.info("console: closed the sockets of %d ended sessions", len(ended))
        now = self._clock()
        open_now = self.hub.session_ids() if self.hub is not None else set()
        for sid in [sid for sid, seen in self._seen.items()
                    if sid not in open_now and now - seen.activity > self.idle_seconds + self.touch_every]:
            del self._seen[sid]
        if now - self._pruned >= PRUNE_EVERY:
            self._pruned = now
            async with self.db.begin() as s:
                await s.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < _at(now) - KEEP_ENDED))
        self.sweeps += 1
        return ended
