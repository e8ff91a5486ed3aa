"""`hotline flows check|graph|simulate` and `hotline prompts build`; the lead wires register() in ivr/cli.py.

Every handler takes the parsed args (args.settings: a Settings, when the main CLI provides one) and returns
an exit code: 0 fine, 1 the flow has errors / the run failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import tempfile
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from call_flows.graph import to_mermaid, to_svg
from call_flows.loader import check_file
from call_flows.schema import Flow
from ivr.settings import Settings

FLOWS_DIR = Path(__file__).parent


def register(subparsers: Any) -> None:
    flows = subparsers.add_parser("flows", help="check, draw and try call flows (call_flows/*.yaml)")
    fsub = flows.add_subparsers(dest="flows_command", required=True)

    p = fsub.add_parser("check", help="lint flow files: every problem with file:line")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--strict", action="store_true", help="warnings fail too")
    p.set_defaults(func=cmd_check)

    p = fsub.add_parser("graph", help="draw a flow as Mermaid text or SVG")
    p.add_argument("file", type=Path)
    p.add_argument("--format", choices=("mermaid", "svg"), default=None,
                   help="default: svg when -o ends in .svg, else mermaid")
    p.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
    p.add_argument("--implicit", action="store_true",
                   help="also draw the edges every menu has (key 0, emergency words, default on_fail)")
    p.set_defaults(func=cmd_graph)

    p = fsub.add_parser("simulate", help="run the real engine with a scripted caller and print the path")
    p.add_argument("file", type=Path)
    p.add_argument("--input", default="", help='caller actions, e.g. "1,1234#,say:漏气,-,hangup"')
    p.add_argument("--caller", default="13800138000", help="caller number (default 13800138000)")
    p.add_argument("--demo", action="store_true",
                   help="load the demo data (ivr/demo.py: 张伟 13800138000 and others) and print what to key")
    p.add_argument("--at", help="local time of the call in the flow's timezone, e.g. '2025-03-01 22:30'")
    p.add_argument("--entry", help="start at an entry point instead of start (e.g. survey)")
    p.add_argument("--db", help="database URL (default: a throw-away migrated SQLite)")
    p.add_argument("--voice", default=None, help="espeak-ng voice for say: inputs (default: the flow language)")
    p.set_defaults(func=cmd_simulate)

    prompts = subparsers.add_parser("prompts", help="prompt audio")
    psub = prompts.add_subparsers(dest="prompts_command", required=True)
    p = psub.add_parser("build", help="render prompt audio (espeak-ng + sox, 8 kHz mono wav)")
    p.add_argument("files", nargs="*", type=Path, help=f"flow files (default: {FLOWS_DIR}/*.yaml)")
    p.add_argument("--out", type=Path, default=None,
                   help="sounds dir (default: the configured Asterisk's, where sound:hotline/... resolves)")
    p.add_argument("--force", action="store_true", help="render again even when unchanged")
    p.set_defaults(func=cmd_prompts_build)


def _settings(args: argparse.Namespace) -> Settings:
    s = getattr(args, "settings", None)
    return s if isinstance(s, Settings) else Settings()


def _load(path: Path, err: TextIO) -> Flow | None:
    flow, issues = check_file(path)
    for issue in issues:
        print(issue, file=err)
    return flow


def cmd_check(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    status = 0
    for path in args.files:
        flow, issues = check_file(path)
        for issue in issues:
            print(issue, file=err)
        errors = sum(i.severity == "error" for i in issues)
        warnings = len(issues) - errors
        if flow is None or (args.strict and warnings):
            status = 1
            print(f"{path}: {errors} error(s), {warnings} warning(s)", file=err)
        else:
            print(f"{path}: OK ({len(flow.nodes)} nodes, {len(flow.prompts)} prompts"
                  + (f", {warnings} warning(s)" if warnings else "") + ")", file=out)
    return status


def cmd_graph(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    flow = _load(args.file, err)
    if flow is None:
        return 1
    fmt = args.format or ("svg" if args.output is not None and args.output.suffix == ".svg" else "mermaid")
    text = to_svg(flow, implicit=args.implicit) if fmt == "svg" else to_mermaid(flow, implicit=args.implicit)
    if args.output is None:
        out.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print(f"{args.output}: {fmt} graph of {flow.name} ({len(flow.nodes)} nodes)", file=out)
    return 0


def _clock(flow: Flow, at: str | None) -> Any:
    if at is None:
        return None
    try:
        local = dt.datetime.fromisoformat(at)
    except ValueError:
        raise ValueError(f"--at {at!r}: use 'YYYY-MM-DD HH:MM'") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=ZoneInfo(flow.header.timezone))
    fixed = local.astimezone(dt.timezone.utc)
    return lambda: fixed


def cmd_simulate(args: argparse.Namespace) -> int:
    from ivr.engine import ScriptError, parse_script

    out, err = sys.stdout, sys.stderr
    flow = _load(args.file, err)
    if flow is None:
        return 1
    try:
        parse_script(args.input)
        clock = _clock(flow, args.at)
    except (ScriptError, ValueError) as exc:
        print(f"error: {exc}", file=err)
        return 2
    if args.entry and args.entry not in flow.header.entries:
        print(f"error: --entry {args.entry!r}: the flow's entries are {', '.join(flow.header.entries) or 'none'}",
              file=err)
        return 2
    return asyncio.run(_simulate(args, flow, clock, out, err))


async def _simulate(args: argparse.Namespace, flow: Flow, clock: Any, out: TextIO, err: TextIO) -> int:
    from call_flows.simulate import seed_demo, simulate
    from ivr.db import Database, DatabaseUnavailable
    from ivr.db.models import utcnow
    from ivr.engine import FlowFailed

    settings = _settings(args)
    recognizer = None
    if "say:" in args.input or "wav:" in args.input:
        from ivr.speech import Recognizer, SpeechError

        recognizer = Recognizer.from_settings(settings)
        if recognizer is None:
            print("error: say:/wav: inputs need a Vosk model: set [vosk] model_path (see docs/speech.md)", file=err)
            return 2
        try:
            await recognizer.load()
        except SpeechError as exc:
            print(f"error: {exc}", file=err)
            return 2
    voice = args.voice or {"zh": "cmn", "en": "en-us"}[flow.header.language]
    with tempfile.TemporaryDirectory(prefix="hotline-sim-") as tmp:
        url = args.db or f"sqlite+aiosqlite:///{tmp}/sim.db"
        db = Database(url)
        try:
            await db.upgrade()
            if args.demo:
                await seed_demo(db, clock() if clock else utcnow(), out)
            await simulate(flow, args.input, db=db, workdir=Path(tmp) / "audio", out=out,
                           caller_number=args.caller, clock=clock, recognizer=recognizer, voice=voice,
                           entry=args.entry)
        except DatabaseUnavailable as exc:
            print(f"error: {exc}", file=err)
            return 1
        except FlowFailed:
            return 1
        finally:
            await db.dispose()
            if recognizer is not None:
                recognizer.close()
    return 0


def _asterisk_sounds_dir(settings: Settings, err: TextIO) -> Path | None:
    """The configured Asterisk's sounds dir on this host (where `sound:hotline/...` resolves)."""
    try:
        from ivr.asterisk.instance import AsteriskInstance
        from ivr.asterisk.sandbox import resolve_runtime

        runtime = resolve_runtime(settings, build=False)
        return AsteriskInstance(runtime, settings).sounds_dir_host
    except Exception as exc:  # no Asterisk yet: the operator can still build into a directory of choice
        print(f"error: cannot find Asterisk's sounds dir ({exc}); run `hotline asterisk up` first or pass "
              "--out DIR", file=err)
        return None


def cmd_prompts_build(args: argparse.Namespace) -> int:
    from call_flows.prompts import build

    out, err = sys.stdout, sys.stderr
    files = args.files or sorted(FLOWS_DIR.glob("*.yaml"))
    flows = []
    for path in files:
        flow = _load(path, err)
        if flow is None:
            return 1
        flows.append(flow)
    out_dir = args.out or _asterisk_sounds_dir(_settings(args), err)
    if out_dir is None:
        return 2
    report = asyncio.run(build(flows, out_dir, force=args.force))
    for name, why in report.failed:
        print(f"{name}: {why}", file=err)
    print(f"{out_dir}: {len(report.built)} built, {len(report.skipped)} unchanged, {len(report.failed)} failed",
          file=out)
    return 1 if report.failed else 0
