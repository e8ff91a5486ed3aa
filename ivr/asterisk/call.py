"""`hotline call`: place SIP test calls into the running hotline with sipp, as a customer would.

A call's timeline: answered -> wait --wait seconds (the greeting / outage notice plays) -> press --keys,
--key-gap seconds apart -> stay on the line --talk seconds -> hang up; whenever the far end hangs up first
(the flow said goodbye, the fallback message ended) the call ends there, which also counts as success.
The caller number goes out as the From user; Asterisk's inbound endpoint keeps it as CALLERID(num), which is
what our customer lookup reads.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ipaddress
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ivr.asterisk.ports import PortAllocator, port_free
from ivr.asterisk.sipp import DTMF_KEYS, NUMBER_RE, SippError, SippResult, sipp_binary, start_sipp, \
    write_uac_scenario
from ivr.settings import Settings

SETUP_SECONDS = 60.0  # ringing, INVITE retransmissions and BYE on top of the planned timeline
MAX_CALLS = 100


class CallError(Exception):
    """Something the user can fix before a call is placed: one line, exit 2."""


@dataclass(frozen=True)
class CallPlan:
    caller: str
    dialed: str
    keys: str
    wait: float
    key_gap: float
    talk: float
    calls: int
    host: str
    port: int

    @property
    def remote(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def timeout(self) -> float:
        return self.wait + self.key_gap * max(0, len(self.keys) - 1) + self.talk + SETUP_SECONDS

    def describe(self) -> str:
        if self.keys:
            gap = f" ({self.key_gap:g} s apart)" if len(self.keys) > 1 else ""
            what = f"after {self.wait:g} s press {', '.join(self.keys)}{gap}, then stay on the line {self.talk:g} s"
        else:
            what = f"no keys, stay on the line {self.wait + self.talk:g} s"
        calls = f"{self.calls} calls at once" if self.calls > 1 else "1 call"
        return (f"calling {self.dialed} at udp {self.remote} as {self.caller}: {what} "
                f"(or until the hotline hangs up; {calls}, sipp)")


def plan_call(settings: Settings, *, caller: str, dialed: str | None, keys: str, wait: float, key_gap: float,
              talk: float, calls: int) -> CallPlan:
    if not NUMBER_RE.match(caller):
        raise CallError(f"--from {caller!r}: a phone number, digits only (e.g. 13800138000)")
    dialed = dialed or settings.asterisk.inbound_extension
    if not NUMBER_RE.match(dialed):
        raise CallError(f"--to {dialed!r}: a number, digits only (e.g. {settings.asterisk.inbound_extension})")
    bad = sorted({k for k in keys if k not in DTMF_KEYS})
    if bad:
        raise CallError(f"--keys {keys!r}: {' '.join(bad)} cannot be pressed; use 0-9, * and #")
    for name, value in (("--wait", wait), ("--key-gap", key_gap), ("--talk", talk)):
        if not 0 <= value <= 3600:
            raise CallError(f"{name} {value:g}: seconds between 0 and 3600")
    if not 1 <= calls <= MAX_CALLS:
        raise CallError(f"--calls {calls}: between 1 and {MAX_CALLS}")
    host = settings.asterisk.sip_host
    try:
        if ipaddress.ip_address(host).version != 4:
            raise CallError(f"asterisk.sip_host = {host!r}: `hotline call` calls from 127.0.0.1 over IPv4 only")
    except ValueError:
        raise CallError(f"asterisk.sip_host = {host!r}: not an IP address") from None
    return CallPlan(caller, dialed, keys, wait, key_gap, talk, calls, host, settings.asterisk.sip_port)


def check_asterisk(settings: Settings) -> None:
    """Fail before dialing when the call cannot work: nothing on the SIP port, or callers from 127.0.0.1
    not accepted (Asterisk would answer 401/403 and the user would see only a sipp error)."""
    a = settings.asterisk
    try:
        free = port_free(a.sip_port, "udp", a.sip_host)
    except OSError as exc:  # sip_host is not an address of this machine
        raise CallError(f"asterisk.sip_host = {a.sip_host!r}: {exc.strerror or exc}") from None
    if free:
        raise CallError(f"Asterisk is not up: nothing listens on udp {a.sip_host}:{a.sip_port} "
                        "(start it with `hotline asterisk up`, or ./scripts/up.sh)")
    nets = []
    for entry in (e.strip() for e in a.inbound_match.split(",")):
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            return  # a host name: Asterisk resolves it, we cannot tell
    if not any(ipaddress.ip_address("127.0.0.1") in n for n in nets):
        raise CallError(f"asterisk.inbound_match = {a.inbound_match!r} does not include 127.0.0.1: Asterisk "
                        "would reject the test call (add 127.0.0.1 and run `hotline asterisk config`)")


def service_state(settings: Settings, timeout: float = 2.0) -> str:
    """Whether our service holds the Stasis app: without it the call goes to the dialplan fallback."""
    a = settings.asterisk
    token = base64.b64encode(f"{a.ari_user}:{a.ari_password}".encode()).decode()
    url = f"{a.ari_url}/ari/applications/{urllib.parse.quote(a.app, safe='')}"
    req = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    fallback = "Asterisk will take the call to its fallback queue and message"
    try:
        with urllib.request.urlopen(req, timeout=timeout):
            return f"hotline service: connected (ARI app \"{a.app}\")"
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 404:
            return f"hotline service: NOT connected (is `hotline serve` running?); {fallback}"
        return f"hotline service: unknown (ARI answered {exc.code} at {a.ari_url})"
    except (OSError, ValueError) as exc:
        return f"hotline service: unknown (ARI at {a.ari_url} unreachable: {exc})"


async def place_calls(plan: CallPlan, ports: PortAllocator | None = None) -> SippResult:
    """Run sipp for the plan in the foreground and return its result (Ctrl-C or cancel stops sipp)."""
    ports = ports or PortAllocator()
    with tempfile.TemporaryDirectory(prefix="hotline-call-") as tmp:
        hold = plan.talk if plan.keys else plan.wait + plan.talk
        scenario = write_uac_scenario(
            Path(tmp) / "caller.xml", plan.keys, caller=plan.caller, dialed=plan.dialed,
            first_dtmf_ms=round(plan.wait * 1000), dtmf_gap_ms=round(plan.key_gap * 1000),
            hold_ms=round(hold * 1000), hangup="either")
        async with await start_sipp(scenario, ports, remote=plan.remote, calls=plan.calls,
                                    timeout=plan.timeout, workdir=Path(tmp)) as proc:
            return await proc.wait()


def summarize(plan: CallPlan, result: SippResult) -> str:
    """sipp's outcome in one line: how many calls ended well and how each ended."""
    calls: dict[int, dict[str, int]] = {}
    for ev in result.events():
        calls.setdefault(ev.call, {})[ev.event] = ev.ms
    answered = [c for c in calls.values() if "answered" in c]
    ended = {"caller-hangup": 0, "far-end-hangup": 0}
    longest = 0.0
    for c in answered:
        for how in ended:
            if how in c:
                ended[how] += 1
                longest = max(longest, (c[how] - c["answered"]) / 1000)
    target = f"{plan.caller} -> {plan.dialed}"
    if plan.calls == 1 and answered:
        how = ("the caller hung up" if ended["caller-hangup"] else
               "the hotline hung up" if ended["far-end-hangup"] else "no hang-up")
        keys = f", pressed {plan.keys}" if plan.keys and "keys-sent" in answered[0] else ""
        detail = f"answered{keys}, {how} after {longest:.1f} s"
    else:
        detail = (f"{len(answered)}/{plan.calls} answered, caller hung up {ended['caller-hangup']}, "
                  f"hotline hung up {ended['far-end-hangup']}, longest {longest:.1f} s")
    if result.ok:
        return f"call OK: {target}: {detail}"
    why = "sipp killed after its timeout" if result.timed_out else result.first_error()
    return f"call FAILED: {target}: {detail if answered else 'not answered'}; {why} (sipp exit {result.returncode})"


def cmd_call(args: argparse.Namespace, ports: PortAllocator | None = None) -> int:
    """`ports`: an allocator that knows ports already promised elsewhere (the tests' Asterisk fixture)."""
    settings: Settings = args.settings
    plan = plan_call(settings, caller=args.caller, dialed=args.to, keys=args.keys, wait=args.wait,
                     key_gap=args.key_gap, talk=args.talk, calls=args.calls)
    sipp_binary()
    check_asterisk(settings)
    print(plan.describe())
    print(service_state(settings), flush=True)
    result = asyncio.run(place_calls(plan, ports))
    print(summarize(plan, result))
    if not result.ok and getattr(args, "verbose", False):
        print(result.describe(), file=sys.stderr)
    return 0 if result.ok else 1


def _guard(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (CallError, SippError) as exc:
            print(f"hotline call: {exc}", file=sys.stderr)
            return 2
    return run


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "call", help="place a SIP test call into the running hotline (sipp)",
        description="Call the hotline like a customer: caller ID, audio, DTMF keys after the greeting. "
                    "Exit 0 when every call ended normally, 1 when sipp reports a failed call, 2 when "
                    "no call could be placed. `hotline -v call ...` prints sipp's errors on failure.")
    p.add_argument("--from", dest="caller", default="13800138000", metavar="NUMBER",
                   help="caller number, sent as the SIP From user (default 13800138000, a demo customer)")
    p.add_argument("--to", default=None, metavar="NUMBER",
                   help="number dialed (default [asterisk] inbound_extension)")
    p.add_argument("--keys", default="", help='DTMF keys to press after the greeting, e.g. "10#"')
    p.add_argument("--key-gap", type=float, default=1.0, metavar="SECONDS",
                   help="seconds between keys (default 1)")
    p.add_argument("--wait", type=float, default=8.0, metavar="SECONDS",
                   help="seconds after the answer before the first key, so the greeting and any outage "
                        "notice play (default 8)")
    p.add_argument("--talk", type=float, default=30.0, metavar="SECONDS",
                   help="seconds to stay on the line after the keys (default 30)")
    p.add_argument("--calls", type=int, default=1, metavar="N", help="calls placed at once (default 1)")
    p.set_defaults(func=_guard(cmd_call))
