"""Settings: one TOML file plus HOTLINE_<SECTION>_<KEY> environment overrides, validated at start.

A bad value stops the service with one line naming the file, the line (when it came from the file) and the
key, because an operator editing hotline.toml at 3 a.m. needs to know exactly what to fix.

Secrets (SECRET_SETTINGS) have no defaults: `hotline secrets generate` writes random ones into the secrets file
([secrets] file, default var/secrets.toml next to the settings file, mode 0600), which is read after the
settings file, so it wins over it; environment overrides win over both. Settings load without secrets (most
commands need none); `hotline serve` refuses to start without good ones (ivr/secrets.py).
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_GREETING = "您好，这里是{name}24小时服务热线，{agent_id}号坐席为您服务，请问有什么可以帮您？"
DEFAULT_APOLOGY = "对不起，让您久等了。"
ENV_PREFIX = "HOTLINE_"
# (section, key) of every secret: only these may be in the secrets file, none has a default.
SECRET_SETTINGS: tuple[tuple[str, str], ...] = (
    ("console", "secret"), ("asterisk", "phone_secret"), ("asterisk", "ari_password"))
DEFAULT_SECRETS_FILE = Path("var/secrets.toml")


class SettingsError(Exception):
    """A settings file or override that cannot be used; str() is the message an operator reads."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HotlineSettings(_Section):
    name: str = "示例燃气集团"
    greeting: str = DEFAULT_GREETING
    apology: str = DEFAULT_APOLOGY
    closing: str = "请问还有其他可以帮您的吗？感谢您的来电，再见！"
    agent_id_pattern: str = r"^\d{4}$"
    language: Literal["zh", "en"] = "zh"
    flow: str = "gas"
    # The hotline's local time: working days, order numbers, the callback window, report days.
    timezone: str = "Asia/Shanghai"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r} (e.g. Asia/Shanghai)") from None
        return v

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @field_validator("greeting")
    @classmethod
    def _greeting_fields(cls, v: str) -> str:
        try:
            v.format(name="x", agent_id="0000")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"template may only use {{name}} and {{agent_id}} ({exc})") from None
        return v

    @field_validator("agent_id_pattern")
    @classmethod
    def _pattern_compiles(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from None
        return v


class RingSettings(_Section):
    """China's ringback is 1 s on / 4 s off; the regulations say answer within 3 rings."""

    on_seconds: float = Field(1.0, gt=0, le=10)
    off_seconds: float = Field(4.0, ge=0, le=30)
    count: int = Field(3, ge=1, le=20)

    @property
    def limit_seconds(self) -> float:
        # The third ring ends after on+off+on+off+on; the caller hears silence after that only if nobody
        # answers, so the deadline is the start of the next cycle.
        return self.count * (self.on_seconds + self.off_seconds)


class AsteriskSettings(_Section):
    mode: Literal["auto", "system", "sandbox"] = "auto"
    ari_url: str = "http://127.0.0.1:8088"
    ari_user: str = "hotline"
    # Secret, no default: Asterisk's ari.conf and our ARI client both take it from here ("" = not set).
    ari_password: str = Field("", repr=False)
    app: str = "hotline"
    sip_host: str = "127.0.0.1"
    sip_port: int = Field(5060, ge=1, le=65535)
    rtp_start: int = Field(10000, ge=1024, le=65535)
    rtp_end: int = Field(10200, ge=1024, le=65535)
    sandbox_dir: Path = Path(".cache/asterisk-root")
    inbound_extension: str = "95598"
    reconnect_max_seconds: float = Field(10.0, gt=0)
    # Added by the Asterisk provisioning (ivr/asterisk): the instance `hotline asterisk up` runs, the Debian
    # mirror for the sandbox ("" = the host's apt mirror), the dialplan fallback's limits, the agent phones.
    instance: str = Field("hotline", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
    mirror: str = ""
    inbound_match: str = "127.0.0.1"  # PJSIP identify match for the carrier gateway / test callers
    fallback_wait_seconds: int = Field(60, ge=1, le=3600)
    fallback_message_seconds: int = Field(120, ge=5, le=600)
    agent_phones: dict[str, str] = Field(default_factory=dict)  # PJSIP endpoint name -> SIP password
    # Agents in the database with a sip_endpoint but no entry above get HMAC(phone_secret, endpoint) as their
    # SIP password (`hotline asterisk phones` lists them for setting up the softphones). Secret, no default.
    phone_secret: str = Field("", repr=False)

    @field_validator("agent_phones")
    @classmethod
    def _endpoint_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name, password in v.items():
            if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$", name):
                raise ValueError(f"endpoint name {name!r}: use letters, digits, '-', '_', '.'")
            if not password or any(c in password for c in ";\n\r"):
                raise ValueError(f"endpoint {name!r}: password must be non-empty without ';' or line breaks")
        return v

    @field_validator("ari_url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        if not re.match(r"^https?://[^/]+", v):
            raise ValueError("must be an http:// or https:// URL")
        return v.rstrip("/")


class AgiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(4573, ge=1, le=65535)
    max_line_bytes: int = Field(8192, ge=256)


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///var/hotline.db"
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _async_driver(cls, v: str) -> str:
        if not (v.startswith("sqlite+aiosqlite://") or v.startswith("postgresql+asyncpg://")):
            raise ValueError("use sqlite+aiosqlite:///path or postgresql+asyncpg://user:pw@host/db")
        return v


class ConsoleSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    secret: str = Field("", repr=False)  # signs the session cookies; secret, no default ("" = not set)
    ws_queue_size: int = Field(256, ge=8)
    session_hours: float = Field(12.0, gt=0)
    # Sessions end after this long without activity on a console page (docs/security.md "Sessions"); open
    # sockets of ended sessions are closed within session_check_seconds (also after `hotline agents ...`).
    idle_minutes: float = Field(30.0, gt=0)
    session_check_seconds: float = Field(5.0, gt=0, le=300)
    # Failed logins counted in a sliding window (docs/security.md "Login limits"): one login from one
    # address, one address over all logins, one login over all addresses; bcrypt checks run at most
    # login_concurrency at once, and more than login_max_waiting queued logins are answered "busy".
    login_window_minutes: float = Field(15.0, gt=0)
    login_max_failures: int = Field(5, ge=1)
    login_address_max_failures: int = Field(20, ge=1)
    login_account_max_failures: int = Field(20, ge=1)
    login_concurrency: int = Field(2, ge=1, le=32)
    login_max_waiting: int = Field(32, ge=1)
    # Behind a TLS proxy (docs/security.md "Pages and headers"): Secure cookies always, or trust the proxy's
    # X-Forwarded-Proto to know the browser is on TLS (then also HSTS). `origins` are the console's public
    # origins (scheme://host[:port]) that POSTs and WebSockets must come from; empty = the bound address
    # and loopback on its port.
    secure_cookies: bool = False
    trusted_proxy: bool = False
    origins: list[str] = Field(default_factory=list)

    @field_validator("origins", mode="before")
    @classmethod
    def _origins(cls, values: Any) -> Any:
        if isinstance(values, str):  # HOTLINE_CONSOLE_ORIGINS="https://a.example, https://b.example"
            values = [v for v in re.split(r"[,\s]+", values) if v]
        if not isinstance(values, list):
            return values  # pydantic reports the type
        out: list[str] = []
        for text in values:
            if not isinstance(text, str):
                return values
            parts = urlsplit(text.strip())
            default = {"http": 80, "https": 443}.get(parts.scheme)
            if default is None or not parts.hostname or parts.path not in ("", "/") or parts.query \
                    or parts.fragment or parts.username or parts.password:
                raise ValueError(f"not an origin (scheme://host[:port]): {text!r}")
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            port = parts.port or default
            out.append(f"{parts.scheme}://{host}" + ("" if port == default else f":{port}"))
        return out


class RecordingSettings(_Section):
    dir: Path = Path("var/recordings")
    retention_days: int = Field(365, ge=1)
    format: Literal["wav"] = "wav"


class VoskSettings(_Section):
    model_path: Path | None = None
    sample_rate: int = Field(8000, ge=8000, le=48000)
    min_confidence: float = Field(0.6, ge=0, le=1)


class QaSettings(_Section):
    rubric: Path | None = None


class WorkOrderSettings(_Section):
    # One holiday-cn JSON file per year (2027.json): overrides and extends the chinesecalendar package.
    calendar_dir: Path = Path("var/calendar")
    warn_share: float = Field(0.8, gt=0, lt=1)  # a clock this far used is "nearly due"
    sweep_seconds: float = Field(60.0, gt=0)  # how often open orders' clocks are checked
    escalate_after_working_days: int = Field(5, ge=1)  # an unanswered 催办 goes to the supervisor


class SecretsSettings(_Section):
    # Relative: to the settings file's directory (the working directory without one), so a config elsewhere
    # never picks up this checkout's var/secrets.toml.
    file: Path = DEFAULT_SECRETS_FILE


class Settings(_Section):
    hotline: HotlineSettings = HotlineSettings()
    ring: RingSettings = RingSettings()
    asterisk: AsteriskSettings = AsteriskSettings()
    agi: AgiSettings = AgiSettings()
    database: DatabaseSettings = DatabaseSettings()
    console: ConsoleSettings = ConsoleSettings()
    recordings: RecordingSettings = RecordingSettings()
    vosk: VoskSettings = VoskSettings()
    qa: QaSettings = QaSettings()
    workorders: WorkOrderSettings = WorkOrderSettings()
    secrets: SecretsSettings = SecretsSettings()
    source: str = Field("<defaults>", exclude=True)
    # "console.secret" -> where its value came from ("environment variable ...", "<file>:<line>"), for messages.
    secret_origins: dict[str, str] = Field(default_factory=dict, exclude=True)

    @property
    def secrets_file(self) -> Path:
        """The secrets file these settings read (and `hotline secrets generate` writes), absolute."""
        return resolve_secrets_file(self.secrets.file, self.source)


def resolve_secrets_file(file: Path, source: str) -> Path:
    f = Path(file).expanduser()
    if f.is_absolute():
        return f
    base = Path(source).parent if source != "<defaults>" else Path.cwd()
    return (base / f).absolute()


SECTIONS = tuple(name for name in Settings.model_fields if name not in ("source", "secret_origins"))


@dataclass(frozen=True)
class _Origin:
    where: str


def _env_overrides(env: Mapping[str, str]) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], str]]:
    data: dict[str, dict[str, Any]] = {}
    origin: dict[tuple[str, str], str] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX):].lower()
        section, _, key = rest.partition("_")
        if section not in SECTIONS or not key:
            continue
        data.setdefault(section, {})[key] = value
        origin[(section, key)] = f"environment variable {name}"
    return data, origin


def _line_of(text: str, section: str, key: str) -> int | None:
    current = None
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        m = re.match(r"^\[([^\]]+)\]", stripped)
        if m:
            current = m.group(1).strip()
            if current == section and not key:
                return lineno
            continue
        if current == section and re.match(rf"^{re.escape(key)}\s*=", stripped):
            return lineno
    return None


def _read_secrets_file(path: Path) -> tuple[dict[str, dict[str, str]], dict[tuple[str, str], str]]:
    """The secrets file's values and where each is ({} when the file is absent or this user cannot read it:
    commands that need no secrets still run, and `hotline serve` says what is missing)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError):
        return {}, {}
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path}: cannot read secrets file: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc} (`hotline secrets generate --force` rewrites it)") from None
    allowed = ", ".join(f"{s}.{k}" for s, k in SECRET_SETTINGS)
    values: dict[str, dict[str, str]] = {}
    origin: dict[tuple[str, str], str] = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise SettingsError(f"{path}: {section}: only the tables of {allowed} belong in the secrets file")
        for key, value in table.items():
            where = f"{path}:{_line_of(text, section, key) or '?'}"
            if (section, key) not in SECRET_SETTINGS:
                raise SettingsError(f"{where}: {section}.{key}: not a secret; only {allowed} belong in the "
                                    "secrets file (the rest goes into the settings file)")
            if not isinstance(value, str):
                raise SettingsError(f"{where}: {section}.{key}: must be a string")
            values.setdefault(section, {})[key] = value
            origin[(section, key)] = where
    return values, origin


def load_settings(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None, *,
                  read_secrets: bool = True) -> Settings:
    """Read the file (if any), then the secrets file, apply environment overrides, validate; raise
    SettingsError on any problem. read_secrets=False skips the secrets file (`hotline secrets` reads it)."""
    env = os.environ if env is None else env
    if path is None and env.get("HOTLINE_CONFIG"):
        path = env["HOTLINE_CONFIG"]
    text = ""
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        p = Path(path)
        source = str(p)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SettingsError(f"{p}: settings file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"{p}: cannot read settings file: {exc}") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{p}: not valid TOML: {exc}") from None
    overrides, env_origin = _env_overrides(env)
    for section, values in overrides.items():
        existing = data.get(section)
        if existing is not None and not isinstance(existing, dict):
            raise SettingsError(f"{source}: [{section}] must be a table")
        data.setdefault(section, {}).update(values)
    origin = dict(env_origin)
    if read_secrets:
        try:
            where = SecretsSettings.model_validate(data.get("secrets") or {})
        except ValidationError as exc:
            raise SettingsError(_describe(exc, source, text, env_origin, prefix=("secrets",))) from None
        secret_values, secret_origin = _read_secrets_file(resolve_secrets_file(where.file, source))
        for section, values in secret_values.items():
            for key, value in values.items():
                if (section, key) in env_origin:
                    continue  # the environment wins over the secrets file
                data.setdefault(section, {})[key] = value
                origin[(section, key)] = secret_origin[(section, key)]
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_describe(exc, source, text, origin)) from None
    origins: dict[str, str] = {}
    for section, key in SECRET_SETTINGS:
        if (section, key) in origin:
            origins[f"{section}.{key}"] = origin[(section, key)]
        elif isinstance(data.get(section), dict) and key in data[section]:
            lineno = _line_of(text, section, key) if text else None
            origins[f"{section}.{key}"] = f"{source}:{lineno}" if lineno else source
    return settings.model_copy(update={"source": source, "secret_origins": origins})


def _describe(exc: ValidationError, source: str, text: str, env_origin: dict[tuple[str, str], str],
              prefix: tuple[str, ...] = ()) -> str:
    lines = []
    for err in exc.errors():
        loc = [*prefix, *(str(x) for x in err["loc"])]
        section = loc[0] if loc else ""
        key = loc[1] if len(loc) > 1 else ""
        dotted = ".".join(loc)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown setting" if key else "unknown section"
        if (section, key) in env_origin:
            lines.append(f"{env_origin[(section, key)]}: {dotted}: {msg}")
            continue
        lineno = _line_of(text, section, key) if text else None
        where = f"{source}:{lineno}" if lineno else source
        lines.append(f"{where}: {dotted}: {msg}")
    return "invalid settings:\n  " + "\n  ".join(lines)


def render_greeting(settings: Settings, agent_id: str, waited_too_long: bool) -> str:
    text = settings.hotline.greeting.format(name=settings.hotline.name, agent_id=agent_id)
    return (settings.hotline.apology + text) if waited_too_long else text
