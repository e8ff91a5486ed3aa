"""`agi://host/lookup`: tell a site's own dialplan (and app_queue) who is calling.

Channel variables set (all strings, always all of them, so the dialplan never reads a stale value):
  HOTLINE_CONTINUE      ok | fallback (database unusable: safe defaults below, the call goes on)
  HOTLINE_CUSTOMER_ID   customers.id, or empty
  HOTLINE_CALL_ID       our calls.id, or empty
  HOTLINE_PRIORITY      50 for special-care customers, else 0 (emergency=100 is decided later by the IVR)
  HOTLINE_SPECIAL_CARE  1 | 0
  HOTLINE_AREA          the customer's area code, or empty
  HOTLINE_OUTAGE        1 when an outage is active or coming in the caller's area
  HOTLINE_OUTAGE_TEXT   what to tell the caller about it (one line, Simplified Chinese)
The variables are set through pyst2 in a worker thread (ivr/agi/pyst.py); the database work stays on the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import or_, select

from ivr.agi.connection import AgiConnection
from ivr.agi.parser import AgiEnvironment, quote_arg
from ivr.agi.pyst import ThreadedAGI, run_pyst
from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import Account, Area, Customer, CustomerPhone, Outage, Utility, utcnow

log = logging.getLogger(__name__)

PRIORITY_EMERGENCY = 100
PRIORITY_SPECIAL_CARE = 50
PRIORITY_NORMAL = 0
OUTAGE_HORIZON = dt.timedelta(hours=48)  # planned outages are announced 48 h ahead
CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "CST")
MAX_OUTAGE_TEXT_BYTES = 900  # the whole SET VARIABLE line must stay below Asterisk's 2047 bytes
_UTILITY_WORDS = {Utility.GAS: ("停气", "供气"), Utility.WATER: ("停水", "供水"), Utility.HEAT: ("停暖", "供暖")}


@dataclass(frozen=True)
class CallerFacts:
    ok: bool
    customer_id: int | None = None
    special_care: bool = False
    area: str = ""
    outage_text: str = ""
    call_id: int | None = None

    @property
    def priority(self) -> int:
        return PRIORITY_SPECIAL_CARE if self.special_care else PRIORITY_NORMAL

    def variables(self) -> dict[str, str]:
        return {
            "HOTLINE_CUSTOMER_ID": "" if self.customer_id is None else str(self.customer_id),
            "HOTLINE_CALL_ID": "" if self.call_id is None else str(self.call_id),
            "HOTLINE_PRIORITY": str(self.priority),
            "HOTLINE_SPECIAL_CARE": "1" if self.special_care else "0",
            "HOTLINE_AREA": self.area,
            "HOTLINE_OUTAGE": "1" if self.outage_text else "0",
            "HOTLINE_OUTAGE_TEXT": self.outage_text,
            # Last, so a dialplan that sees "ok" has every other variable already.
            "HOTLINE_CONTINUE": "ok" if self.ok else "fallback",
        }


FALLBACK = CallerFacts(ok=False)


def phone_candidates(number: str) -> list[str]:
    """The forms a caller's number may be stored in: as sent, digits only, without the +86/0086 prefix."""
    raw = number.strip()
    digits = re.sub(r"\D", "", raw)
    if not digits:
        return []
    national = digits
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 7:
            national = digits[len(prefix):]
            break
    out = [raw, digits, national]
    if re.fullmatch(r"1[3-9]\d{9}", national):  # mobile
        out.append("+86" + national)
    elif national.startswith("0"):  # landline with the trunk 0
        out += [national[1:], "+86" + national[1:]]
    else:  # landline as sent after +86
        out += ["0" + national, "+86" + national]
    return list(dict.fromkeys(x for x in out if x))


def _when(at: dt.datetime) -> str:
    local = at.astimezone(CHINA_TIME)
    return f"{local.month}月{local.day}日{local:%H:%M}"


def outage_text(outage: Outage, area_name: str, now: dt.datetime) -> str:
    """The notice as configured, else one generated from the outage row; one line, bounded in size."""
    text = outage.notice.strip()
    if not text:
        stop, restore = _UTILITY_WORDS.get(outage.utility, ("停气", "供气"))
        where = f"您所在的{area_name}" if area_name else "您所在区域"
        why = f"因{outage.reason.strip()}" if outage.reason.strip() else ""
        if outage.starts_at <= now:
            until = f"预计{_when(outage.ends_at)}恢复{restore}" if outage.ends_at else "恢复时间另行通知"
            text = f"{where}{why}正在{stop}，{until}。"
        else:
            until = f"至{_when(outage.ends_at)}" if outage.ends_at else "起"
            text = f"{where}{why}将于{_when(outage.starts_at)}{until}{stop}。"
    text = " ".join(text.split())  # a line break would end the AGI command
    encoded = text.encode("utf-8")
    if len(encoded) > MAX_OUTAGE_TEXT_BYTES:
        text = encoded[: MAX_OUTAGE_TEXT_BYTES - 3].decode("utf-8", "ignore") + "…"
    return text


async def look_up_caller(db: Database, number: str, *, now: dt.datetime | None = None) -> CallerFacts:
    """Customer, special care, area and outage for a caller number (ok=True also when nobody matches)."""
    now = now or utcnow()
    candidates = phone_candidates(number)
    if not candidates:
        return CallerFacts(ok=True)
    async with db.session() as s:
        rows = (await s.execute(
            select(Customer.id, Customer.special_care, Customer.area_code)
            .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
            .where(CustomerPhone.number.in_(candidates))
            .order_by(Customer.special_care.desc(), Customer.id)
        )).all()
        if not rows:
            return CallerFacts(ok=True)
        # A number shared by a household: the special-care member wins, so priority is never lost.
        customer_id, special_care, area = rows[0]
        text = ""
        if area:
            utilities = set((await s.execute(select(Account.utility).where(Account.customer_id == customer_id)
                                             )).scalars())
            query = (select(Outage).where(Outage.area_code == area, Outage.cancelled.is_(False),
                                          Outage.starts_at <= now + OUTAGE_HORIZON,
                                          or_(Outage.ends_at.is_(None), Outage.ends_at > now))
                     .order_by(Outage.starts_at, Outage.id))
            if utilities:
                query = query.where(Outage.utility.in_(utilities))
            outage = (await s.execute(query.limit(1))).scalar_one_or_none()
            if outage is not None:
                area_name = (await s.execute(select(Area.name).where(Area.code == area))).scalar_one_or_none()
                text = outage_text(outage, area_name or "", now)
    return CallerFacts(ok=True, customer_id=customer_id, special_care=bool(special_care), area=area or "",
                       outage_text=text)


async def record_lookup(timeline: Timeline, env: AgiEnvironment, facts: CallerFacts) -> int:
    call, _created = await timeline.open_call(channel_id=env.uniqueid, protocol="agi",
                                              caller_number=env.caller_number, caller_name=env.caller_name,
                                              dialed=env.dialed)
    await timeline.update(call.id, customer_id=facts.customer_id, priority=facts.priority)
    await timeline.add_event(call.id, "agi_lookup", {
        "customer_id": facts.customer_id, "priority": facts.priority, "special_care": facts.special_care,
        "area": facts.area, "outage": bool(facts.outage_text)})
    return call.id


def set_variables(agi: ThreadedAGI, variables: Mapping[str, str]) -> None:
    """The pyst2 side: plain AGI.execute, with our quoting (pyst2's set_variable does not escape quotes)."""
    for name, value in variables.items():
        agi.execute("SET VARIABLE", quote_arg(name), quote_arg(value))


class LookupHandler:
    def __init__(self, db: Database | None, executor: concurrent.futures.Executor, *, db_timeout: float = 3.0,
                 agi_timeout: float = 10.0) -> None:
        self.db = db
        self.executor = executor
        self.db_timeout = db_timeout
        self.agi_timeout = agi_timeout

    async def facts(self, env: AgiEnvironment) -> CallerFacts:
        if self.db is None:
            return FALLBACK
        try:
            async with asyncio.timeout(self.db_timeout):
                facts = await look_up_caller(self.db, env.caller_number)
        except Exception as exc:  # any database trouble: the caller still gets through, on safe defaults
            log.warning("agi lookup %s: database unusable, fallback defaults: %s: %s", env.uniqueid,
                        type(exc).__name__, exc or f"no answer within {self.db_timeout:g} s")
            return FALLBACK
        try:
            async with asyncio.timeout(self.db_timeout):
                call_id = await record_lookup(Timeline(self.db), env, facts)
        except Exception as exc:  # the lookup itself is good; losing the timeline row must not cost the call
            log.warning("agi lookup %s: could not record the call: %s: %s", env.uniqueid, type(exc).__name__,
                        exc or f"no answer within {self.db_timeout:g} s")
            return facts
        return CallerFacts(ok=facts.ok, customer_id=facts.customer_id, special_care=facts.special_care,
                           area=facts.area, outage_text=facts.outage_text, call_id=call_id)

    async def handle(self, conn: AgiConnection, env: AgiEnvironment) -> CallerFacts:
        facts = await self.facts(env)
        variables = facts.variables()
        await run_pyst(conn, env, lambda agi: set_variables(agi, variables), executor=self.executor,
                       timeout=self.agi_timeout)
        return facts
