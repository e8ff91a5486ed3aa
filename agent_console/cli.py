"""`hotline agents list|add|passwd|set|disable`: console accounts (工号, role, phone endpoint, skills).

Passwords are read from the terminal (or --password-stdin for scripts), never from the command line, where
they would end up in the shell history and in `ps`.

Disabling an account, changing its role or its password ends all its console sessions in the same
transaction (console_sessions rows); a running service refuses them at the next request and closes their
open sockets within console.session_check_seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
from typing import Any, Awaitable, Callable

from sqlalchemy import select

from ivr.db.models import Agent, Role
from ivr.errors import CliError
from ivr.settings import Settings


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        pw = sys.stdin.readline().rstrip("\n")
    else:
        pw = getpass.getpass("密码 / password: ")
        if getpass.getpass("再次输入 / again: ") != pw:
            raise CliError("the two passwords differ")
    from agent_console.auth import hash_password

    try:
        return hash_password(pw)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def _skills(text: str | None) -> list[str] | None:
    if text is None:
        return None
    skills = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in skills if not re.match(r"^[a-z][a-z0-9_]{0,63}$", s)]
    if bad:
        raise CliError(f"skill names are lowercase words (queue skills): {', '.join(bad)}")
    return skills


def _run(settings: Settings, work: Callable[[Any], Awaitable[int]]) -> int:
    from ivr.db import Database

    async def go() -> int:
        db = Database(settings.database.url)
        try:
            await db.upgrade()
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(go())


def cmd_list(args: argparse.Namespace) -> int:
    async def work(db: Any) -> int:
        async with db.session() as s:
            rows = (await s.execute(select(Agent).order_by(Agent.agent_id))).scalars().all()
        print(f"{'工号':<6} {'name':<10} {'role':<10} {'endpoint':<14} {'active':<6} {'state':<9} skills")
        for a in rows:
            print(f"{a.agent_id:<8} {a.name:<10} {a.role.value:<10} {a.sip_endpoint or '-':<14} "
                  f"{'yes' if a.active else 'no':<6} {a.state.value:<9} {','.join(a.skills or [])}")
        return 0

    return _run(args.settings, work)


def cmd_add(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    if not re.match(settings.hotline.agent_id_pattern, args.agent_id):
        raise CliError(f"工号 {args.agent_id!r} does not match hotline.agent_id_pattern "
                       f"({settings.hotline.agent_id_pattern})")
    password_hash = _password(args)

    role = Role(args.role)
    if (role is Role.UNIT) != bool(args.unit):
        raise CliError("--role unit and --unit CODE go together (a unit's staff see that unit's orders only)")

    async def work(db: Any) -> int:
        async with db.begin() as s:
            if args.unit:
                await _known_unit(s, args.unit)
            if (await s.execute(select(Agent).where(Agent.agent_id == args.agent_id))).scalar_one_or_none():
                raise CliError(f"agent {args.agent_id} exists already (use `hotline agents set`)")
            if args.endpoint and (await s.execute(select(Agent).where(Agent.sip_endpoint == args.endpoint))
                                  ).scalar_one_or_none():
                raise CliError(f"endpoint {args.endpoint} belongs to another agent")
            s.add(Agent(agent_id=args.agent_id, name=args.name, role=role, password_hash=password_hash,
                        sip_endpoint=args.endpoint or None, skills=_skills(args.skills) or [],
                        wrap_up_seconds=args.wrap_up, unit_code=args.unit or None))
        print(f"agent {args.agent_id} ({args.role}) added")
        return 0

    return _run(settings, work)


async def _known_unit(s: Any, code: str) -> None:
    from ivr.db.models import Unit

    if await s.get(Unit, code) is None:
        raise CliError(f"no unit {code!r} (`hotline workorders units add {code} --name ...`)")


def _find(args: argparse.Namespace, update: Callable[[Agent], str | None], done: str) -> int:
    """Change one agent; `update` returns why the agent's sessions must end (or None)."""
    from agent_console.sessions import revoke_agent_sessions

    async def work(db: Any) -> int:
        async with db.begin() as s:
            agent = (await s.execute(select(Agent).where(Agent.agent_id == args.agent_id))).scalar_one_or_none()
            if agent is None:
                raise CliError(f"no agent {args.agent_id}")
            reason = update(agent)
            if agent.unit_code:
                await _known_unit(s, agent.unit_code)
            if (agent.role is Role.UNIT) != bool(agent.unit_code):
                raise CliError("a unit account needs --unit CODE, and only unit accounts have one")
            ended = await revoke_agent_sessions(s, agent.id, reason) if reason else 0
        print(done + (f"; {ended} console session(s) ended" if ended else ""))
        return 0

    return _run(args.settings, work)


def cmd_passwd(args: argparse.Namespace) -> int:
    password_hash = _password(args)

    def update(agent: Agent) -> str | None:
        agent.password_hash = password_hash
        return "password"

    return _find(args, update, f"password of {args.agent_id} changed")


def cmd_set(args: argparse.Namespace) -> int:
    skills = _skills(args.skills)

    def update(agent: Agent) -> str | None:
        reason = None
        if args.name is not None:
            agent.name = args.name
        if args.role is not None and Role(args.role) is not agent.role:
            agent.role = Role(args.role)
            reason = "role"  # what a session may see was decided by the old role
        if args.endpoint is not None:
            agent.sip_endpoint = args.endpoint or None
        if skills is not None:
            agent.skills = skills
        if args.wrap_up is not None:
            agent.wrap_up_seconds = args.wrap_up
        if args.unit is not None and (args.unit or None) != agent.unit_code:
            agent.unit_code = args.unit or None
            reason = "role"  # which unit's orders a session sees was decided by the old unit
        if args.active is not None:
            if agent.active and not args.active:
                reason = "disabled"
            agent.active = args.active
        return reason

    return _find(args, update, f"agent {args.agent_id} updated")


def cmd_disable(args: argparse.Namespace) -> int:
    def update(agent: Agent) -> str | None:
        agent.active = False
        return "disabled"

    return _find(args, update, f"agent {args.agent_id} disabled")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    agents = sub.add_parser("agents", help="console accounts: agents, QA, supervisors, admins")
    a = agents.add_subparsers(dest="agents_command", metavar="ACTION", required=True)
    a.add_parser("list", help="list accounts").set_defaults(func=cmd_list)

    add = a.add_parser("add", help="add an account (asks for the password)")
    add.add_argument("agent_id", help="工号, e.g. 1004")
    add.add_argument("--name", required=True)
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.AGENT.value)
    add.add_argument("--endpoint", help="the agent's PJSIP endpoint, e.g. agent-1004")
    add.add_argument("--skills", help="comma-separated queue skills, e.g. general,repair")
    add.add_argument("--wrap-up", type=int, default=15, help="after-call work seconds (default 15)")
    add.add_argument("--unit", help="role unit: the responsible unit's code")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin (scripts)")
    add.set_defaults(func=cmd_add)

    pw = a.add_parser("passwd", help="set an account's password")
    pw.add_argument("agent_id")
    pw.add_argument("--password-stdin", action="store_true")
    pw.set_defaults(func=cmd_passwd)

    st = a.add_parser("set", help="change name, role, endpoint, skills, wrap-up time or active flag")
    st.add_argument("agent_id")
    st.add_argument("--name")
    st.add_argument("--role", choices=[r.value for r in Role])
    st.add_argument("--endpoint", help="'' removes the phone")
    st.add_argument("--skills")
    st.add_argument("--wrap-up", type=int)
    st.add_argument("--unit", help="role unit: the responsible unit's code ('' removes it)")
    st.add_argument("--active", type=lambda v: v.lower() in ("1", "yes", "true"), metavar="yes|no")
    st.set_defaults(func=cmd_set)

    dis = a.add_parser("disable", help="disable an account (its console sessions end within seconds)")
    dis.add_argument("agent_id")
    dis.set_defaults(func=cmd_disable)
