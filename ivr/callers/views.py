"""Read-only snapshots of customer records: no ORM object outlives the session that read it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from ivr.db.models import Account, Customer, Outage


@dataclass(frozen=True)
class AccountView:
    id: int
    account_no: str
    utility: str
    balance: Decimal
    arrears: Decimal
    status: str

    @classmethod
    def of(cls, a: Account) -> AccountView:
        return cls(id=a.id, account_no=a.account_no, utility=a.utility.value, balance=a.balance,
                   arrears=a.arrears, status=a.status)


@dataclass(frozen=True)
class CustomerView:
    """The caller's customer record as a flow, the fallback intake or a work order needs it."""

    id: int
    name: str
    id_number: str
    address: str
    area_code: str | None
    special_care: bool
    phones: tuple[str, ...]
    accounts: tuple[AccountView, ...]

    @classmethod
    def of(cls, c: Customer) -> CustomerView:
        return cls(id=c.id, name=c.name, id_number=c.id_number, address=c.address, area_code=c.area_code,
                   special_care=c.special_care, phones=tuple(p.number for p in c.phones),
                   accounts=tuple(AccountView.of(a) for a in sorted(c.accounts, key=lambda a: a.id)))


@dataclass(frozen=True)
class OutageView:
    id: int
    planned: bool
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    reason: str
    notice: str
    utility: str = "gas"

    @classmethod
    def of(cls, o: Outage) -> OutageView:
        return cls(o.id, o.planned, o.starts_at, o.ends_at, o.reason, o.notice, o.utility.value)
