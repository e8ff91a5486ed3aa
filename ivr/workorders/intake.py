"""Messages left in the dialplan fallback become callback work orders (回访), even when our service was down.

The generated [hotline-fallback] context (docs/dialplan.md) writes, next to the caller's message
`fallback-<UNIQUEID>.wav`, a sidecar `fallback-<UNIQUEID>.txt` of key=value lines (values already filtered to
a shell-inert charset by the dialplan). This module is the sweeper that reads them:

- `parse_sidecar(text, where)`  pure: the lines -> FallbackMessage, or SidecarError naming file:line.
- `FallbackSweeper.sweep()`     every sidecar whose message is over (its epoch + the longest message + a margin
  is past): the call row (the one our app had for that channel, else a new one with protocol "dialplan", so a
  call our service never saw is on record too), a "fallback.message" event, and one CALLBACK_REQUEST work order
  with the contact number and the recording. Then the sidecar is renamed `.done` (`.bad` when unreadable).
  Idempotent: the order's text ends with the UNIQUEID, so a crash between the commit and the rename never
  makes a second order.
ivr/app.py runs sweep() at start and then every SWEEP_EVERY seconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from ivr.callers import CallerDirectory
from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import HangupSide, WorkOrder, WorkOrderType
from ivr.workorders.model import NewWorkOrder, OrderSource
from ivr.workorders.service import WorkOrderService

log = logging.getLogger(__name__)
SIDECAR_RE = re.compile(r"^fallback-([A-Za-z0-9._-]{1,150})\.txt$")
KEYS = ("uniqueid", "caller", "dialed", "reason", "detail", "queue_status", "epoch")
MESSAGE_MARGIN_SECONDS = 60.0  # Record() ends by itself after fallback_message_seconds; this covers the rest
WAV_HEADER = 44
MARK = "呼叫标识 "
SWEEP_EVERY = 30.0


class SidecarError(ValueError):
    """A sidecar that cannot be read as the dialplan writes it; str() names file:line."""


@dataclass(frozen=True)
class FallbackMessage:
    uniqueid: str
    caller: str
    dialed: str
    reason: str
    detail: str
    queue_status: str
    at: dt.datetime


def parse_sidecar(text: str, where: str = "<sidecar>") -> FallbackMessage:
    values: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or key not in KEYS:
            raise SidecarError(f"{where}:{n}: expected one of {', '.join(KEYS)} as key=value, got {line[:80]!r}")
        if key in values:
            raise SidecarError(f"{where}:{n}: {key} given twice")
        values[key] = value.strip()
    if not values.get("uniqueid"):
        raise SidecarError(f"{where}: no uniqueid")
    try:
        at = dt.datetime.fromtimestamp(int(values.get("epoch", "")), dt.timezone.utc)
    except (ValueError, OverflowError, OSError):
        raise SidecarError(f"{where}: epoch {values.get('epoch', '')!r} is not a Unix time") from None
    return FallbackMessage(uniqueid=values["uniqueid"], caller=values.get("caller", ""),
                           dialed=values.get("dialed", ""), reason=values.get("reason", "") or "direct",
                           detail=values.get("detail", ""), queue_status=values.get("queue_status", ""), at=at)


@dataclass
class SweepReport:
    orders: list[str] = field(default_factory=list)  # work-order numbers created
    already: int = 0  # sidecars whose order existed (a crash between commit and rename)
    waiting: int = 0  # messages that may still be recording
    bad: list[str] = field(default_factory=list)  # unreadable sidecars (renamed .bad), with the reason


class FallbackSweeper:
    def __init__(self, db: Database, messages_dir: Path, orders: WorkOrderService, *,
                 message_seconds: float) -> None:
        self.db = db
        self.messages_dir = messages_dir
        self.orders = orders
        self.message_seconds = message_seconds
        self.timeline = Timeline(db)
        self.callers = CallerDirectory(db)

    async def sweep(self, now: dt.datetime | None = None) -> SweepReport:
        now = now or dt.datetime.now(dt.timezone.utc)
        report = SweepReport()
        try:
            names = sorted(await asyncio.to_thread(os.listdir, self.messages_dir))
        except FileNotFoundError:
            return report
        for name in names:
            if SIDECAR_RE.match(name):
                await self._one(self.messages_dir / name, now, report)
        return report

    async def _one(self, path: Path, now: dt.datetime, report: SweepReport) -> None:
        try:
            msg = parse_sidecar(await asyncio.to_thread(path.read_text, "utf-8", "replace"), str(path))
        except OSError as exc:
            log.warning("fallback sweeper: cannot read %s: %s", path, exc)
            return
        except SidecarError as exc:
            log.error("fallback sweeper: %s (renamed .bad, no work order)", exc)
            report.bad.append(str(exc))
            await asyncio.to_thread(os.replace, path, path.with_suffix(".bad"))
            return
        if now < msg.at + dt.timedelta(seconds=self.message_seconds + MESSAGE_MARGIN_SECONDS):
            report.waiting += 1
            return
        if await self._order_for(msg.uniqueid) is not None:
            report.already += 1
        else:
            report.orders.append(await self._record(msg, path.with_suffix(".wav")))
        await asyncio.to_thread(os.replace, path, path.with_suffix(".done"))

    async def _order_for(self, uniqueid: str) -> WorkOrder | None:
        # The order's text names the call: written in the same transaction as the order itself.
        async with self.db.session() as s:
            return (await s.execute(select(WorkOrder).where(
                WorkOrder.type == WorkOrderType.CALLBACK_REQUEST,
                WorkOrder.description.endswith(f"{MARK}{uniqueid}")))).scalars().first()

    async def _record(self, msg: FallbackMessage, wav: Path) -> str:
        size = await asyncio.to_thread(lambda: wav.stat().st_size if wav.is_file() else 0)
        has_message = size > WAV_HEADER
        # ARI channel ids are the UNIQUEID (we never pick our own for callers), and so are AGI call rows.
        call, created = await self.timeline.open_call(channel_id=msg.uniqueid, protocol="dialplan",
                                                      caller_number=msg.caller, dialed=msg.dialed, at=msg.at)
        await self.timeline.add_event(call.id, "fallback.message", {
            "reason": msg.reason, "detail": msg.detail, "queue_status": msg.queue_status,
            "recording": str(wav) if has_message else None, "known_call": not created})
        if created or call.ended_at is None:
            await self.timeline.close_call(call.id, side=HangupSide.UNKNOWN, cause="fallback message",
                                           outcome="fallback_message", at=msg.at)
        customers = await self.callers.customers_by_phone(msg.caller) if msg.caller else []
        customer = customers[0] if len(customers) == 1 else None  # a shared number names nobody for sure
        said = f"留言录音：{wav}" if has_message else "来电人未留言"
        order = await self.orders.create(NewWorkOrder(
            type=WorkOrderType.CALLBACK_REQUEST, source=OrderSource.FALLBACK, call_id=call.id,
            customer_id=customer.id if customer else None, contact_phone=msg.caller,
            address=customer.address if customer else "",
            description=(f"热线转入留言通道（{msg.reason}{'，' + msg.detail if msg.detail else ''}），"
                         f"请回电 {msg.caller or '（无主叫号码）'}。{said}。{MARK}{msg.uniqueid}"),
            recording=str(wav) if has_message else ""),
            at=max(msg.at, dt.datetime.now(dt.timezone.utc)))
        log.info("fallback message from %s (%s): callback work order %s", msg.caller or "unknown", msg.reason,
                 order.number)
        return order.number
