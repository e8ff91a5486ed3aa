"""No shipped secrets: `hotline serve` refuses to start, before it connects to anything, with a secret that is
missing, short or public; `hotline secrets generate` writes private random ones; the docs carry none.

Real sockets throughout: the "database" and "ARI" the refused service would reach are listeners of this test
that count every connection, and the console's port is probed for a listener.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets as random
import stat
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from agent_console.auth import COOKIE, Sessions
from ivr.app import build_app, serve
from ivr.asterisk.config import Layout, generate
from ivr.asterisk.service import phone_password
from ivr.cli import main
from ivr.db import Database
from ivr.db.models import Agent
from ivr.secrets import (MIN_LENGTH, NAMES, SHIPPED_VALUES, InsecureSecrets, check_secrets, generate_secrets,
                         shipped_reason)
from ivr.settings import DEFAULT_GREETING, Settings, load_settings
from tests.acd.helpers import PASSWORD, seed
from tests.fakes.acd import MemoryDialer
from tests.plugins.database import free_port
from tests.plugins.secret_values import fresh_secrets, session_secrets, with_secrets, write_secrets_file

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "hotline.example.toml"
SHIPPED_CONSOLE_SECRET = "change-me-hotline-console-secret"  # the default until issue 11: exactly 32 chars
FIX = "hotline secrets generate"
WAIT = 60.0  # bound on a child process's start on a busy machine; never a speed assertion


# --- what the refused service would have connected to --------------------------------------------------------


@dataclass
class Listener:
    """A loopback TCP port that counts connections (the service's database)."""

    port: int = 0
    connections: int = 0
    connected: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class World:
    database: Listener
    ari_requests: list[str]
    ari_url: str
    console_port: int
    agi_port: int

    def settings(self, tmp_path: Path, secrets: dict[str, str] | None) -> Settings:
        data = {
            "database": {"url": f"postgresql+asyncpg://hotline@127.0.0.1:{self.database.port}/hotline"},
            "asterisk": {"ari_url": self.ari_url, "mode": "system"},
            "agi": {"port": self.agi_port},
            "console": {"port": self.console_port},
            "recordings": {"dir": str(tmp_path / "recordings")},
            "secrets": {"file": str(tmp_path / "no-secrets-here.toml")},
        }
        s = Settings.model_validate(data)
        return with_secrets(s, secrets) if secrets is not None else s

    def contacted(self) -> list[str]:
        return ([f"database x{self.database.connections}"] if self.database.connections else []) + \
            [f"ARI {r}" for r in self.ari_requests]


async def nothing_listens(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


@pytest.fixture
async def world() -> AsyncIterator[World]:
    database = Listener()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        database.connections += 1
        database.connected.set()
        writer.close()

    db_server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    database.port = db_server.sockets[0].getsockname()[1]
    requests: list[str] = []

    async def any_request(request: web.Request) -> web.Response:
        requests.append(f"{request.method} {request.path}")
        return web.Response(status=401)

    ari = web.Application()
    ari.router.add_route("*", "/{tail:.*}", any_request)
    ari_server = TestServer(ari, host="127.0.0.1")
    await ari_server.start_server()
    try:
        yield World(database, requests, f"http://127.0.0.1:{ari_server.port}", free_port(), free_port())
    finally:
        await ari_server.close()
        db_server.close()
        await db_server.wait_closed()


def _readme_sentence() -> str:
    """A stretch of the README long enough to pass the length check: public all the same."""
    line = next(x for x in (REPO / "README.md").read_text(encoding="utf-8").splitlines() if len(x) > 60)
    return line[:MIN_LENGTH + 8]


BAD = {
    "missing": ("console.secret", "", "not set"),
    "short": ("asterisk.phone_secret", random.token_urlsafe(12), "too short"),
    "shipped": ("console.secret", SHIPPED_CONSOLE_SECRET, "shipped with hotline"),
    "old ARI default": ("asterisk.ari_password", "hotline-ari", "too short"),
    "shipped and padded": ("asterisk.ari_password", "change-me-hotline-phone-secret" + "-x9Qz", "shipped"),
    "in the code": ("asterisk.phone_secret", DEFAULT_GREETING, "appears in hotline's code or docs"),
    "in the docs": ("asterisk.ari_password", _readme_sentence(), "appears in hotline's code or docs"),
    "too regular": ("console.secret", "ab" * 20, "too regular"),
}


@pytest.mark.parametrize("case", list(BAD))
async def test_serve_refuses_a_bad_secret_before_connecting_to_anything(case: str, world: World,
                                                                         tmp_path: Path) -> None:
    name, value, reason = BAD[case]
    settings = world.settings(tmp_path, {**session_secrets(), name: value})
    with pytest.raises(InsecureSecrets) as ei:
        await serve(settings)
    message = str(ei.value)
    assert f"{name}: " in message and reason in message, message
    assert FIX in message
    assert [p.setting for p in ei.value.problems] == [name]
    # Nothing was contacted and nothing listens: not the database, not ARI, not the console, not AGI.
    assert world.contacted() == []
    assert await nothing_listens(world.console_port) and await nothing_listens(world.agi_port)
    if value:
        assert value not in message  # the message never repeats a secret


async def test_one_secret_reused_for_another_is_refused(world: World, tmp_path: Path) -> None:
    values = fresh_secrets()
    values["asterisk.ari_password"] = values["console.secret"]
    with pytest.raises(InsecureSecrets, match=r"asterisk\.ari_password: the same value as console\.secret"):
        await serve(world.settings(tmp_path, values))
    assert world.contacted() == []


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    return {**env, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "default", **extra}


def _write_config(world: World, directory: Path) -> Path:
    conf = directory / "hotline.toml"
    conf.write_text(
        f'[database]\nurl = "postgresql+asyncpg://hotline@127.0.0.1:{world.database.port}/hotline"\n'
        f'[asterisk]\nari_url = "{world.ari_url}"\nmode = "system"\n[agi]\nport = {world.agi_port}\n'
        f'[console]\nport = {world.console_port}\n[recordings]\ndir = "{directory / "recordings"}"\n',
        encoding="utf-8")
    return conf


async def test_the_real_serve_command_names_every_missing_secret_and_the_fix(world: World,
                                                                             tmp_path: Path) -> None:
    """`hotline serve` as the process an operator starts: exit 2, one message, no socket touched. Then
    the fix it names, and the same command does reach the database (so the probe above can see it)."""
    conf = _write_config(world, tmp_path)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr.cli", "-c", str(conf), "serve", cwd=tmp_path, env=_child_env(),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(WAIT):
        out, err = await child.communicate()
    assert child.returncode == 2, err.decode()
    text = err.decode()
    assert "Traceback" not in text
    for name in NAMES:
        assert f"{name}: not set" in text
    assert f"`{FIX}`" in text and str(tmp_path / "var" / "secrets.toml") in text
    assert world.contacted() == []

    generated = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr.cli", "-c", str(conf), "secrets", "generate", cwd=tmp_path,
        env=_child_env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(WAIT):
        gen_out, gen_err = await generated.communicate()
    assert generated.returncode == 0, gen_err.decode()
    values = tomllib.loads((tmp_path / "var" / "secrets.toml").read_text(encoding="utf-8"))
    assert not any(v in (gen_out + gen_err).decode() for table in values.values() for v in table.values())

    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr.cli", "-c", str(conf), "serve", cwd=tmp_path, env=_child_env(),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        async with asyncio.timeout(WAIT):
            await world.database.connected.wait()  # with good secrets it goes on to the database
    finally:
        child.kill()
        await child.wait()


# --- a forged cookie ----------------------------------------------------------------------------------------


async def test_cookie_forged_with_the_shipped_console_secret_is_refused(settings: Settings, db: Database) -> None:
    """Anyone who read the old code could sign an admin session. The service refuses to run with that secret,
    so nothing accepts the forgery; the service that runs (generated secret) refuses it too."""
    seeded = await seed(db)
    async with db.session() as s:
        admin = await s.get(Agent, seeded.agents["9001"])
    assert admin is not None
    forged, _ = Sessions(SHIPPED_CONSOLE_SECRET, 3600).issue(admin)
    port = free_port()
    old = settings.model_copy(update={"console": settings.console.model_copy(
        update={"secret": SHIPPED_CONSOLE_SECRET, "port": port})})
    with pytest.raises(InsecureSecrets, match=r"console\.secret: public \(a value that shipped with hotline\)"):
        await serve(old)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorError):
            await http.get(f"http://127.0.0.1:{port}/api/me", cookies={COOKIE: forged})

    assert check_secrets(settings) == []  # the fixture's generated secrets: what serve runs with
    server = TestServer(build_app(settings, dialer=MemoryDialer()), host="127.0.0.1")
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession(base_url=base) as http:
            async with http.post("/login", data={"agent_id": "9001", "password": PASSWORD, "next": "/"},
                                 allow_redirects=False) as r:
                assert r.status == 302, await r.text()
                real = r.cookies[COOKIE].value
            async with http.get("/api/me", cookies={COOKIE: real}) as r:
                assert r.status == 200  # a real session works: the refusals below are about the signature
            # The real session's own payload, signed with the shipped secret instead of the service's.
            body = real.split(".")[0]
            resigned = f"{body}.{Sessions(SHIPPED_CONSOLE_SECRET, 3600)._sign(body.encode('ascii'))}"
            for cookie in (forged, resigned):
                http.cookie_jar.clear()
                async with http.get("/api/me", cookies={COOKIE: cookie}) as r:
                    assert r.status == 401
    finally:
        await server.close()


# --- hotline secrets generate ---------------------------------------------------------------------------------


def _generate(conf: Path, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["-c", str(conf), "secrets", "generate", *args]) == 0
    captured = capsys.readouterr()
    return captured.out + captured.err


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _values(path: Path) -> dict[str, str]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {f"{s}.{k}": v for s, table in data.items() for k, v in table.items()}


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    f = tmp_path / "hotline.toml"
    f.write_text("[console]\nport = 8099\n", encoding="utf-8")
    return f


def test_generate_writes_private_random_secrets_and_prints_none(conf: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    old_umask = os.umask(0)  # even a careless umask must not make it readable
    try:
        out = _generate(conf, capsys)
    finally:
        os.umask(old_umask)
    path = tmp_path / "var" / "secrets.toml"
    assert _mode(path) == 0o600 and path.stat().st_uid == os.geteuid()
    values = _values(path)
    assert set(values) == set(NAMES)
    assert all(v not in out for v in values.values())
    assert len(set(values.values())) == 3 and all(len(v) >= MIN_LENGTH for v in values.values())
    assert [p.name for p in path.parent.iterdir()] == ["secrets.toml"]  # no temporary file left behind
    for name in NAMES:
        assert re.search(rf"^  {re.escape(name)}\s+generated$", out, re.M)
    # The settings next to it read them, and serve would accept them.
    settings = load_settings(conf, env={})
    assert {n: getattr(getattr(settings, n.split(".")[0]), n.split(".")[1]) for n in NAMES} == values
    assert check_secrets(settings) == []


def test_generate_is_idempotent_and_force_rotates(conf: Path, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    _generate(conf, capsys)
    path = tmp_path / "var" / "secrets.toml"
    first, inode = _values(path), path.stat().st_ino
    before = load_settings(conf, env={})
    out = _generate(conf, capsys)
    assert "nothing changed" in out and _values(path) == first and path.stat().st_ino == inode

    with open(path, encoding="utf-8") as reader:  # a reader of the old file while it is rotated
        out = _generate(conf, capsys, "--force")
        assert _values(path) != first and reader.read().count("=") == 3  # the old file, whole
    rotated = _values(path)
    assert all(rotated[n] != first[n] for n in NAMES) and _mode(path) == 0o600
    assert all(v not in out for v in (*first.values(), *rotated.values()))
    for name in NAMES:
        assert re.search(rf"^  {re.escape(name)}\s+replaced$", out, re.M)
    # Rotating phone_secret re-provisions the phones: the command says so, and `asterisk config` takes it.
    assert "asterisk.phone_secret changed" in out and "`hotline asterisk config`" in out
    after = load_settings(conf, env={})
    assert phone_password(after, "agent-1001") != phone_password(before, "agent-1001")
    assert main(["-c", str(conf), "asterisk", "config", "--print", "--no-db"]) == 0
    printed = capsys.readouterr().out
    ari = printed.split(";;;;;;;;;; ari.conf", 1)[1].split(";;;;;;;;;;", 1)[0]
    assert f"password = {rotated['asterisk.ari_password']}" in ari and first["asterisk.ari_password"] not in ari


def test_generate_keeps_good_secrets_fills_in_and_replaces_bad_ones(conf: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "var" / "secrets.toml"
    keep = fresh_secrets()["console.secret"]
    path.parent.mkdir()
    path.write_text(f'[console]\nsecret = "{keep}"\n[asterisk]\nari_password = "hotline-ari"\n', encoding="utf-8")
    path.chmod(0o644)
    out = _generate(conf, capsys)
    values = _values(path)
    assert values["console.secret"] == keep and values["asterisk.ari_password"] != "hotline-ari"
    assert re.search(r"^  console\.secret\s+kept$", out, re.M)
    assert re.search(r"^  asterisk\.phone_secret\s+generated$", out, re.M)
    assert re.search(r"^  asterisk\.ari_password\s+replaced: too short", out, re.M)
    assert _mode(path) == 0o600


def test_generate_fixes_a_readable_file_and_refuses_a_broken_one_without_force(
        conf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_secrets_file(tmp_path / "var" / "secrets.toml", fresh_secrets())
    path.chmod(0o640)
    settings = load_settings(conf, env={})
    assert [p.setting for p in check_secrets(settings)] == ["secrets.file"]  # serve refuses it
    assert "mode 0640" in str(check_secrets(settings)[0])
    out = _generate(conf, capsys)
    assert "mode was wider than 0600: fixed" in out and _mode(path) == 0o600
    assert check_secrets(load_settings(conf, env={})) == []

    path.write_text("[console\n", encoding="utf-8")
    assert main(["-c", str(conf), "secrets", "generate"]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    _generate(conf, capsys, "--force")
    assert set(_values(path)) == set(NAMES)


def test_generate_says_what_overrides_the_file(conf: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    conf.write_text(f'[console]\nsecret = "{SHIPPED_CONSOLE_SECRET}"\n', encoding="utf-8")
    monkeypatch.setenv("HOTLINE_ASTERISK_ARI_PASSWORD", fresh_secrets()["asterisk.ari_password"])
    out = _generate(conf, capsys, "--file", str(tmp_path / "elsewhere.toml"))
    assert f"{conf}:2 also sets console.secret; the secrets file wins over it" in out
    assert "environment variable HOTLINE_ASTERISK_ARI_PASSWORD sets asterisk.ari_password and overrides" in out
    assert f"these settings read {tmp_path / 'var' / 'secrets.toml'}" in out


def test_a_secret_in_a_readable_settings_file_or_the_environment_names_its_fix(tmp_path: Path) -> None:
    values = fresh_secrets()
    conf = tmp_path / "hotline.toml"
    conf.write_text(f'[console]\nsecret = "{values["console.secret"]}"\n', encoding="utf-8")
    conf.chmod(0o644)
    env = {"HOTLINE_ASTERISK_PHONE_SECRET": "short", "HOTLINE_ASTERISK_ARI_PASSWORD": values["asterisk.ari_password"]}
    problems = {p.setting: p for p in check_secrets(load_settings(conf, env=env))}
    assert set(problems) == {"asterisk.phone_secret (from environment variable HOTLINE_ASTERISK_PHONE_SECRET)",
                             str(conf)}
    assert "unset HOTLINE_ASTERISK_PHONE_SECRET" in problems[
        "asterisk.phone_secret (from environment variable HOTLINE_ASTERISK_PHONE_SECRET)"].fix
    assert "other users can read it (mode 0644)" in problems[str(conf)].reason
    conf.chmod(0o600)
    env["HOTLINE_ASTERISK_PHONE_SECRET"] = values["asterisk.phone_secret"]
    assert check_secrets(load_settings(conf, env=env)) == []


def test_a_documented_agent_phone_password_is_refused(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    documented = re.search(r'^# agent_phones = \{ "agent-1001" = "([^"]+)" \}', text, re.M)
    assert documented
    settings = with_secrets(Settings.model_validate({
        "asterisk": {"agent_phones": {"agent-1001": documented.group(1)}},
        "secrets": {"file": str(tmp_path / "none.toml")}}))
    assert [p.setting for p in check_secrets(settings)] == ["asterisk.agent_phones.agent-1001"]


def test_asterisk_commands_refuse_to_provision_without_secrets(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "hotline.toml"
    conf.write_text(f'[asterisk]\nsandbox_dir = "{tmp_path / "never-built"}"\n', encoding="utf-8")
    for command in (["asterisk", "config", "--no-db"], ["asterisk", "up"], ["asterisk", "phones", "--no-db"]):
        assert main(["-c", str(conf), *command]) == 2
        err = capsys.readouterr().err
        assert "asterisk.phone_secret: not set" in err and FIX in err, command
    assert not (tmp_path / "never-built").exists()


def test_ari_conf_and_the_service_take_the_same_ari_password(conf: Path, tmp_path: Path) -> None:
    path = write_secrets_file(tmp_path / "var" / "secrets.toml", fresh_secrets())
    settings = load_settings(conf, env={})
    files = generate(settings, [], Layout("t", PurePosixPath("/x")))
    user = files["ari.conf"].split(f"[{settings.asterisk.ari_user}]", 1)[1]
    assert f"password = {_values(path)['asterisk.ari_password']}\n" in user
    assert settings.asterisk.ari_password == _values(path)["asterisk.ari_password"]  # what ivr/calls sends


def test_generate_creates_the_file_exclusively(tmp_path: Path) -> None:
    """The file is born 0600 (O_CREAT|O_EXCL with mode 0600, then renamed): never a moment of wider mode."""
    opened: list[tuple[str, int]] = []
    target = tmp_path / "secrets.toml"

    def audit(event: str, args: tuple[object, ...]) -> None:
        if event == "open" and str(args[0]).startswith(str(tmp_path)):
            flags = args[2]
            opened.append((str(args[0]), int(flags) if isinstance(flags, int) else -1))

    sys.addaudithook(audit)  # cannot be removed: it only records paths under this test's tmp_path
    generate_secrets(target)
    writes = [(p, f) for p, f in opened if f != -1 and f & (os.O_WRONLY | os.O_RDWR)]
    assert writes and all(f & os.O_CREAT and f & os.O_EXCL for _, f in writes)
    assert all(p != str(target) for p, _ in writes)  # never opened for writing in place
    assert _mode(target) == 0o600


# --- the docs ---------------------------------------------------------------------------------------------------


def test_example_config_contains_no_secret_and_says_how_to_generate_them() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert "secret" not in data.get("console", {})
    assert not {"phone_secret", "ari_password"} & set(data.get("asterisk", {}))
    assert FIX in text
    for value in SHIPPED_VALUES - {"secret", "password", "a-long-sip-password"}:
        assert value not in text.casefold(), value
    loaded = load_settings(EXAMPLE, env={}, read_secrets=False)
    assert (loaded.console.secret, loaded.asterisk.phone_secret, loaded.asterisk.ari_password) == ("", "", "")


def test_no_old_default_is_left_in_the_code_or_docs() -> None:
    for folder in ("ivr", "agent_console", "docs", "scripts"):
        for f in (REPO / folder).rglob("*"):
            if f.suffix in (".py", ".md", ".toml", ".sh") and f.name != "secrets.py":
                text = f.read_text(encoding="utf-8")
                for old in ("change-me-hotline-console-secret", "change-me-hotline-phone-secret", '"hotline-ari"'):
                    assert old not in text, f"{f}: {old}"
    assert "change-me-hotline" not in (REPO / "README.md").read_text(encoding="utf-8")


def test_every_value_quoted_in_the_docs_is_refused_as_a_secret() -> None:
    """Whatever the docs quote is public, wherever it sits: an operator copying one gets a refusal."""
    quoted: set[str] = set()
    for f in (EXAMPLE, REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))):
        text = f.read_text(encoding="utf-8")
        quoted |= {a or b for a, b in re.findall(r'"([^"\n]{4,})"|`([^`\n]{4,})`', text)}
    assert len(quoted) > 50
    for value in quoted:
        assert shipped_reason(value), value
    assert shipped_reason(fresh_secrets()["console.secret"]) is None


def test_up_sh_generates_secrets_before_starting_anything() -> None:
    steps = [line.strip() for line in (REPO / "scripts" / "up.sh").read_text(encoding="utf-8").splitlines()
             if line.strip().startswith("$HL ") or "$HL serve" in line]
    names = [" ".join(s.split()[1:3]) for s in steps]
    first = names.index("secrets generate")
    assert first < names.index("asterisk up") and all("serve" not in n for n in names[:first])


def test_demo_logins_get_a_password_of_this_install_that_is_never_printed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A demo instance's logins must not be known from the repository: `hotline demo-data` makes their
    password once per install, keeps it in a file only this user reads, and prints where it is, not what."""
    import asyncio
    import os
    import stat

    from sqlalchemy import select

    from agent_console.auth import password_matches
    from ivr.cli import main
    from ivr.db import Database
    from ivr.db.models import Agent

    cfg = tmp_path / "hotline.toml"
    cfg.write_text(f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path}/demo.db"\n', encoding="utf-8")
    assert main(["--config", str(cfg), "demo-data", "--customers", "3"]) == 0
    out = capsys.readouterr().out
    path = tmp_path / "var" / "demo-password"
    password = path.read_text(encoding="utf-8").strip()
    assert len(password) >= 16 and password not in out and str(path) in out
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert main(["--config", str(cfg), "demo-data", "--customers", "3"]) == 0  # again: the same password
    assert path.read_text(encoding="utf-8").strip() == password and password not in capsys.readouterr().out

    async def hashes() -> list[str]:
        db = Database(f"sqlite+aiosqlite:///{tmp_path}/demo.db")
        try:
            async with db.session() as s:
                return [a.password_hash for a in (await s.execute(select(Agent))).scalars()]
        finally:
            await db.dispose()

    found = asyncio.run(hashes())
    assert found and all(password_matches(password, h) for h in found)
    assert not any(password_matches("hotline123", h) for h in found)  # what shipped before
