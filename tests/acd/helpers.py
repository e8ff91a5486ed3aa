"""Shared set-up for ACD and console tests: agents, queues, a customer, calls, and an event recorder."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

import bcrypt

from ivr.acd.ports import AcdEvent
from ivr.calls.timeline import Timeline
from ivr.db import Database
from ivr.db.models import Agent, Area, Customer, CustomerPhone, Queue, Role

PASSWORD = "hotline123"
_channels = itertools.count(1)


@dataclass
class Seeded:
    agents: dict[str, int]  # agent_id -> pk
    customers: dict[str, int]  # name -> id


async def seed(db: Database, *, wrap_up_seconds: int = 10, password: str = PASSWORD) -> Seeded:
    # Cheap rounds: this is test data, the cost factor is not what these tests are about.
    pw = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    agents = [
        ("1001", "李晓梅", Role.AGENT, ["general", "repair", "emergency"]),
        ("1002", "王建国", Role.AGENT, ["general", "repair", "emergency"]),
        ("1003", "赵丽华", Role.AGENT, ["general", "complaint"]),
        ("2001", "孙质检", Role.QA, []),
        ("3001", "周班长", Role.SUPERVISOR, []),
        ("9001", "管理员", Role.ADMIN, []),
    ]
    out = Seeded(agents={}, customers={})
    async with db.begin() as s:
        s.add(Area(code="A01", name="城东片区", district="东城区"))
        s.add_all([Queue(name="general", display_name="综合咨询", skill="general", weight=0,
                         max_wait_seconds=300, announce_every_seconds=30),
                   Queue(name="complaint", display_name="投诉建议", skill="complaint", weight=15,
                         max_wait_seconds=300, announce_every_seconds=30),
                   Queue(name="emergency", display_name="燃气泄漏抢险", skill="emergency", weight=100,
                         max_wait_seconds=120, announce_every_seconds=20)])
        for agent_id, name, role, skills in agents:
            a = Agent(agent_id=agent_id, name=name, password_hash=pw, role=role, skills=skills,
                      sip_endpoint=f"agent-{agent_id}" if role is Role.AGENT else None,
                      wrap_up_seconds=wrap_up_seconds)
            s.add(a)
            await s.flush()
            out.agents[agent_id] = a.id
        for name, phone, special, id_number in [("张伟", "13800138000", True, "110101194501011234"),
                                                ("李娜", "13900139000", False, "320102199003154321")]:
            c = Customer(name=name, id_number=id_number, address="东城区解放路12号3单元501", area_code="A01",
                         special_care=special, special_care_note="独居老人" if special else "")
            c.phones.append(CustomerPhone(number=phone, label="手机"))
            s.add(c)
            await s.flush()
            out.customers[name] = c.id
    return out


async def new_call(db: Database, *, caller: str = "13800138000", customer_id: int | None = None,
                   verified: bool = False) -> int:
    timeline = Timeline(db)
    call, _ = await timeline.open_call(channel_id=f"test-{next(_channels)}-{id(db)}", protocol="ari",
                                       caller_number=caller, dialed="95598", flow="gas")
    if customer_id is not None or verified:
        await timeline.update(call.id, customer_id=customer_id, verified=verified)
    return call.id


@dataclass(frozen=True)
class Request:
    queue: str = "general"
    skill: str = ""
    priority: int = 0


@dataclass
class EventLog:
    """Everything the ACD published, and a way to wait for the next event of a kind."""

    events: list[AcdEvent] = field(default_factory=list)
    _cursor: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, event: AcdEvent) -> None:
        self.events.append(event)
        self._changed.set()

    async def next(self, kind: str, **match: Any) -> Any:
        """The next event (after the previous one returned) of this kind whose fields match."""
        while True:
            for i in range(self._cursor, len(self.events)):
                ev = self.events[i]
                if ev.kind == kind and all(getattr(ev, k) == v for k, v in match.items()):
                    self._cursor = i + 1
                    return ev
            self._changed.clear()
            await self._changed.wait()

    async def seen(self, kind: str, **match: Any) -> Any:
        """The first event ever published of this kind whose fields match (the cursor stays put)."""
        while True:
            for ev in self.events:
                if ev.kind == kind and all(getattr(ev, k) == v for k, v in match.items()):
                    return ev
            self._changed.clear()
            await self._changed.wait()

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]
