from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.session import alembic_head, DatabaseUnavailable
from ivr.db.models import Account, Area, Call, Customer, CustomerPhone, HangupSide, Outage, utcnow


async def test_migrated_to_head(db: Database) -> None:
    assert await db.current_revision() == alembic_head()


async def test_customer_roundtrip_with_aware_times(db: Database) -> None:
    async with db.begin() as s:
        s.add(Area(code="A01", name="城东片区"))
        c = Customer(name="张三", area_code="A01", special_care=True,
                     phones=[CustomerPhone(number="13800138000")],
                     accounts=[Account(account_no="G1000001", balance=Decimal("12.50"), arrears=Decimal("0"))])
        s.add(c)
        s.add(Outage(area_code="A01", starts_at=utcnow(), notice="今晚停气"))
    async with db.session() as s:
        got = (await s.execute(select(Customer).where(Customer.name == "张三"))).scalar_one()
        assert got.phones[0].number == "13800138000"
        assert got.accounts[0].balance == Decimal("12.50")
        assert got.created_at.tzinfo is not None
        outage = (await s.execute(select(Outage))).scalar_one()
        assert outage.starts_at.utcoffset() == dt.timedelta(0)


async def test_naive_datetime_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        async with db.begin() as s:
            s.add(Outage(area_code=None, starts_at=dt.datetime(2026, 1, 1)))  # type: ignore[arg-type]


async def test_timeline_orders_events_and_closes_once(db: Database) -> None:
    tl = Timeline(db)
    call, created = await tl.open_call(channel_id="chan-1", protocol="ari", caller_number="13800138000")
    assert created
    again, created2 = await tl.open_call(channel_id="chan-1", protocol="ari")
    assert again.id == call.id and not created2
    # Concurrent writers must still produce a gap-free sequence.
    await asyncio.gather(*(tl.add_event(call.id, "ivr.node", {"node": f"n{i}"}) for i in range(10)))
    assert await tl.close_call(call.id, side=HangupSide.CALLER, cause="16")
    assert not await tl.close_call(call.id, side=HangupSide.AGENT, cause="16")
    events = await tl.events(call.id)
    assert [e.seq for e in events] == list(range(1, 13))
    assert events[0].kind == "arrived" and events[-1].kind == "hangup"
    assert events[-1].data == {"side": "caller", "cause": "16"}
    row = await tl.get(call.id)
    assert row is not None and row.hangup_side == HangupSide.CALLER and row.outcome == "ivr"


async def test_update_rejects_unknown_field(db: Database) -> None:
    tl = Timeline(db)
    call, _ = await tl.open_call(channel_id="chan-2", protocol="agi")
    await tl.update(call.id, priority=50, skill="gas")
    with pytest.raises(AttributeError):
        await tl.update(call.id, no_such_field=1)
    async with db.session() as s:
        assert (await s.get(Call, call.id)).priority == 50  # type: ignore[union-attr]


async def test_dead_database_is_a_clear_error() -> None:
    dead = Database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises(DatabaseUnavailable, match="127.0.0.1:1"):
            await dead.ping()
    finally:
        await dead.dispose()


async def test_migrations_match_models(db: Database) -> None:
    # A model change without its Alembic revision would pass on create_all but break real upgrades.
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from ivr.db.models import Base

    def diff(conn):  # type: ignore[no-untyped-def]
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, Base.metadata)

    async with db.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == []
