"""`hotline` command line. Each package adds its own subcommands through a `register(subparsers)` function."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Callable, Sequence

from ivr.errors import CliError
from ivr.settings import Settings, SettingsError, load_settings

# Packages that contribute subcommands (module path, attribute).
REGISTRARS: Sequence[str] = (
    "ivr.asterisk.cli",
    "call_flows.cli",
    "recordings.cli",
    "agent_console.cli",
    "ivr.workorders.cli",
)


def _settings(args: argparse.Namespace) -> Settings:
    path = args.config
    if path is None and not os.environ.get("HOTLINE_CONFIG") and Path("hotline.toml").exists():
        path = "hotline.toml"
    # `hotline secrets` reads the secrets file itself: a broken one must not stop the command that rewrites it.
    return load_settings(path, read_secrets=args.command != "secrets")


async def _db_upgrade(settings: Settings) -> str | None:
    from ivr.db import Database

    db = Database(settings.database.url)
    try:
        await db.upgrade()
        return await db.current_revision()
    finally:
        await db.dispose()


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    rev = asyncio.run(_db_upgrade(args.settings))
    print(f"database {args.settings.database.url.split('@')[-1]} at revision {rev}")
    return 0


def demo_password_file(settings: Settings) -> Path:
    """Where the demo logins' password is kept: next to the secrets file, readable by this user only."""
    return settings.secrets_file.parent / "demo-password"


def demo_password(settings: Settings) -> str:
    """The demo logins' password of this install: made once (random), then read back; never printed."""
    from ivr.secrets import write_private

    path = demo_password_file(settings)
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        value = secrets.token_urlsafe(12)
        write_private(path, value + "\n")
        return value


def cmd_demo_data(args: argparse.Namespace) -> int:
    from ivr.db import Database
    from ivr.demo import DEMO_AGENTS, load_demo_data

    password = demo_password(args.settings)

    async def run() -> dict[str, int]:
        db = Database(args.settings.database.url)
        try:
            await db.upgrade()
            return await load_demo_data(db, password=password, customers=args.customers,
                                        zone=args.settings.hotline.zone)
        finally:
            await db.dispose()

    created = asyncio.run(run())
    print("demo data: " + ", ".join(f"{k} +{v}" for k, v in created.items()))
    print("logins: %s; their password: `cat %s` (this user only)" % (
        ", ".join(f"{a.agent_id} ({a.role.value})" for a in DEMO_AGENTS), demo_password_file(args.settings)))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ivr.app import serve

    asyncio.run(serve(args.settings))
    return 0


def cmd_secrets_generate(args: argparse.Namespace) -> int:
    from ivr.secrets import AFTER_CHANGE, generate_secrets

    settings: Settings = args.settings
    path = Path(args.file).absolute() if args.file else settings.secrets_file
    result = generate_secrets(path, force=args.force)
    # Names and what happened only: a secret never reaches the terminal, a log or up.sh's output.
    print(f"secrets in {path} (mode 0600):")
    for name, action in result.actions.items():
        why = f": {result.reasons[name]}" if name in result.reasons else ""
        print(f"  {name:<24}{action}{why}")
    if result.mode_fixed:
        print("  (its mode was wider than 0600: fixed)")
    if not result.changed:
        print("  nothing changed (`hotline secrets generate --force` rotates them all)")
    for name in result.changed:
        # A first value changes nothing that runs, unless it now overrides one from the settings file.
        overridden = not settings.secret_origins.get(name, "environment variable ").startswith("environment ")
        if result.actions[name] == "replaced" or overridden:
            print(f"{name} changed: {AFTER_CHANGE[name]}")
    if path != settings.secrets_file:
        print(f"note: these settings read {settings.secrets_file}; point them at {path} with "
              f"[secrets] file or HOTLINE_SECRETS_FILE")
    for name, origin in settings.secret_origins.items():
        if origin.startswith("environment variable "):
            print(f"note: {origin} sets {name} and overrides the secrets file: unset it")
        else:
            print(f"note: {origin} also sets {name}; the secrets file wins over it: delete it there")
    return 0


def console_url(settings: Settings) -> str:
    host = settings.console.host if settings.console.host not in ("0.0.0.0", "::") else "127.0.0.1"
    return f"http://{host}:{settings.console.port}"


def cmd_console_url(args: argparse.Namespace) -> int:
    print(console_url(args.settings))
    return 0


def cmd_welcome(args: argparse.Namespace) -> int:
    from ivr.demo import DEMO_AGENTS

    s = args.settings
    print(f"""
hotline is up: {s.hotline.name} 24小时服务热线

  console     {console_url(s)}/   (password for every demo login: `cat {demo_password_file(s)}`)
  logins      {", ".join(f"{a.agent_id} {a.name} ({a.role.value})" for a in DEMO_AGENTS)}
  wallboard   {console_url(s)}/wallboard   (log in as 3001)
  ARI         {s.asterisk.ari_url}/ari   app "{s.asterisk.app}"
  SIP         udp 127.0.0.1:{s.asterisk.sip_port}, dial {s.asterisk.inbound_extension}

Place a test call (sipp as registered customer 李娜 13900139000, pressing 0 at the main menu for an agent):
  .venv/bin/hotline call --from 13900139000 --wait 12 --keys 0 --talk 40
  (13800138000 is 张伟, a special-care customer in 城东片区: he hears the active outage notice first)
To take it as an agent: register a SIP softphone on 127.0.0.1:{s.asterisk.sip_port} as agent-1001 (passwords:
`hotline asterisk phones`), log in to the console as 1001 and press 就绪 (ready): the phone rings and the
caller's record pops. Without a ready agent the caller hears the overflow offer. `hotline call --help`.
Logs: var/hotline.log   Stop: ./scripts/down.sh
""")
    return 0


def cmd_worker_ready(args: argparse.Namespace) -> int:
    """Exit 0 when a Vosk model is configured and present (scripts/up.sh starts a worker then)."""
    path = args.settings.vosk.model_path
    if path is None or not ((path / "am").is_dir() or (path / "conf").is_dir()):
        print("no Vosk model: set [vosk] model_path to an unpacked model directory")
        return 1
    print(f"Vosk model at {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotline", description="24-hour utility customer-service hotline")
    parser.add_argument("-c", "--config", help="settings file (TOML); default ./hotline.toml or $HOTLINE_CONFIG")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    db = sub.add_parser("db", help="database schema")
    dbsub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up = dbsub.add_parser("upgrade", help="apply migrations up to the newest revision")
    up.set_defaults(func=cmd_db_upgrade)

    demo = sub.add_parser("demo-data", help="load demo customers, areas, an outage, queues and agents")
    demo.add_argument("--customers", type=int, default=60)
    demo.set_defaults(func=cmd_demo_data)

    serve = sub.add_parser("serve", help="run the service: ARI app, FastAGI server, console web server")
    serve.set_defaults(func=cmd_serve)

    sec = sub.add_parser("secrets", help="the service's secrets (cookie key, phone secret, ARI password)")
    secsub = sec.add_subparsers(dest="secrets_command", metavar="ACTION", required=True)
    gen = secsub.add_parser("generate", help="write random secrets (missing or unusable ones; --force: all) "
                            "into the secrets file, mode 0600; prints no secret")
    gen.add_argument("--file", help="the secrets file (default: [secrets] file, var/secrets.toml)")
    gen.add_argument("--force", action="store_true",
                     help="replace every secret (rotation; then `hotline asterisk config` and restart serve)")
    gen.set_defaults(func=cmd_secrets_generate)

    sub.add_parser("console-url", help="print the console's URL").set_defaults(func=cmd_console_url)
    sub.add_parser("worker-ready", help="is a Vosk model configured for the transcription worker?"
                   ).set_defaults(func=cmd_worker_ready)
    sub.add_parser("welcome", help="print how to use the running hotline").set_defaults(func=cmd_welcome)

    for module in REGISTRARS:
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue
            raise
        register: Callable[[argparse._SubParsersAction], None] = getattr(mod, "register")  # type: ignore[type-arg]
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        args.settings = _settings(args)
        return int(args.func(args) or 0)
    except SettingsError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"hotline: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a dead database or Asterisk: one clear line, not a traceback
        if isinstance(exc, _operator_errors()):
            print(f"hotline: {exc}", file=sys.stderr)
            return 2
        raise


def _operator_errors() -> tuple[type[BaseException], ...]:
    """Failures an operator fixes outside the code (a dead database, no Asterisk): no traceback for them."""
    from ivr.asterisk.config import ConfigError
    from ivr.asterisk.instance import AsteriskError
    from ivr.asterisk.sandbox import SandboxError
    from ivr.db import DatabaseUnavailable
    from ivr.secrets import InsecureSecrets, SecretsFileError

    return (DatabaseUnavailable, SandboxError, AsteriskError, ConfigError, InsecureSecrets, SecretsFileError)


if __name__ == "__main__":
    sys.exit(main())
