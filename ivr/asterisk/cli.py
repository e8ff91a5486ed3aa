"""`hotline asterisk up|down|status|config|phones`: provision and run the Asterisk our settings describe.

Also registers `hotline call` (ivr/asterisk/call.py): a SIP test call into it with sipp.

Everything here is synchronous CLI code (blocking subprocesses are fine). Failures the operator can act on
(no root for the sandbox, a port in use, Asterisk refusing to start) print one message with the log tail and
exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from ivr.asterisk import call
from ivr.asterisk.config import ConfigError, Layout, generate
from ivr.asterisk.instance import SANDBOX_HOMES, AsteriskError, AsteriskInstance
from ivr.asterisk.queues import plan_queues
from ivr.asterisk.sandbox import SandboxError, release_runtime
from ivr.asterisk.service import (
    FromDatabase,
    agent_phones,
    from_database,
    instance_for,
    merge_phones,
)
from ivr.secrets import InsecureSecrets, require_secrets
from ivr.settings import Settings

# What the generated config carries: ari.conf's password and the phones' passwords derived from phone_secret.
ASTERISK_SECRETS = ("asterisk.ari_password", "asterisk.phone_secret")
PROVISIONING = "refusing to provision Asterisk"


def _describe(inst: AsteriskInstance, *, queues: bool = False) -> str:
    rt = inst.runtime
    where = f"sandbox {rt.root}" if rt.kind == "sandbox" else "system"
    # Queues only where they were read from the database (up, config), not in status/down.
    queue_line = f"  queues      {_queues(inst)}\n" if queues else ""
    return (f"Asterisk {rt.version} ({where}), instance {inst.name}\n"
            f"  ARI         {inst.ari_url}/ari  user {inst.ari_user}, app \"{inst.app}\"\n"
            f"  SIP         udp {inst.sip_host}:{inst.sip_port}, inbound number {inst.inbound_extension}, "
            f"{len(inst.agents)} agent phone(s)\n{queue_line}"
            f"  sounds      {inst.sounds_dir_host}\n"
            f"  recordings  {inst.recordings_dir_host}\n"
            f"  log         {inst.log_file_host}")


def _queues(inst: AsteriskInstance) -> str:
    plan = plan_queues(inst.queues, inst.agents)
    names = ", ".join(f"{q.name} ({len(q.members)})" for q in plan.queues)
    text = "hotline-fallback (all)" + (f", {names}" if names else "")
    for name, why in plan.skipped:  # shown, never silently dropped: a database queue nobody could join
        text += f"\n  SKIPPED     database queue {name!r}: {why}"
    return text


def _install_sounds(inst: AsteriskInstance, src: Path | None) -> str:
    if src is None:  # `hotline prompts build` writes straight into the instance's sounds dir
        have = sum(1 for _ in (inst.sounds_dir_host / "hotline").rglob("*.wav"))
        return (f"{have} hotline prompt file(s) in {inst.sounds_dir_host}" if have else
                "no hotline prompts yet (`hotline prompts build`); Asterisk plays English fallbacks")
    if not (src / "hotline").is_dir():
        return f"no prompts in {src} (a directory holding hotline/<lang>/...): nothing installed"
    return f"{inst.install_sounds(src)} prompt file(s) updated from {src}"


def cmd_up(args: argparse.Namespace) -> int:
    require_secrets(args.settings, only=ASTERISK_SECRETS, refusing=PROVISIONING)
    inst = instance_for(args.settings, build=True, from_db=True)
    what = inst.ensure_running(timeout=args.timeout)
    print(f"{_describe(inst, queues=True)}\n{what}")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    inst = instance_for(args.settings, build=False, from_db=False)
    print(f"instance {inst.name}: {'stopped' if inst.stop() else 'was not running'}")
    if inst.runtime.kind == "sandbox":
        print("sandbox mounts released" if release_runtime(inst.runtime)
              else "other instances still run in the sandbox: its mounts stay")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    inst = instance_for(args.settings, build=False, from_db=False)
    st = inst.status()
    state = "running" if st.running and st.ari_ok else ("unhealthy" if st.running else "stopped")
    print(f"{_describe(inst)}\n  state       {state}" + (f" (pid {st.pid})" if st.pid else "")
          + (f"\n  problem     {st.detail}" if st.detail else ""))
    return 0 if st.running and st.ari_ok else 1


def cmd_config(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    if args.print:
        # Pure: no sandbox, no database; paths as the default sandbox layout would have them.
        db = FromDatabase({}, ()) if args.no_db else from_database(settings)
        layout = Layout(settings.asterisk.instance, SANDBOX_HOMES / settings.asterisk.instance)
        for name, text in generate(settings, merge_phones(settings, db), layout, queues=db.queues).items():
            print(f";;;;;;;;;; {name}\n{text}")
        return 0
    # The secrets file is read on every run, so a rotated phone_secret / ari_password is provisioned here.
    require_secrets(settings, only=ASTERISK_SECRETS, refusing=PROVISIONING)
    inst = instance_for(settings, build=True, from_db=not args.no_db)
    result = inst.apply_config(timeout=args.timeout)
    print(f"{_describe(inst, queues=True)}\n{result}\n{_install_sounds(inst, args.sounds)}")
    return 0


def cmd_phones(args: argparse.Namespace) -> int:
    s: Settings = args.settings
    require_secrets(s, only=("asterisk.phone_secret",), refusing="no phone passwords")
    phones = agent_phones(s, from_db=not args.no_db)
    if not phones:
        print("no agent phones: add [asterisk] agent_phones or agents with a sip_endpoint in the database")
        return 0
    print(f"SIP server {s.asterisk.sip_host}:{s.asterisk.sip_port} (udp); register as user = endpoint")
    for p in phones:
        print(f"  {p.endpoint:<20} password {p.password}" + (f"  contact {p.contact}" if p.contact else ""))
    return 0


def _guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except (SandboxError, AsteriskError, ConfigError, InsecureSecrets) as exc:
            print(f"hotline asterisk: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # e.g. no permission to write the instance's home
            print(f"hotline asterisk: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
            return 2
    return run


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("asterisk", help="provision and run Asterisk (system, or a Debian sid sandbox)")
    sub = p.add_subparsers(dest="asterisk_command", metavar="ACTION", required=True)

    up = sub.add_parser("up", help="build the sandbox if needed, write config, start, wait for ARI")
    up.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for ARI (default 30)")
    up.set_defaults(func=_guard(cmd_up))

    sub.add_parser("down", help="stop the instance").set_defaults(func=_guard(cmd_down))
    sub.add_parser("status", help="is it running and answering ARI (exit 1 if not)").set_defaults(
        func=_guard(cmd_status))

    cfg = sub.add_parser("config", help="regenerate config (+ agent phones, queues, prompts) and reload/restart")
    cfg.add_argument("--print", action="store_true", help="print the generated files, change nothing")
    cfg.add_argument("--sounds", type=Path, default=None,
                     help="also install a prompt tree built elsewhere (a dir holding hotline/<lang>/...)")
    cfg.add_argument("--no-db", action="store_true",
                     help="agent phones from the settings only, no database queues (just hotline-fallback)")
    cfg.add_argument("--timeout", type=float, default=30.0)
    cfg.set_defaults(func=_guard(cmd_config))

    ph = sub.add_parser("phones", help="list agent SIP accounts (endpoint, password) for softphones")
    ph.add_argument("--no-db", action="store_true", help="agent phones from the settings only")
    ph.set_defaults(func=_guard(cmd_phones))

    call.add_parser(subparsers)
