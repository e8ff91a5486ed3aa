"""`agi://host/lookup[?queue=NAME][&emergency=1]`: tell a site's own dialplan (and app_queue) who is calling.

Channel variables set (all strings, always all of them, so the dialplan never reads a stale value):
  HOTLINE_CONTINUE      ok | fallback (database unusable: safe defaults below, the call goes on)
  HOTLINE_CUSTOMER_ID   customers.id, or empty
  HOTLINE_CALL_ID       our calls.id, or empty
  HOTLINE_PRIORITY      the ACD's levels (ivr.acd.model.Priority), meant for app_queue's QUEUE_PRIO:
                        20 with ?emergency=1, 10 for special-care customers, else 0
  HOTLINE_QUEUE         ?queue=NAME when given (letters, digits, . _ -), else by the caller's flags:
                        emergency | special-care | general
  HOTLINE_SPECIAL_CARE  1 | 0
  HOTLINE_AREA          the customer's area code, or empty
  HOTLINE_OUTAGE        1 when an outage is active or coming in the caller's area
  HOTLINE_OUTAGE_TEXT   what to tell the caller about it (one line, Simplified Chinese)
`emergency=1` is for sites whose own menu already found a gas leak or a burst main; the lookup cannot know that.
The variables are set through pyst2 in a worker thread (ivr/agi/pyst.py); the database work stays on the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace

from ivr.agi.connection import AgiConnection
from ivr.agi.parser import AgiEnvironment, quote_arg
from ivr.agi.pyst import ThreadedAGI, run_pyst
from ivr.callers import CallerDirectory, OutageView, Priority
from ivr.calls.agi.queue import QUEUE_NAME
from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import Utility, utcnow

log = logging.getLogger(__name__)

# One scale for the ACD, the AGI flows' QUEUE_PRIO and the lookup: app_queue may hold callers from all three.
PRIORITY_EMERGENCY = int(Priority.EMERGENCY)
PRIORITY_SPECIAL_CARE = int(Priority.SPECIAL_CARE)
PRIORITY_NORMAL = int(Priority.NORMAL)
QUEUE_EMERGENCY = "emergency"
QUEUE_SPECIAL_CARE = "special-care"
QUEUE_GENERAL = "general"
_TRUE = {"1", "yes", "true", "on"}
MAX_OUTAGE_TEXT_BYTES = 900  # the whole SET VARIABLE line must stay below Asterisk's 2047 bytes
_UTILITY_WORDS = {Utility.GAS: ("停气", "供气"), Utility.WATER: ("停水", "供水"), Utility.HEAT: ("停暖", "供暖")}


@dataclass(frozen=True)
class LookupOptions:
    """What the site's dialplan asked for in agi://host/lookup?queue=NAME&emergency=1."""

    queue: str = ""  # the queue the site wants the caller in; "" = by the caller's flags
    emergency: bool = False
    problems: tuple[str, ...] = ()  # parameters that were refused (logged; the defaults apply)


def lookup_options(params: Mapping[str, str]) -> LookupOptions:
    problems: list[str] = []
    queue = params.get("queue", "").strip()
    if queue and not QUEUE_NAME.fullmatch(queue):
        problems.append(f"queue={queue[:80]!r} is not a queue name (letters, digits, . _ -, up to 64)")
        queue = ""
    emergency = params.get("emergency", "").strip().lower()
    if emergency and emergency not in _TRUE | {"0", "no", "false", "off"}:
        problems.append(f"emergency={emergency[:20]!r} is not 1/0")
    unknown = sorted(set(params) - {"queue", "emergency"})
    if unknown:
        problems.append(f"unknown parameters ignored: {', '.join(u[:30] for u in unknown[:5])}")
    return LookupOptions(queue=queue, emergency=emergency in _TRUE, problems=tuple(problems))


@dataclass(frozen=True)
class CallerFacts:
    ok: bool
    customer_id: int | None = None
    special_care: bool = False
    area: str = ""
    outage_text: str = ""
    call_id: int | None = None
    emergency: bool = False
    requested_queue: str = ""

    @property
    def priority(self) -> int:
        if self.emergency:
            return PRIORITY_EMERGENCY
        return PRIORITY_SPECIAL_CARE if self.special_care else PRIORITY_NORMAL

    @property
    def queue(self) -> str:
        if self.requested_queue:
            return self.requested_queue
        if self.emergency:
            return QUEUE_EMERGENCY
        return QUEUE_SPECIAL_CARE if self.special_care else QUEUE_GENERAL

    def with_options(self, options: LookupOptions) -> CallerFacts:
        return replace(self, emergency=options.emergency, requested_queue=options.queue)

    def variables(self) -> dict[str, str]:
        return {
            "HOTLINE_CUSTOMER_ID": "" if self.customer_id is None else str(self.customer_id),
            "HOTLINE_CALL_ID": "" if self.call_id is None else str(self.call_id),
            "HOTLINE_PRIORITY": str(self.priority),
            "HOTLINE_QUEUE": self.queue,
            "HOTLINE_SPECIAL_CARE": "1" if self.special_care else "0",
            "HOTLINE_AREA": self.area,
            "HOTLINE_OUTAGE": "1" if self.outage_text else "0",
            "HOTLINE_OUTAGE_TEXT": self.outage_text,
            # Last, so a dialplan that sees "ok" has every other variable already.
            "HOTLINE_CONTINUE": "ok" if self.ok else "fallback",
        }


FALLBACK = CallerFacts(ok=False)


def _when(at: dt.datetime, zone: dt.tzinfo) -> str:
    local = at.astimezone(zone)
    return f"{local.month}月{local.day}日{local:%H:%M}"


def outage_text(outage: OutageView, area_name: str, *, zone: dt.tzinfo, now: dt.datetime) -> str:
    """The notice as configured, else one generated from the outage row; one line, bounded in size."""
    text = outage.notice.strip()
    if not text:
        stop, restore = _UTILITY_WORDS.get(Utility(outage.utility), ("停气", "供气"))
        where = f"您所在的{area_name}" if area_name else "您所在区域"
        why = f"因{outage.reason.strip()}" if outage.reason.strip() else ""
        if outage.starts_at <= now:
            until = f"预计{_when(outage.ends_at, zone)}恢复{restore}" if outage.ends_at else "恢复时间另行通知"
            text = f"{where}{why}正在{stop}，{until}。"
        else:
            until = f"至{_when(outage.ends_at, zone)}" if outage.ends_at else "起"
            text = f"{where}{why}将于{_when(outage.starts_at, zone)}{until}{stop}。"
    text = " ".join(text.split())  # a line break would end the AGI command
    encoded = text.encode("utf-8")
    if len(encoded) > MAX_OUTAGE_TEXT_BYTES:
        text = encoded[: MAX_OUTAGE_TEXT_BYTES - 3].decode("utf-8", "ignore") + "…"
    return text


async def look_up_caller(directory: CallerDirectory, zone: dt.tzinfo, number: str, *,
                         now: dt.datetime | None = None) -> CallerFacts:
    """Customer, special care, area and outage for a caller number (ok=True also when nobody matches)."""
    now = now or utcnow()
    found = await directory.facts(number, now=now)
    text = outage_text(found.outage, found.area_name, zone=zone, now=now) if found.outage is not None else ""
    return CallerFacts(ok=True, customer_id=found.customer_id, special_care=found.special_care, area=found.area,
                       outage_text=text)


async def record_lookup(timeline: Timeline, env: AgiEnvironment, facts: CallerFacts) -> int:
    call, _created = await timeline.open_call(channel_id=env.uniqueid, protocol="agi",
                                              caller_number=env.caller_number, caller_name=env.caller_name,
                                              dialed=env.dialed)
    await timeline.update(call.id, customer_id=facts.customer_id, priority=facts.priority, queue_name=facts.queue)
    await timeline.add_event(call.id, "agi_lookup", {
        "customer_id": facts.customer_id, "priority": facts.priority, "special_care": facts.special_care,
        "area": facts.area, "outage": bool(facts.outage_text), "queue": facts.queue,
        "emergency": facts.emergency})
    return call.id


def set_variables(agi: ThreadedAGI, variables: Mapping[str, str]) -> None:
    """The pyst2 side: plain AGI.execute, with our quoting (pyst2's set_variable does not escape quotes)."""
    for name, value in variables.items():
        agi.execute("SET VARIABLE", quote_arg(name), quote_arg(value))


class LookupHandler:
    def __init__(self, db: Database | None, executor: concurrent.futures.Executor, *, zone: dt.tzinfo,
                 db_timeout: float = 3.0, agi_timeout: float = 10.0) -> None:
        self.db = db
        self.directory = CallerDirectory(db) if db is not None else None
        self.zone = zone
        self.executor = executor
        self.db_timeout = db_timeout
        self.agi_timeout = agi_timeout

    async def facts(self, env: AgiEnvironment, options: LookupOptions = LookupOptions()) -> CallerFacts:
        for problem in options.problems:
            log.warning("agi lookup %s: %s", env.uniqueid, problem)
        if self.db is None or self.directory is None:
            return FALLBACK.with_options(options)
        try:
            async with asyncio.timeout(self.db_timeout):
                facts = (await look_up_caller(self.directory, self.zone, env.caller_number)).with_options(options)
        except Exception as exc:  # any database trouble: the caller still gets through, on safe defaults
            log.warning("agi lookup %s: database unusable, fallback defaults: %s: %s", env.uniqueid,
                        type(exc).__name__, exc or f"no answer within {self.db_timeout:g} s")
            return FALLBACK.with_options(options)
        try:
            async with asyncio.timeout(self.db_timeout):
                call_id = await record_lookup(Timeline(self.db), env, facts)
        except Exception as exc:  # the lookup itself is good; losing the timeline row must not cost the call
            log.warning("agi lookup %s: could not record the call: %s: %s", env.uniqueid, type(exc).__name__,
                        exc or f"no answer within {self.db_timeout:g} s")
            return facts
        return replace(facts, call_id=call_id)

    async def handle(self, conn: AgiConnection, env: AgiEnvironment,
                     params: Mapping[str, str] | None = None) -> CallerFacts:
        facts = await self.facts(env, lookup_options(params or {}))
        variables = facts.variables()
        await run_pyst(conn, env, lambda agi: set_variables(agi, variables), executor=self.executor,
                       timeout=self.agi_timeout)
        return facts
