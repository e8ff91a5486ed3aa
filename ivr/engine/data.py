"""The few database reads and writes a flow needs: who is calling, their accounts, area outages, messages."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Sequence

from sqlalchemy import and_, func, or_, select

from ivr.db import Database
from ivr.db.models import (
    Account, Call, Customer, CustomerPhone, Outage, Utility, WorkOrder, WorkOrderType,
)
from ivr.engine.context import AccountView, CustomerView
from ivr.phones import phone_key

# Orders the rules say need no callback (004 §14(九)): consultation/query, suggestion, praise.
NO_CALLBACK = {WorkOrderType.CONSULTATION, WorkOrderType.SUGGESTION, WorkOrderType.PRAISE}


@dataclass(frozen=True)
class OutageView:
    id: int
    planned: bool
    starts_at: dt.datetime
    ends_at: dt.datetime | None
    reason: str
    notice: str


def _customer_view(c: Customer) -> CustomerView:
    return CustomerView(
        id=c.id, name=c.name, id_number=c.id_number, address=c.address, area_code=c.area_code,
        special_care=c.special_care, phones=tuple(p.number for p in c.phones),
        accounts=tuple(_account_view(a) for a in sorted(c.accounts, key=lambda a: a.id)))


def _account_view(a: Account) -> AccountView:
    return AccountView(id=a.id, account_no=a.account_no, utility=a.utility.value, balance=a.balance,
                       arrears=a.arrears, status=a.status)


class FlowData:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def customers_by_phone(self, number: str) -> list[CustomerView]:
        key = phone_key(number)
        if len(key) < 5:
            return []
        async with self.db.session() as s:
            rows = await s.execute(select(CustomerPhone).where(CustomerPhone.number.like(f"%{key[-4:]}")))
            ids = sorted({p.customer_id for p in rows.scalars() if phone_key(p.number) == key})
            if not ids:
                return []
            customers = await s.execute(select(Customer).where(Customer.id.in_(ids)).order_by(Customer.id))
            return [_customer_view(c) for c in customers.scalars()]

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
            assert customer is not None  # FK
            return _customer_view(customer), _account_view(acc)

    async def outages(self, area_code: str, utility: str, now: dt.datetime, ahead: dt.timedelta) -> list[OutageView]:
        async with self.db.session() as s:
            rows = await s.execute(
                select(Outage).where(
                    Outage.area_code == area_code, Outage.utility == Utility(utility), Outage.cancelled.is_(False),
                    Outage.starts_at <= now + ahead, or_(Outage.ends_at.is_(None), Outage.ends_at > now),
                ).order_by(Outage.starts_at))
            return [OutageView(o.id, o.planned, o.starts_at, o.ends_at, o.reason, o.notice) for o in rows.scalars()]

    async def recent_calls(self, caller_number: str, since: dt.datetime, exclude_call: int) -> int:
        if not caller_number:
            return 0
        async with self.db.session() as s:
            return int((await s.execute(select(func.count(Call.id)).where(and_(
                Call.caller_number == caller_number, Call.started_at >= since, Call.id != exclude_call)))).scalar_one())

    async def create_message_order(self, *, call_id: int, order_type: str, customer: CustomerView | None,
                                   caller_number: str, recording: str, flow: str, node: str,
                                   now: dt.datetime) -> str:
        kind = WorkOrderType(order_type)
        number = f"LY{now:%Y%m%d%H%M%S}{uuid.uuid4().hex[:6].upper()}"
        async with self.db.begin() as s:
            s.add(WorkOrder(
                number=number, type=kind, call_id=call_id, customer_id=customer.id if customer else None,
                contact_phone=caller_number, address=customer.address if customer else "",
                description=f"来电留言（{flow}/{node}），录音：{recording}",
                created_at=now, callback_required=kind not in NO_CALLBACK,
                history=[{"at": now.isoformat(), "event": "created", "by": "ivr", "recording": recording}]))
        return number
