"""CallerDirectory: customers by phone or account number, outages in an area, repeat callers.

Stored numbers are free text typed by clerks, so a phone match narrows by the last digits in SQL and compares
the normalised forms (`ivr.phones.phone_key`) here. A number shared by a household matches every member; the
AGI lookup, which must pick one, takes the special-care member first so priority is never lost.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Sequence

from sqlalchemy import ColumnElement, and_, func, or_, select

from ivr.callers.views import AccountView, CustomerView, OutageView
from ivr.db import Database
from ivr.db.models import (
    Account,
    Area,
    Call,
    Customer,
    CustomerPhone,
    Outage,
    Utility,
    utcnow,
)
from ivr.phones import phone_key

OUTAGE_HORIZON = dt.timedelta(hours=48)  # planned outages are announced this far ahead
MIN_KEY_DIGITS = 5  # shorter "numbers" (service codes, withheld callers) name nobody


def active_outages(now: dt.datetime, ahead: dt.timedelta = OUTAGE_HORIZON) -> ColumnElement[bool]:
    """Outages running now or starting within `ahead`, not cancelled: the one definition of "active"."""
    return and_(Outage.cancelled.is_(False), Outage.starts_at <= now + ahead,
                or_(Outage.ends_at.is_(None), Outage.ends_at > now))


@dataclass(frozen=True)
class CallerFacts:
    """What the dialplan-side lookup needs about a number: one customer (or none), their area's outage."""

    customer_id: int | None = None
    special_care: bool = False
    area: str = ""
    area_name: str = ""
    outage: OutageView | None = None


class CallerDirectory:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _ids_by_phone(self, number: str) -> list[tuple[int, bool]]:
        """(customer id, special care) of every customer holding the number, special-care first."""
        key = phone_key(number)
        if len(key) < MIN_KEY_DIGITS:
            return []
        async with self.db.session() as s:
            rows = (await s.execute(
                select(Customer.id, Customer.special_care, CustomerPhone.number)
                .join(CustomerPhone, CustomerPhone.customer_id == Customer.id)
                .where(CustomerPhone.number.like(f"%{key[-4:]}"))
                .order_by(Customer.special_care.desc(), Customer.id))).all()
        seen: dict[int, bool] = {}
        for cid, care, stored in rows:
            if phone_key(stored) == key:
                seen.setdefault(cid, bool(care))
        return list(seen.items())

    async def customers_by_phone(self, number: str) -> list[CustomerView]:
        ids = sorted(cid for cid, _care in await self._ids_by_phone(number))
        if not ids:
            return []
        async with self.db.session() as s:
            customers = await s.execute(select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id))
            return [CustomerView.of(c) for c in customers.scalars()]

    async def customer_by_account(self, account_no: str, prefixes: Sequence[str] = ()
                                  ) -> tuple[CustomerView, AccountView] | None:
        if not account_no:
            return None
        candidates = [account_no, *(p + account_no for p in prefixes)]
        async with self.db.session() as s:
            rows = await s.execute(select(Account).where(Account.account_no.in_(candidates)))
            found = {a.account_no: a for a in rows.scalars()}
            acc = next((found[c] for c in candidates if c in found), None)
            if acc is None:
                return None
            customer = await s.get(Customer, acc.customer_id)
            if customer is None:  # the foreign key makes this a broken database, not a missing customer
                raise LookupError(f"account {acc.account_no} names customer {acc.customer_id}, which is gone")
            return CustomerView.of(customer), AccountView.of(acc)

    async def outages(self, area_code: str, utilities: Sequence[str] | None, now: dt.datetime,
                      ahead: dt.timedelta = OUTAGE_HORIZON) -> list[OutageView]:
        """Active outages in the area, earliest first; `utilities` None = any utility."""
        query = select(Outage).where(Outage.area_code == area_code, active_outages(now, ahead))
        if utilities is not None:
            query = query.where(Outage.utility.in_([Utility(u) for u in utilities]))
        async with self.db.session() as s:
            rows = await s.execute(query.order_by(Outage.starts_at, Outage.id))
            return [OutageView.of(o) for o in rows.scalars()]

    async def recent_calls(self, caller_number: str, since: dt.datetime, exclude_call: int) -> int:
        """How many other calls came from this number since `since` (repeat callers)."""
        if not caller_number:
            return 0
        async with self.db.session() as s:
            return int((await s.execute(select(func.count(Call.id)).where(and_(
                Call.caller_number == caller_number, Call.started_at >= since, Call.id != exclude_call)))).scalar_one())

    async def facts(self, number: str, *, now: dt.datetime | None = None) -> CallerFacts:
        """One customer for the number (special-care member of a household first), with the first active
        outage in their area for the utilities they hold accounts for (any utility when they hold none)."""
        now = now or utcnow()
        matches = await self._ids_by_phone(number)
        if not matches:
            return CallerFacts()
        customer_id, special_care = matches[0]
        async with self.db.session() as s:
            area = (await s.execute(select(Customer.area_code).where(Customer.id == customer_id))).scalar_one()
            if not area:
                return CallerFacts(customer_id, special_care)
            held = sorted({u.value for u in (await s.execute(
                select(Account.utility).where(Account.customer_id == customer_id))).scalars()})
            area_name = (await s.execute(select(Area.name).where(Area.code == area))).scalar_one_or_none() or ""
        found = await self.outages(area, held or None, now)
        return CallerFacts(customer_id, special_care, area, area_name, found[0] if found else None)
