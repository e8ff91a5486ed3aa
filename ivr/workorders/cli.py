"""`hotline workorders ...`: what operators ask of the work-order rules without opening the console.

    hotline workorders calendar check YEAR        which days of YEAR are off / working, and from which source
    hotline workorders due TYPE --at ISO [--level N]   every deadline of a new order of that type
    hotline workorders units list | add CODE --name N [--utility gas] [--handles repair,emergency]

Exit codes: 0 fine; 1 the answer is estimated (a year the calendar does not know) or a calendar file is bad;
2 bad input (the message says which).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from typing import Any

from ivr.db.models import WorkOrderType
from ivr.errors import CliError, HotlineError
from ivr.settings import Settings
from ivr.workorders.calendar import WorkingCalendar, spans


def load_calendar(settings: Settings) -> WorkingCalendar:
    calendar = WorkingCalendar.from_directory(settings.workorders.calendar_dir)
    for problem in calendar.problems:
        print(f"calendar file left out: {problem}", file=sys.stderr)
    return calendar


def _day(d: dt.date) -> str:
    return f"{d.isoformat()} {'一二三四五六日'[d.weekday()]}"


def cmd_calendar_check(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    year: int = args.year
    if not 1900 <= year <= 2200:
        raise CliError(f"year {year} is out of range (1900-2200)")
    calendar = load_calendar(settings)
    report = calendar.report(year)
    package = calendar.package_years
    package_text = f"chinesecalendar covers {package[0]}-{package[1]}" if package else "chinesecalendar missing"
    directory = settings.workorders.calendar_dir
    if report.estimated:
        print(f"{year}: NOT KNOWN ({package_text}; no {directory}/{year}.json)")
        print(f"  deadlines that reach into {year} are ESTIMATED: weekends are the only days off")
        print(f"  load the State Council's schedule as {directory}/{year}.json "
              '(holiday-cn format: {"year": ..., "days": [{"date", "name", "isOffDay"}]})')
        return 1
    print(f"{year}: known from {report.source.value} ({package_text}"
          + (f"; files: {', '.join(report.files)}" if report.files else "") + ")")
    print(f"  working days: {report.working_days}")
    print("  days off:")
    for first, last, name in spans(report.holidays):
        length = (last - first).days + 1
        print(f"    {_day(first)}" + (f" .. {_day(last)}" if last != first else "") + f"  {name} ({length} d)")
    print("  make-up working days (weekends that are worked):")
    for first, last, name in spans(report.makeup_days):
        print(f"    {_day(first)}" + (f" .. {_day(last)}" if last != first else "") + f"  {name}")
    if not report.makeup_days:
        print("    none")
    bad = [p for p in calendar.problems if str(year) in str(p.details.get("file", ""))]
    return 1 if bad else 0


def parse_at(text: str, zone: dt.tzinfo) -> dt.datetime:
    try:
        at = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CliError(f"--at {text!r} is not an ISO time, e.g. 2026-02-13T17:00") from None
    # A time without an offset is the hotline's local time: what an operator reads off a wall clock.
    return (at.replace(tzinfo=zone) if at.tzinfo is None else at).astimezone(dt.timezone.utc)


def due_lines(kind: WorkOrderType, at: dt.datetime, zone: dt.tzinfo, calendar: WorkingCalendar,
              level: int | None) -> tuple[list[str], bool]:
    from ivr.workorders.rules import RULES, complaint_level_of, deadlines

    lvl = complaint_level_of(kind, level)
    d = deadlines(kind, at, zone, complaint_level=lvl, calendar=calendar)

    def show(t: dt.datetime | None) -> str:
        return t.astimezone(zone).strftime("%Y-%m-%d %H:%M %a") if t is not None else "-"

    rule = RULES[kind]
    lines = [f"{kind.value}" + (f" (complaint level {lvl})" if lvl is not None else "")
             + f", taken {show(at)} ({zone})",
             f"  dispatch   {show(d.dispatch_due_at)}" + ("  (call the unit at once, back-fill the order)"
                                                          if rule.dispatch == dt.timedelta(0) else ""),
             f"  contact    {show(d.contact_due_at)}",
             f"  completion {show(d.finish_due_at)}",
             f"  reply      {show(d.reply_due_at)}" + ("  (provisional: counts from the unit's reply)"
                                                     if d.reply_due_at and kind is not WorkOrderType.CALLBACK_REQUEST
                                                     else ""),
             f"  callback   {show(d.callback_due_at) if d.callback_required else 'not required'}"]
    if d.estimated:
        years = ", ".join(str(y) for y in d.estimated_years)
        lines.append(f"  ESTIMATED: the calendar does not know {years} (weekends only); "
                     f"load {years}.json into the calendar directory")
    return lines, d.estimated


def cmd_due(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    try:
        kind = WorkOrderType(args.type)
    except ValueError:
        raise CliError(f"unknown type {args.type!r}; one of {', '.join(t.value for t in WorkOrderType)}") from None
    zone = settings.hotline.zone
    at = parse_at(args.at, zone)
    try:
        lines, estimated = due_lines(kind, at, zone, load_calendar(settings), args.level)
    except HotlineError as exc:
        raise CliError(str(exc)) from None
    print("\n".join(lines))
    return 1 if estimated else 0


def _with_service(settings: Settings, work: Any) -> int:
    import asyncio

    from ivr.db import Database
    from ivr.workorders.service import WorkOrderService

    async def go() -> int:
        db = Database(settings.database.url)
        try:
            await db.upgrade()
            result: int = await work(WorkOrderService(db, settings.hotline.zone))
            return result
        finally:
            await db.dispose()

    return asyncio.run(go())


def cmd_units_list(args: argparse.Namespace) -> int:
    async def work(orders: Any) -> int:
        units = await orders.units(active_only=False)
        print(f"{'code':<12} {'name':<12} {'utility':<8} {'active':<6} handles")
        for u in units:
            print(f"{u.code:<12} {u.name:<12} {u.utility.value if u.utility else '-':<8} "
                  f"{'yes' if u.active else 'no':<6} {','.join(u.handles or []) or '-'}")
        return 0

    return _with_service(args.settings, work)


def cmd_units_add(args: argparse.Namespace) -> int:
    from ivr.db.models import Utility

    try:
        handles = [WorkOrderType(h.strip()) for h in (args.handles or "").split(",") if h.strip()]
        utility = Utility(args.utility) if args.utility else None
    except ValueError as exc:
        raise CliError(f"{exc}; types: {', '.join(t.value for t in WorkOrderType)}") from None

    async def work(orders: Any) -> int:
        try:
            unit = await orders.save_unit(args.code, args.name, utility=utility, handles=handles, phone=args.phone,
                                          active=not args.inactive)
        except HotlineError as exc:
            raise CliError(str(exc)) from None
        print(f"unit {unit.code} ({unit.name}) saved; its staff: hotline agents add ID --role unit --unit {unit.code}")
        return 0

    return _with_service(args.settings, work)


def register(sub: Any) -> None:
    wo = sub.add_parser("workorders", help="work orders: the working-day calendar, deadlines")
    w = wo.add_subparsers(dest="workorders_command", metavar="ACTION", required=True)
    cal = w.add_parser("calendar", help="the working-day calendar")
    c = cal.add_subparsers(dest="calendar_command", metavar="ACTION", required=True)
    check = c.add_parser("check", help="what the calendar knows of a year (exit 1: unknown, deadlines estimated)")
    check.add_argument("year", type=int)
    check.set_defaults(func=cmd_calendar_check)

    due = w.add_parser("due", help="every deadline of a new order (exit 1: estimated)")
    due.add_argument("type", help=", ".join(t.value for t in WorkOrderType))
    due.add_argument("--at", required=True, help="when the order is taken, ISO (local time if no offset)")
    due.add_argument("--level", type=int, choices=(1, 2, 3), help="complaint level (complaints only)")
    due.set_defaults(func=cmd_due)

    units = w.add_parser("units", help="responsible units (责任单位)")
    u = units.add_subparsers(dest="units_command", metavar="ACTION", required=True)
    u.add_parser("list", help="list the units").set_defaults(func=cmd_units_list)
    add = u.add_parser("add", help="add or change a unit")
    add.add_argument("code", help="short code, e.g. qx")
    add.add_argument("--name", required=True, help="e.g. 抢修中心")
    add.add_argument("--utility", choices=("gas", "water", "heat"))
    add.add_argument("--handles", help="comma-separated order types it is the default unit for")
    add.add_argument("--phone", default="")
    add.add_argument("--inactive", action="store_true", help="takes no new orders")
    add.set_defaults(func=cmd_units_add)
