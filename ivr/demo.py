"""Demo data: realistic customers, areas, an active outage, queues and agents, so a fresh install can take calls.

Idempotent: running it twice updates nothing that already exists (keyed by area code, account number, agent
ID and queue name).
"""

from __future__ import annotations

import asyncio

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import bcrypt
from sqlalchemy import select

from ivr.db import Database
from ivr.db.models import (
    Account,
    Agent,
    AgentState,
    Area,
    Customer,
    CustomerPhone,
    Outage,
    Queue,
    Role,
    Unit,
    Utility,
    WorkOrder,
    WorkOrderType,
    utcnow,
)

AREAS = [
    ("A01", "城东片区", "东城区"),
    ("A02", "城西片区", "西城区"),
    ("A03", "高新片区", "高新区"),
    ("A04", "滨江片区", "滨江区"),
]

# (queue name, display name, skill, weight): emergency outranks everything, as the gas rules demand.
QUEUES = [
    ("emergency", "燃气泄漏抢险", "emergency", 100),
    ("repair", "故障报修", "repair", 20),
    ("service", "业务办理", "service", 10),
    ("billing", "账单缴费", "billing", 10),
    ("complaint", "投诉建议", "complaint", 15),
    ("general", "综合咨询", "general", 0),
]

ALL_SKILLS = [q[2] for q in QUEUES]

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
         "超", "秀兰", "霞", "平", "刚", "桂英", "建华", "国强", "淑珍", "玉兰", "志明"]
STREETS = ["解放路", "人民大街", "建设路", "和平里", "朝阳路", "文化街", "滨江大道", "科技园路"]


@dataclass(frozen=True)
class DemoAgent:
    agent_id: str
    name: str
    role: Role
    skills: tuple[str, ...]
    unit: str = ""  # role unit: the responsible unit's code


# The responsible units of a gas and a water utility (code, name, utility, the order types each takes by
# default); the centre itself (客服中心) handles complaints and the like.
DEMO_UNITS = [
    ("qx", "燃气抢修中心", Utility.GAS, ("emergency", "repair")),
    ("gw", "燃气管网所", Utility.GAS, ()),
    ("yy", "燃气营业厅", Utility.GAS, ("service_application", "consultation")),
    ("kf", "客服中心", None, ("complaint", "report", "opinion", "suggestion", "praise")),
    ("sq", "供水抢修队", Utility.WATER, ()),
    ("sy", "供水营业厅", Utility.WATER, ()),
]


DEMO_AGENTS = [
    DemoAgent("1001", "李晓梅", Role.AGENT, ("emergency", "repair", "general", "billing")),
    DemoAgent("1002", "王建国", Role.AGENT, ("emergency", "repair", "service", "general")),
    DemoAgent("1003", "赵丽华", Role.AGENT, ("service", "billing", "complaint", "general")),
    DemoAgent("2001", "孙质检", Role.QA, ()),
    DemoAgent("3001", "周班长", Role.SUPERVISOR, tuple(ALL_SKILLS)),
    DemoAgent("9001", "系统管理员", Role.ADMIN, ()),
    DemoAgent("5001", "抢修中心值班员", Role.UNIT, (), unit="qx"),
    DemoAgent("5002", "管网所值班员", Role.UNIT, (), unit="gw"),
    DemoAgent("5003", "营业厅受理员", Role.UNIT, (), unit="yy"),
    DemoAgent("5004", "客服中心专员", Role.UNIT, (), unit="kf"),
    DemoAgent("5005", "供水抢修队值班员", Role.UNIT, (), unit="sq"),
]

# Fixed customers the README and tests refer to (the test call dials in with these numbers).
KNOWN_CUSTOMERS = [
    ("张伟", "13800138000", "A01", "G2024000001", True, "独居老人，行动不便"),
    ("李娜", "13900139000", "A02", "G2024000002", False, ""),
    ("王秀英", "13700137000", "A01", "W2024000003", False, ""),
]


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=10)).decode()


def _id_number(rng: random.Random) -> str:
    body = f"{rng.choice(['110101', '320102', '440305', '510104'])}{rng.randint(1940, 2004)}" \
           f"{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(100, 999)}"
    return body + rng.choice("0123456789X")


async def load_demo_data(db: Database, *, password: str, customers: int = 60, seed: int = 95598,
                         now: dt.datetime | None = None, zone: dt.tzinfo | None = None) -> dict[str, int]:
    """`password` logs in every demo agent: the caller makes it per install (`hotline demo-data` keeps it in
    a file only this user reads), so no login of a demo instance is known from the repository."""
    pw = await asyncio.to_thread(hash_password, password)
    rng = random.Random(seed)
    now = now or utcnow()
    created = {"areas": 0, "customers": 0, "queues": 0, "units": 0, "agents": 0, "outages": 0, "orders": 0}
    async with db.begin() as s:
        existing_units = set((await s.execute(select(Unit.code))).scalars())
        for code, name, utility, handles in DEMO_UNITS:
            if code not in existing_units:
                s.add(Unit(code=code, name=name, utility=utility, handles=list(handles)))
                created["units"] += 1
        await s.flush()

        for code, name, district in AREAS:
            if await s.get(Area, code) is None:
                s.add(Area(code=code, name=name, district=district))
                created["areas"] += 1
        await s.flush()

        existing_queues = set((await s.execute(select(Queue.name))).scalars())
        for name, display, skill, weight in QUEUES:
            if name not in existing_queues:
                s.add(Queue(name=name, display_name=display, skill=skill, weight=weight))
                created["queues"] += 1

        existing_agents = set((await s.execute(select(Agent.agent_id))).scalars())
        for a in DEMO_AGENTS:
            if a.agent_id in existing_agents:
                continue
            s.add(Agent(agent_id=a.agent_id, name=a.name, role=a.role, password_hash=pw,
                        sip_endpoint=f"agent-{a.agent_id}" if a.role in (Role.AGENT, Role.SUPERVISOR) else None,
                        skills=list(a.skills), state=AgentState.OFFLINE, team="一班" if a.role is not Role.UNIT else "",
                        unit_code=a.unit or None))
            created["agents"] += 1

        existing_accounts = set((await s.execute(select(Account.account_no))).scalars())
        specs = list(KNOWN_CUSTOMERS)
        for i in range(customers - len(KNOWN_CUSTOMERS)):
            name = rng.choice(SURNAMES) + rng.choice(GIVEN)
            phone = f"1{rng.choice('3578')}{rng.randint(0, 9)}{rng.randint(10000000, 99999999)}"
            area = rng.choice(AREAS)[0]
            prefix = "G" if i % 3 else "W"
            specs.append((name, phone, area, f"{prefix}{2024100000 + i}", rng.random() < 0.08,
                          "重点登记：老弱病残" if rng.random() < 0.5 else "孕期"))
        for name, phone, area, account_no, special, note in specs:
            if account_no in existing_accounts:
                continue
            arrears = Decimal(rng.choice([0, 0, 0, 35, 128]) ) + Decimal(rng.randint(0, 99)) / 100
            s.add(Customer(
                name=name, id_number=_id_number(rng), area_code=area, special_care=special,
                special_care_note=note if special else "",
                address=f"{dict((a[0], a[2]) for a in AREAS)[area]}{rng.choice(STREETS)}{rng.randint(1, 300)}号"
                        f"{rng.randint(1, 30)}栋{rng.randint(1, 6)}单元{rng.randint(101, 2802)}室",
                phones=[CustomerPhone(number=phone, label="手机")],
                accounts=[Account(account_no=account_no, meter_no=f"M{rng.randint(10**9, 10**10 - 1)}",
                                  utility=Utility.GAS if account_no.startswith("G") else Utility.WATER,
                                  balance=Decimal(rng.randint(0, 500)) + Decimal(rng.randint(0, 99)) / 100,
                                  arrears=arrears if not special else Decimal("0"))],
            ))
            created["customers"] += 1

        has_outage = (await s.execute(select(Outage.id).where(Outage.area_code == "A01"))).first()
        if has_outage is None:
            start = now - dt.timedelta(hours=1)
            s.add(Outage(area_code="A01", utility=Utility.GAS, planned=True, starts_at=start,
                         ends_at=start + dt.timedelta(hours=8), reason="管网改造",
                         notice="城东片区因管网改造，今日停气至晚上八点，给您带来不便敬请谅解。",
                         announced_at=start - dt.timedelta(hours=48)))
            s.add(Outage(area_code="A03", utility=Utility.WATER, planned=True,
                         starts_at=now + dt.timedelta(days=2), ends_at=now + dt.timedelta(days=2, hours=6),
                         reason="水管检修", notice="高新片区后天上午八点至下午两点计划停水。",
                         announced_at=now))
            created["outages"] += 2
    created["orders"] = await _demo_orders(db, now, zone)
    return created


async def _demo_orders(db: Database, now: dt.datetime, zone: dt.tzinfo | None) -> int:
    """A few open orders in different clock states, so a newcomer sees the pages with something on them.
    Only into a database without demo orders (idempotent)."""
    from ivr.workorders import Actor, NewWorkOrder, OrderSource, WorkOrderService
    from ivr.workorders.sweep import ClockSweep

    async with db.session() as s:
        if (await s.execute(select(WorkOrder.id).where(WorkOrder.source == OrderSource.DEMO.value).limit(1))).first():
            return 0
        people = {a.agent_id: (a.id, a.role, a.unit_code)
                  for a in (await s.execute(select(Agent))).scalars()}
        customers = {acc.account_no: (c.id, c.address, c.phones[0].number if c.phones else "")
                     for c, acc in (await s.execute(select(Customer, Account).join(Account))).all()}
    if "1001" not in people:
        return 0

    def who(agent_id: str) -> Actor:
        pk, role, unit = people[agent_id]
        return Actor(pk, role, unit, agent_id)

    orders = WorkOrderService(db, zone or ZoneInfo("Asia/Shanghai"))
    n = 0

    async def order(account: str, kind: WorkOrderType, text: str, minutes_ago: float, unit: str,
                    steps: tuple[tuple[str, str, dict[str, Any]], ...] = (), topic: str = "") -> None:
        nonlocal n
        cid, address, phone = customers.get(account, (None, "", ""))
        taken = now - dt.timedelta(minutes=minutes_ago)
        o = await orders.create(NewWorkOrder(kind, text, OrderSource.DEMO, customer_id=cid, contact_phone=phone,
                                             address=address, unit=unit, owner_pk=people["1001"][0], topic=topic),
                                at=taken)
        for i, (event, agent_id, values) in enumerate(steps, 1):
            o = await orders.apply(o.id, event, who(agent_id), at=taken + dt.timedelta(minutes=i), **values)
        n += 1

    await order("G2024000001", WorkOrderType.REPAIR, "燃气灶打不着火，客户已关闭阀门", 2, "qx")
    await order("G2024000002", WorkOrderType.REPAIR, "热水器点火后熄火", 110, "qx",
                (("dispatch", "1001", {}),))
    await order("W2024000003", WorkOrderType.COMPLAINT, "抄表员态度生硬，要求道歉", 240, "kf",
                (("dispatch", "1001", {}), ("accept", "5004", {})), topic="服务态度")
    await order("G2024000002", WorkOrderType.SERVICE_APPLICATION, "申请燃气表移位", 60 * 24, "yy",
                (("dispatch", "1001", {}), ("accept", "5003", {}), ("start", "5003", {}),
                 ("wait_caller", "5003", {"reason": "客户出差，约下周上门"})))
    await order("G2024000001", WorkOrderType.SERVICE_APPLICATION, "申请安装燃气报警器", 120, "yy",
                (("dispatch", "1001", {}), ("accept", "5003", {}), ("start", "5003", {}),
                 ("request_extension", "5003", {"reason": "报警器缺货，厂家三日后到货",
                                                "until": now + dt.timedelta(days=12)})))
    await order("G2024000001", WorkOrderType.EMERGENCY, "楼道内有燃气味，已通知抢修", 10, "qx")
    await ClockSweep(orders).sweep(now)  # the clocks as they stand now
    return n
