"""The AGI wire format as pure functions and small state machines: no sockets, no clocks, no logging.

Facts this module relies on (res_agi.c, Asterisk 22):
- The session starts with `agi_<key>: <value>` lines and a blank line. Values may be empty and need not be
  UTF-8 (SIP trunks send GBK caller names), so values decode with replacement; keys must be ASCII.
- Every command gets exactly one reply: `200 result=<r> [(<data>)] [key=value ...]`, `510 ...` (unknown
  command), `511 ...` (not permitted on a dead channel) or `520 ...`; 520 may be multi-line, starting with
  `520-` and ending with a line starting `520 `.
- For FastAGI, Asterisk writes `HANGUP` on its own when the channel hangs up (between replies).
- Asterisk reads a command with fgets into a 2048-byte buffer: a longer line is cut and its tail runs as a
  second command. Arguments are split on blanks; `"` groups and `\\` escapes the next character.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import parse_qsl

from ivr.agi.errors import (
    AgiCommandFailed,
    AgiDeadChannel,
    AgiEncodingError,
    AgiEnvError,
    AgiGarbage,
    AgiHangup,
    AgiInvalidCommand,
    AgiLineTooLong,
    AgiUsageError,
)

# fgets(buf, 2048) keeps at most 2047 bytes, newline included.
MAX_COMMAND_BYTES = 2047
MAX_ENV_LINES = 256  # ~25 standard keys + up to 127 agi_arg_N
MAX_USAGE_LINES = 200
REQUIRED_ENV_KEYS = ("agi_request", "agi_channel", "agi_uniqueid")
HANGUP_LINE = b"HANGUP"

_ENV_LINE = re.compile(rb"(agi_[a-z0-9_]{1,64}): ?(.*)", re.S)
_REPLY_200 = re.compile(r"200 result=(?P<result>\S*)(?: \((?P<data>.*)\))?(?P<extras>(?: [A-Za-z_]+=\S*)*)"
                        r"(?P<text>(?: .*)?)", re.S)
_REPLY_CODE = re.compile(r"(?P<code>\d{3})(?P<sep>[ -])(?P<text>.*)", re.S)
_VERB = re.compile(r"[A-Z]+(?: [A-Z]+)*")
_FLOW_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


# --- lines -----------------------------------------------------------------------------------------------


class LineBuffer:
    """feed_data-style splitter: bytes in, complete lines out; refuses to hold a line above the limit.

    The check runs on the unfinished tail after every feed, so an endless line costs at most
    `max_line + len(chunk)` bytes before AgiLineTooLong, never the whole line.
    """

    def __init__(self, max_line: int) -> None:
        if max_line < 16:
            raise ValueError("max_line must be at least 16 bytes")
        self.max_line = max_line
        self._tail = bytearray()

    @property
    def pending(self) -> int:
        return len(self._tail)

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        start = 0
        while True:
            nl = data.find(b"\n", start)
            if nl < 0:
                break
            if len(self._tail) + (nl - start) > self.max_line:
                raise AgiLineTooLong(f"line longer than {self.max_line} bytes")
            line = bytes(self._tail) + data[start:nl] if self._tail else data[start:nl]
            self._tail.clear()
            lines.append(line[:-1] if line.endswith(b"\r") else line)
            start = nl + 1
        rest = len(data) - start
        if len(self._tail) + rest > self.max_line:
            raise AgiLineTooLong(f"line longer than {self.max_line} bytes")
        self._tail += data[start:]
        return lines


def is_hangup_notice(line: bytes) -> bool:
    return line.strip() == HANGUP_LINE


# --- environment -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgiEnvironment:
    values: Mapping[str, str]

    def get(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    @property
    def request(self) -> str:
        return self.values["agi_request"]

    @property
    def channel(self) -> str:
        return self.values["agi_channel"]

    @property
    def uniqueid(self) -> str:
        return self.values["agi_uniqueid"]

    @property
    def script(self) -> str:
        """The path after host:port, with its query (FastAGI's agi_network_script, else from agi_request)."""
        if "agi_network_script" in self.values:
            return self.values["agi_network_script"]
        m = re.match(r"agi://[^/]*/?(.*)", self.request, re.S)
        return m.group(1) if m else self.request

    @property
    def caller_number(self) -> str:
        return _known(self.get("agi_callerid"))

    @property
    def caller_name(self) -> str:
        return _known(self.get("agi_calleridname"))

    @property
    def dialed(self) -> str:
        return _known(self.get("agi_dnid")) or _known(self.get("agi_extension"))

    @property
    def args(self) -> list[str]:
        out: list[str] = []
        while f"agi_arg_{len(out) + 1}" in self.values:
            out.append(self.values[f"agi_arg_{len(out) + 1}"])
        return out


def _known(value: str) -> str:
    # Asterisk writes "unknown" for absent caller id / DNID.
    return "" if value == "unknown" else value


class EnvParser:
    """Consumes environment lines one at a time; returns the environment at the blank line."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}
        self._count = 0

    def feed(self, line: bytes) -> AgiEnvironment | None:
        if not line.strip():
            missing = [k for k in REQUIRED_ENV_KEYS if not self._values.get(k)]
            if missing:
                raise AgiEnvError(f"environment block lacks {', '.join(missing)}")
            return AgiEnvironment(MappingProxyType(dict(self._values)))
        self._count += 1
        if self._count > MAX_ENV_LINES:
            raise AgiEnvError(f"environment block longer than {MAX_ENV_LINES} lines")
        m = _ENV_LINE.fullmatch(line)
        if m is None:
            raise AgiEnvError(f"not an agi_* environment line: {_preview(line)}")
        key = m.group(1).decode("ascii")
        if key in self._values:
            raise AgiEnvError(f"environment key {key} given twice")
        self._values[key] = (m.group(2) or b"").decode("utf-8", "replace")
        return None


def parse_env(lines: list[bytes]) -> AgiEnvironment:
    """Parse a whole environment block (lines without newlines, the blank terminator included or not)."""
    parser = EnvParser()
    for line in [*lines, b""]:
        env = parser.feed(line)
        if env is not None:
            return env
    raise AssertionError("unreachable: the blank line always ends the block")  # pragma: no cover


# --- replies ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgiReply:
    code: int
    result: str = ""
    data: str | None = None
    extras: Mapping[str, str] = field(default_factory=dict)
    text: str = ""

    @property
    def digit(self) -> str | None:
        """A DTMF key from an ASCII-code result (STREAM FILE, WAIT FOR DIGIT, SAY ...); None for 0 / timeout."""
        try:
            code = int(self.result)
        except ValueError:
            return None
        return chr(code) if code > 0 and chr(code) in "0123456789*#ABCD" else None


class ReplyParser:
    """Assembles one reply from lines: one line for most, several for `520-` usage. Raises AgiGarbage."""

    def __init__(self) -> None:
        self._usage: list[str] | None = None

    def feed(self, line: bytes) -> AgiReply | None:
        text = line.decode("utf-8", "replace")
        if self._usage is not None:
            if text.startswith("520 "):
                usage = "\n".join(self._usage).strip()
                self._usage = None
                return AgiReply(520, text=usage)
            if text.endswith("520 End of proper usage."):  # usage text without its own trailing newline
                self._usage.append(text[: -len("520 End of proper usage.")])
                usage = "\n".join(self._usage).strip()
                self._usage = None
                return AgiReply(520, text=usage)
            if len(self._usage) >= MAX_USAGE_LINES:
                raise AgiGarbage(f"520 usage text longer than {MAX_USAGE_LINES} lines")
            self._usage.append(text)
            return None
        m = _REPLY_CODE.fullmatch(text)
        if m is None:
            raise AgiGarbage(f"not an AGI reply: {_preview(line)}")
        code, sep, rest = int(m.group("code")), m.group("sep"), m.group("text")
        if code == 520 and sep == "-":
            self._usage = []
            return None
        if sep != " ":
            raise AgiGarbage(f"not an AGI reply: {_preview(line)}")
        if code == 200:
            r = _REPLY_200.fullmatch(text)
            if r is None:
                raise AgiGarbage(f"200 reply without result=: {_preview(line)}")
            extras = dict(kv.split("=", 1) for kv in r.group("extras").split())
            return AgiReply(200, r.group("result"), r.group("data"), MappingProxyType(extras),
                            r.group("text").strip())
        if code in (510, 511, 520):
            return AgiReply(code, text=rest)
        raise AgiGarbage(f"unknown AGI reply code {code}: {_preview(line)}")


def parse_reply(lines: list[bytes]) -> AgiReply:
    """Parse one complete reply given as lines (convenience for tests and pyst2 interop)."""
    parser = ReplyParser()
    for line in lines:
        reply = parser.feed(line)
        if reply is not None:
            return reply
    raise AgiGarbage("reply incomplete")


def raise_for_reply(reply: AgiReply, command: str, *, failure: Collection[str] = ("-1",),
                    hangup_seen: bool = False) -> AgiReply:
    """Map a reply to the typed exception it means, or return it.

    `failure` lists the result values that mean the command failed; a failed result is reported as a hang-up
    when Asterisk said so, in the data "(hangup)" or with a HANGUP notice seen on this session.
    """
    if reply.code == 200:
        if reply.result in failure:
            if reply.data == "hangup" or hangup_seen:
                raise AgiHangup(f"{command}: caller hung up")
            raise AgiCommandFailed(command, reply.result, reply.data)
        return reply
    if reply.code == 510:
        raise AgiInvalidCommand(f"{command}: {reply.text or 'invalid or unknown command'}")
    if reply.code == 511:
        raise AgiDeadChannel(f"{command}: {reply.text or 'not permitted on a dead channel'}")
    if reply.code == 520:
        raise AgiUsageError(command, reply.text)
    raise AgiGarbage(f"{command}: unexpected reply code {reply.code}")


# --- commands --------------------------------------------------------------------------------------------


def quote_arg(value: str | int) -> str:
    """One argument as Asterisk's parse_args reads it back unchanged; refuses what could split the line."""
    text = str(value)
    if any(c in text for c in "\n\r\0"):
        raise AgiEncodingError(f"AGI argument contains a line break or NUL: {text[:40]!r}")
    if text and not any(c.isspace() or c in '"\\' for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_command(verb: str, *args: str | int) -> bytes:
    if not _VERB.fullmatch(verb):
        raise AgiEncodingError(f"not an AGI command word: {verb!r}")
    line = " ".join([verb, *(quote_arg(a) for a in args)]).encode("utf-8") + b"\n"
    if len(line) > MAX_COMMAND_BYTES:
        raise AgiEncodingError(f"{verb}: command is {len(line)} bytes, Asterisk reads at most {MAX_COMMAND_BYTES}")
    return line


# --- routing ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    kind: str  # "lookup", "hangup", "flow" or "unknown"
    name: str = ""
    params: Mapping[str, str] = field(default_factory=dict)
    path: str = ""


def parse_route(script: str) -> Route:
    """`lookup`, `hangup` or `flow/<name>` (each with an optional ?query) from agi_network_script."""
    path, _, query = script.partition("?")
    path = path.strip("/")
    try:
        params: Mapping[str, str] = MappingProxyType(dict(parse_qsl(query, keep_blank_values=True,
                                                                    max_num_fields=32)))
    except ValueError:
        return Route("unknown", path=path)
    if path in ("lookup", "hangup"):
        return Route(path, params=params, path=path)
    head, _, name = path.partition("/")
    if head == "flow" and _FLOW_NAME.fullmatch(name):
        return Route("flow", name=name, params=params, path=path)
    return Route("unknown", params=params, path=path)


def _preview(line: bytes, limit: int = 60) -> str:
    return repr(line[:limit]) + ("..." if len(line) > limit else "")
