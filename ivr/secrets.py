"""The service's secrets: is each one good enough to run with, and `hotline secrets generate`.

Three settings are secrets (ivr.settings.SECRET_SETTINGS): `console.secret` signs the console's session
cookies, `asterisk.phone_secret` derives every agent's SIP password, `asterisk.ari_password` is both what the
generated ari.conf accepts and what our ARI client sends. None has a default. `hotline serve` calls
`require_secrets(settings)` before it opens a socket or the database, and refuses to start, naming the setting
and the command that fixes it, when a secret is missing, shorter than MIN_LENGTH, or known to anyone who read
this project: a value that ever shipped (SHIPPED_VALUES) or any text of the project's own code and docs.

Generated secrets go into the secrets file (mode 0600 from the moment it exists) and are never printed.
"""

from __future__ import annotations

import functools
import os
import secrets as _random
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Literal

from ivr.errors import HotlineError
from ivr.settings import SECRET_SETTINGS, Settings

MIN_LENGTH = 32
MIN_DISTINCT = 10  # "a" * 40 is long but not secret
GENERATED_BYTES = 48  # token_urlsafe(48): 64 characters from [A-Za-z0-9_-], inert in TOML and Asterisk configs
GENERATE = "hotline secrets generate"
NAMES: tuple[str, ...] = tuple(f"{s}.{k}" for s, k in SECRET_SETTINGS)

# Every secret value that was ever in this project's code, example config or docs. Kept even after the text
# is gone: an instance set up from an old checkout still has them in its hotline.toml, and an installed wheel
# has no docs to scan.
SHIPPED_VALUES: frozenset[str] = frozenset({
    "change-me-hotline-console-secret",
    "change-me-hotline-phone-secret",
    "hotline-ari",
    "a-long-sip-password",  # the example's agent_phones password
    "secret",  # the example's database URL password
    "password",
    "change-me",
})
# The project's own text: a secret found anywhere in it is public. Not the operator's files (hotline.toml,
# var/), which are excluded by not being listed.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCANNED_DIRS = ("ivr", "agent_console", "recordings", "call_flows", "bench", "tests", "docs", "scripts", ".ci")
SCANNED_FILES = ("README.md", "BENCHMARKS.md", "pyproject.toml")
SCANNED_SUFFIXES = frozenset({".py", ".md", ".toml", ".yaml", ".yml", ".sh", ".txt", ".html", ".js", ".css",
                              ".json", ".ini", ".cfg", ".conf", ".xml", ".mako", ""})
SCAN_MAX_BYTES = 2_000_000

Action = Literal["kept", "generated", "replaced"]


@dataclass(frozen=True)
class SecretProblem:
    setting: str  # "console.secret", or "secrets.file" for the file's mode
    reason: str  # what is wrong, never the value
    fix: str  # the command or edit that fixes it

    def __str__(self) -> str:
        return f"{self.setting}: {self.reason}\n    fix: {self.fix}"


class InsecureSecrets(HotlineError):
    """The service would run with a secret others know or can guess: it does not start."""

    error_id = "secrets.insecure"

    def __init__(self, problems: Iterable[SecretProblem], refusing: str = "refusing to start") -> None:
        found = list(problems)
        text = "\n  ".join(str(p) for p in found)
        super().__init__(f"{refusing}: {len(found)} secret problem(s)\n  {text}", problems=found)
        self.problems = found


def secret_value(settings: Settings, name: str) -> str:
    section, key = name.split(".")
    return str(getattr(getattr(settings, section), key))


@functools.lru_cache(maxsize=4)
def _project_text(root: Path, excluded: frozenset[Path]) -> str:
    """All of the project's text, case-folded. Read once per process (a few MB at most)."""
    paths: list[Path] = [root / f for f in SCANNED_FILES]
    for d in SCANNED_DIRS:
        if (root / d).is_dir():
            paths += sorted(p for p in (root / d).rglob("*")
                            if p.suffix in SCANNED_SUFFIXES and "__pycache__" not in p.parts)
    chunks: list[str] = []
    for p in paths:
        try:
            if not p.is_file() or p.resolve() in excluded or p.stat().st_size > SCAN_MAX_BYTES:
                continue
            chunks.append(p.read_bytes().decode("utf-8", "ignore").casefold())
        except OSError:
            continue
    return "\0".join(chunks)


def shipped_reason(value: str, *, root: Path = PROJECT_ROOT, excluded: Iterable[Path] = ()) -> str | None:
    """Why `value` is public (it shipped, or it is in the project's code or docs), or None."""
    folded = value.strip().casefold()
    if folded in SHIPPED_VALUES:
        return "a value that shipped with hotline"
    for known in SHIPPED_VALUES:
        # "change-me-hotline-console-secret-2" is still the shipped value to anyone guessing.
        if len(known) >= 8 and known in folded:
            return "built from a value that shipped with hotline"
    if folded and folded in _project_text(root, frozenset(p.resolve() for p in excluded)):
        return "it appears in hotline's code or docs"
    return None


def _value_problem(value: str, *, excluded: Iterable[Path] = ()) -> str | None:
    """What makes one secret value unusable, or None (the length is checked first: it needs no scan)."""
    if not value:
        return "not set"
    if len(value) < MIN_LENGTH:
        return f"too short ({len(value)} characters; at least {MIN_LENGTH})"
    shipped = shipped_reason(value, excluded=excluded)
    if shipped:
        return f"public ({shipped}): anyone who has read hotline's code or docs knows it"
    if len(set(value)) < MIN_DISTINCT:
        return f"too regular (fewer than {MIN_DISTINCT} different characters)"
    return None


def _fix_for(origin: str | None, name: str, secrets_file: Path) -> str:
    if origin and origin.startswith("environment variable "):
        var = origin.removeprefix("environment variable ")
        return (f"unset {var} (the environment overrides the secrets file) and run `{GENERATE}`, "
                f"or set it to at least {MIN_LENGTH} random characters")
    if origin and not origin.startswith(str(secrets_file)):
        where = origin.rsplit(":", 1)[0]
        return f"delete {name} from {where} and run `{GENERATE}` (writes {secrets_file}, mode 0600)"
    return f"run `{GENERATE}` (writes random secrets into {secrets_file}, mode 0600)"


def _readable_by_others(path: Path) -> int | None:
    """The file's mode when group or others may read or write it (None: private, or no such file)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    return mode if mode & 0o077 else None


def check_secrets(settings: Settings, *, only: Iterable[str] | None = None) -> list[SecretProblem]:
    """Everything wrong with the settings' secrets (none: good to run). Blocking: reads the project's text
    once per process and stats files. `only` limits it to some of NAMES (e.g. what Asterisk needs)."""
    wanted = list(NAMES if only is None else only)
    secrets_file = settings.secrets_file
    own_files = [secrets_file] + ([Path(settings.source)] if settings.source != "<defaults>" else [])
    problems: list[SecretProblem] = []
    seen: dict[str, str] = {}
    for name in NAMES:
        value = secret_value(settings, name)
        origin = settings.secret_origins.get(name)
        where = f" (from {origin})" if origin else ""
        reason = _value_problem(value, excluded=own_files)
        if reason == "not set":
            places = [str(secrets_file), *([settings.source] if settings.source != "<defaults>" else []),
                      _env_name(name)]
            reason = f"not set (in none of {', '.join(places)})"
            if secrets_file.exists() and not os.access(secrets_file, os.R_OK):
                reason += f"; {secrets_file} exists but this user cannot read it: run as the service's user"
        elif reason is None and value in seen:
            reason = f"the same value as {seen[value]}: each secret must be its own"
        if value and reason is None:
            seen.setdefault(value, name)
        if name in wanted and reason is not None:
            problems.append(SecretProblem(name + where, reason, _fix_for(origin, name, secrets_file)))
    # A secret in a file others can read is no secret: the secrets file, or the settings file if one is there.
    files = {secrets_file} | {Path(o.rsplit(":", 1)[0]) for n, o in settings.secret_origins.items()
                              if n in wanted and not o.startswith("environment variable ")}
    for f in sorted(files):
        mode = _readable_by_others(f)
        if mode is not None:
            fix = (f"chmod 600 {f} (`{GENERATE}` also does)" if f == secrets_file else
                   f"move the secrets out of it (`{GENERATE}`) or chmod 600 {f}")
            problems.append(SecretProblem("secrets.file" if f == secrets_file else str(f),
                                          f"{f} holds secrets and other users can read it (mode {mode:04o})", fix))
    if "asterisk.phone_secret" in wanted:
        for endpoint, password in sorted(settings.asterisk.agent_phones.items()):
            shipped = shipped_reason(password, excluded=own_files)
            if shipped:
                problems.append(SecretProblem(
                    f"asterisk.agent_phones.{endpoint}", f"public SIP password: {shipped}",
                    "give the phone a random password, or remove the entry so it gets one derived from "
                    "asterisk.phone_secret"))
    return problems


def require_secrets(settings: Settings, *, only: Iterable[str] | None = None,
                    refusing: str = "refusing to start") -> None:
    """Raise InsecureSecrets naming every problem; call it before connecting to anything."""
    problems = check_secrets(settings, only=only)
    if problems:
        raise InsecureSecrets(problems, refusing)


def _env_name(name: str) -> str:
    return "HOTLINE_" + name.replace(".", "_").upper()


# --- hotline secrets generate -------------------------------------------------------------------------------


class SecretsFileError(HotlineError):
    """The secrets file cannot be read or written; str() names it."""

    error_id = "secrets.file"


@dataclass(frozen=True)
class Generated:
    path: Path
    actions: dict[str, Action]  # setting -> what happened to it
    reasons: dict[str, str]  # setting -> why it was replaced
    mode_fixed: bool

    @property
    def changed(self) -> list[str]:
        return [n for n, a in self.actions.items() if a != "kept"]


def _read_existing(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretsFileError(f"{path}: cannot read: {exc}", path=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SecretsFileError(f"{path}: not valid TOML ({exc}); `{GENERATE} --force` replaces it",
                               path=str(path)) from None
    found: dict[str, str] = {}
    for section, key in SECRET_SETTINGS:
        table = data.get(section)
        value = table.get(key) if isinstance(table, dict) else None
        if isinstance(value, str):
            found[f"{section}.{key}"] = value
    return found


def render(values: dict[str, str]) -> str:
    lines = ["# hotline secrets, written by `hotline secrets generate`. Mode 0600: only the service's user reads it.",
             "# Rotate: `hotline secrets generate --force`, then `hotline asterisk config`, restart `hotline serve`.",
             "# Never commit or copy this file; the settings file and the environment can override it (don't).", ""]
    for section in dict.fromkeys(s for s, _ in SECRET_SETTINGS):
        lines.append(f"[{section}]")
        for s, key in SECRET_SETTINGS:
            name = f"{s}.{key}"
            if s == section and name in values:
                lines.append(f'{key} = "{values[name]}"')
        lines.append("")
    return "\n".join(lines)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` so that no other user can ever read it: a new file created 0600 with O_EXCL in
    the same directory, flushed, then renamed over `path` (readers see the old file or the new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{_random.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)  # the umask can only take bits away; make sure of the rest
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def generate_secrets(path: Path, *, force: bool = False) -> Generated:
    """Fill the secrets file: keep every usable secret in it (unless `force`: rotate them all), generate the
    missing ones, replace the unusable ones. Never returns or logs a value."""
    existing = {} if force else _read_existing(path)
    values: dict[str, str] = {}
    actions: dict[str, Action] = {}
    reasons: dict[str, str] = {}
    for name in NAMES:
        old = existing.get(name)
        problem = _value_problem(old or "", excluded=[path]) if old is not None else None
        if old is not None and problem is None and old not in values.values():
            values[name], actions[name] = old, "kept"
            continue
        values[name] = _random.token_urlsafe(GENERATED_BYTES)
        if old is None:
            actions[name] = "replaced" if force and path.exists() else "generated"
        else:
            actions[name] = "replaced"
            reasons[name] = problem or "the same value as another secret"
    mode_fixed = False
    if any(a != "kept" for a in actions.values()):
        write_private(path, render(values))
    elif _readable_by_others(path) is not None:
        os.chmod(path, 0o600)
        mode_fixed = True
    return Generated(path, actions, reasons, mode_fixed)


# What an operator must do after a secret changed (the CLI prints these; none reveals a value).
AFTER_CHANGE: dict[str, str] = {
    "console.secret": "console sessions signed with the old value end once `hotline serve` restarts "
                      "(everyone logs in again)",
    "asterisk.phone_secret": "every agent's derived SIP password changes: run `hotline asterisk config` to "
                             "re-provision Asterisk's pjsip.conf, then set up the phones again with the "
                             "passwords `hotline asterisk phones` lists",
    "asterisk.ari_password": "run `hotline asterisk config` (Asterisk's ari.conf takes it), then restart "
                             "`hotline serve` (its ARI client sends it)",
}
