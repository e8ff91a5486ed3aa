"""`hotline flows simulate`: the real engine on a ScriptedChannel, printing what the caller hears and does.

By default it runs on a throw-away SQLite database (migrated like production), optionally with the
project's demo data (ivr/demo.py), so operators can try verification, balance read-out and outage notices
without touching real data.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Any, Callable, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import select

from call_flows.say import SAY_TEXT
from call_flows.schema import Flow
from ivr.db import Database
from ivr.db.models import Customer
from ivr.engine import FlowEngine, FlowFailed, FlowResult, Outcome, ScriptedChannel
from ivr.workorders import WorkOrderService


def describe_media(flow: Flow, media: list[str]) -> str:
    """What the caller hears, as text: prompt texts, read-outs joined into words."""
    parts: list[str] = []
    for m in media:
        kind, _, rest = m.partition(":")
        bits = rest.split("/")
        if kind == "sound" and len(bits) == 4 and bits[0] == "hotline":
            _, _, ns, pid = bits
            if ns == flow.name and pid in flow.prompts:
                parts.append(flow.prompts[pid].text)
            elif ns == "say":
                parts.append(SAY_TEXT.get(pid, pid))
            elif ns == "dyn":
                parts.append("[停气通知]")
            else:
                parts.append(f"[{rest}]")
        else:
            parts.append(f"[{m}]")
    out = ""
    for p in parts:
        out += p if (len(p) <= 2 and not p.startswith("[")) else (" " + p if out else p)
    return out.strip()


async def seed_demo(db: Database, now: dt.datetime, out: TextIO) -> None:
    """The project's demo data (ivr/demo.py: known customers, areas, outages) and what to key to use it."""
    from ivr.demo import KNOWN_CUSTOMERS, load_demo_data

    # A throw-away database: its demo logins need a password, nobody logs in with it.
    await load_demo_data(db, password=secrets.token_urlsafe(12), customers=len(KNOWN_CUSTOMERS), now=now)
    async with db.session() as s:
        rows = await s.execute(select(Customer).order_by(Customer.id))
        for c in rows.scalars():
            tail = c.id_number[-4:].replace("X", "*")
            accounts = ", ".join(a.account_no for a in c.accounts)
            care = " 重点登记" if c.special_care else ""
            print(f"演示客户: {c.name} 电话 {', '.join(p.number for p in c.phones)} 户号 {accounts} "
                  f"身份证后四位 {tail} 区域 {c.area_code}{care}", file=out)


def printer(flow: Flow, out: TextIO) -> Callable[[str, dict[str, Any]], None]:
    """One listener for engine events and channel actions, in the order they happen."""

    def show(kind: str, data: dict[str, Any]) -> None:
        if kind == "ivr.node":
            print(f"[{data['node']}] ({data['type']})", file=out)
        elif kind == "play":
            print(f"    播放: {describe_media(flow, data['media'])}", file=out)
        elif kind == "collect":
            shown = data["digits"] or "(无按键)"
            print(f"    按键: {shown}", file=out)
        elif kind == "record":
            print(f"    录音: {data['step']}", file=out)
        elif kind == "ivr.speech":
            if "error" in data:
                print(f"    语音识别失败: {data['error']}", file=out)
            else:
                print(f"    识别: '{data['text']}' 置信度 {data['confidence']} -> "
                      f"{data['phrase'] or data['emergency'] or '未匹配'}", file=out)
        elif kind in ("ivr.lookup", "ivr.verify", "ivr.outage", "ivr.branch", "ivr.emergency", "ivr.zero_out",
                      "ivr.retries_exhausted", "ivr.survey", "ivr.message", "ivr.jump", "ivr.balance",
                      "ivr.transfer", "ivr.error"):
            detail = ", ".join(f"{k}={v}" for k, v in data.items() if k != "node")
            print(f"    {kind[4:]}: {detail}", file=out)
        elif kind in ("caller_hangup", "ignored"):
            print(f"    {kind}: {data}", file=out)

    return show


def summary(result: FlowResult) -> str:
    lines = [f"结果: {result.outcome.value}"]
    if result.outcome is Outcome.QUEUE and result.queue is not None:
        q = result.queue
        lines.append(f"排队: queue={q.queue} skill={q.skill} priority={q.priority} emergency={q.emergency} "
                     f"verified={q.verified} category={q.category or '-'} flags={','.join(sorted(q.flags)) or '-'}")
    lines.append("路径: " + " -> ".join(result.path))
    return "\n".join(lines)


async def simulate(flow: Flow, script: str, *, db: Database, workdir: Path, out: TextIO,
                   caller_number: str = "13800138000", clock: Callable[[], dt.datetime] | None = None,
                   recognizer: Any = None, voice: str = "cmn", entry: str | None = None,
                   sounds_dir: Path | None = None) -> FlowResult:
    show = printer(flow, out)
    channel = ScriptedChannel(script, workdir=workdir, caller_number=caller_number, voice=voice, listener=show)
    kwargs: dict[str, Any] = {"recognizer": recognizer, "observer": show, "sounds_dir": sounds_dir}
    if clock is not None:
        kwargs["clock"] = clock
    # The flow's own timezone: a dry run has no hotline settings, and the flow says where it runs.
    engine = FlowEngine(db, orders=WorkOrderService(db, ZoneInfo(flow.header.timezone)), **kwargs)
    start = flow.header.entries[entry] if entry else None
    try:
        result = await engine.run(flow, channel, start=start)
    except FlowFailed as exc:
        print(f"结果: 流程出错，呼叫转入拨号计划兜底 (fallback): {exc}", file=out)
        print("路径: " + " -> ".join(exc.path), file=out)
        raise
    print(summary(result), file=out)
    return result
