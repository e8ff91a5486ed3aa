"""The fallback sweeper: messages left in [hotline-fallback] (our service down or our code failed) become
callback work orders, with a call row even for calls our service never saw."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr.workorders.intake import FallbackSweeper, SidecarError, parse_sidecar
from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import Call, HangupSide, WorkOrder, WorkOrderType
from tests.flows.conftest import add_customer
from tests.builders import order_service

EPOCH = 1_795_000_000
AT = dt.datetime.fromtimestamp(EPOCH, dt.timezone.utc)
LATER = AT + dt.timedelta(minutes=10)


def sidecar(directory: Path, uniqueid: str, caller: str = "13900139001", reason: str = "direct",
            message: bytes | None = b"RIFF" + b"\0" * 2000, epoch: int = EPOCH) -> Path:
    """What the dialplan writes: `echo ... | xargs -n1` gives one key=value a line."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"fallback-{uniqueid}.txt"
    path.write_text(f"uniqueid={uniqueid}\ncaller={caller}\ndialed=95598\nreason={reason}\n"
                    f"detail=\nqueue_status=TIMEOUT\nepoch={epoch}\n", encoding="utf-8")
    if message is not None:
        (directory / f"fallback-{uniqueid}.wav").write_bytes(message)
    return path


def test_a_sidecar_parses_and_bad_ones_name_file_and_line() -> None:
    msg = parse_sidecar("uniqueid=hl-1.5\ncaller=139\ndialed=95598\nreason=lookup_queue\ndetail=x:y\n"
                        "queue_status=TIMEOUT\nepoch=1795000000\n", "f.txt")
    assert (msg.uniqueid, msg.caller, msg.reason, msg.detail, msg.queue_status, msg.at) == (
        "hl-1.5", "139", "lookup_queue", "x:y", "TIMEOUT", AT)
    assert parse_sidecar("uniqueid=u\nepoch=1795000000\nreason=\n").reason == "direct"
    for text, message in [("uniqueid=u\nepoch=1\nwho=me\n", "f.txt:3: expected one of"),
                          ("uniqueid=u\nuniqueid=v\nepoch=1\n", "f.txt:2: uniqueid given twice"),
                          ("caller=1\nepoch=1\n", "f.txt: no uniqueid"),
                          ("uniqueid=u\nepoch=soon\n", "f.txt: epoch 'soon' is not a Unix time"),
                          ("garbage\n", "f.txt:1: expected one of")]:
        with pytest.raises(SidecarError, match=message):
            parse_sidecar(text, "f.txt")


async def test_a_call_we_never_saw_gets_a_row_and_a_callback_order(db: Database, tmp_path: Path) -> None:
    customer = await add_customer(db, name="李娜", phone="13900139001")
    path = sidecar(tmp_path, "hl-1795000000.7")
    sweeper = FallbackSweeper(db, tmp_path, order_service(db), message_seconds=120)
    report = await sweeper.sweep(LATER)
    assert len(report.orders) == 1 and not path.exists() and path.with_suffix(".done").exists()
    async with db.session() as s:
        call = (await s.execute(select(Call))).scalar_one()
        order = (await s.execute(select(WorkOrder))).scalar_one()
    assert (call.channel_id, call.protocol, call.caller_number, call.dialed) == (
        "hl-1795000000.7", "dialplan", "13900139001", "95598")
    assert call.started_at == AT and call.ended_at == AT and call.hangup_side is HangupSide.UNKNOWN
    assert order.number == report.orders[0] and order.type is WorkOrderType.CALLBACK_REQUEST
    assert (order.call_id, order.customer_id, order.contact_phone) == (call.id, customer, "13900139001")
    assert order.callback_required and order.callback_due_at is not None
    assert str(tmp_path / "fallback-hl-1795000000.7.wav") in order.description
    events = await Timeline(db).events(call.id)
    assert [e.kind for e in events] == ["arrived", "fallback.message", "hangup"]
    assert events[1].data["known_call"] is False and events[1].data["queue_status"] == "TIMEOUT"


async def test_a_known_call_is_reused_and_a_silent_caller_is_still_called_back(db: Database,
                                                                                tmp_path: Path) -> None:
    call, _ = await Timeline(db).open_call(channel_id="hl-1795000000.9", protocol="ari",
                                           caller_number="13700000000", at=AT)
    sidecar(tmp_path, "hl-1795000000.9", caller="13700000000", reason="handler_failed", message=b"RIFF")
    report = await FallbackSweeper(db, tmp_path, order_service(db), message_seconds=120).sweep(LATER)
    assert len(report.orders) == 1
    async with db.session() as s:
        calls = (await s.execute(select(Call))).scalars().all()
        order = (await s.execute(select(WorkOrder))).scalar_one()
    assert [c.id for c in calls] == [call.id] and calls[0].ended_at is not None
    assert order.call_id == call.id and order.customer_id is None and "来电人未留言" in order.description
    assert [e.data["known_call"] for e in await Timeline(db).events(call.id) if e.kind == "fallback.message"] == [
        True]


async def test_recent_messages_wait_and_a_crash_before_the_rename_makes_no_second_order(
        db: Database, tmp_path: Path) -> None:
    fresh = sidecar(tmp_path, "hl-fresh", epoch=EPOCH)
    sweeper = FallbackSweeper(db, tmp_path, order_service(db), message_seconds=120)
    early = await sweeper.sweep(AT + dt.timedelta(seconds=30))  # the caller may still be speaking
    assert (early.orders, early.waiting) == ([], 1) and fresh.exists()
    assert len((await sweeper.sweep(LATER)).orders) == 1
    # As if we had died after the commit: the sidecar is back, the order exists.
    fresh.with_suffix(".done").rename(fresh)
    again = await sweeper.sweep(LATER)
    assert (again.orders, again.already) == ([], 1) and not fresh.exists()
    async with db.session() as s:
        assert len((await s.execute(select(WorkOrder))).scalars().all()) == 1


async def test_an_unreadable_sidecar_is_set_aside_and_the_rest_still_swept(db: Database, tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "fallback-broken.txt").write_text("caller=1\n", encoding="utf-8")
    (tmp_path / "fallback-other.txt.tmp").write_text("half written", encoding="utf-8")  # not a sidecar yet
    sidecar(tmp_path, "hl-good")
    report = await FallbackSweeper(db, tmp_path, order_service(db), message_seconds=120).sweep(LATER)
    assert len(report.orders) == 1 and len(report.bad) == 1 and "no uniqueid" in report.bad[0]
    assert (tmp_path / "fallback-broken.bad").exists() and (tmp_path / "fallback-other.txt.tmp").exists()
    assert (await FallbackSweeper(db, tmp_path / "missing", order_service(db), message_seconds=120).sweep(LATER)).orders == []
