"""Database fixtures: every test that takes `db` runs on SQLite and on a real PostgreSQL.

PostgreSQL is started by the test session itself (initdb + postgres on a free loopback port) so CI needs only
the Debian package. Each test gets a fresh database cloned from a migrated template, which keeps the
Alembic upgrade out of the per-test cost.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterator, Iterator

import pytest

from ivr.db import Database

PG_BIN_CANDIDATES = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def run_isolated(coro_factory) -> object:  # type: ignore[no-untyped-def]
    """Run a coroutine on its own loop in its own thread, leaving pytest-asyncio's loop untouched."""
    result: dict[str, object] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro_factory())
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result.get("value")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    port: int
    datadir: Path
    process: subprocess.Popen[bytes]
    user: str

    def url(self, dbname: str) -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{dbname}"


def _pg_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for d in PG_BIN_CANDIDATES:
        if (d / name).exists():
            return str(d / name)
    raise RuntimeError(
        f"PostgreSQL binary {name!r} not found: install the Debian package 'postgresql' (CI must not skip)")


def _as_user(cmd: list[str]) -> list[str]:
    # postgres refuses to run as root; CI and the dev machines run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


def start_postgres() -> PgServer:
    base = Path(tempfile.mkdtemp(prefix="hotline-pg-"))
    datadir = base / "data"
    user = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(base, pw.pw_uid, pw.pw_gid)
    subprocess.run(_as_user([_pg_bin("initdb"), "-D", str(datadir), "-U", user, "--auth=trust", "-E", "UTF8",
                             "--no-locale"]), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port = free_port()
    log = open(base / "postgres.log", "wb")
    proc = subprocess.Popen(
        _as_user([_pg_bin("postgres"), "-D", str(datadir), "-p", str(port), "-h", "127.0.0.1", "-k", str(base),
                  "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                  "-c", "max_connections=200"]),
        stdout=log, stderr=subprocess.STDOUT)
    log.close()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"postgres exited: {(base / 'postgres.log').read_text(errors='replace')[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("postgres did not start listening within 30 s")
    server = PgServer(port=port, datadir=datadir, process=proc, user=user)
    # The port accepts before the server takes logins; wait for a real query.
    deadline = time.monotonic() + 30
    while True:
        try:
            run_isolated(lambda: _pg_exec(server, "postgres", "SELECT 1"))
            return server
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


async def _pg_exec(server: PgServer, dbname: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(host="127.0.0.1", port=server.port, user=server.user, database=dbname)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def stop_postgres(server: PgServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
    shutil.rmtree(server.datadir.parent, ignore_errors=True)


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await db.upgrade()
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer]:
    server = start_postgres()
    run_isolated(lambda: _pg_exec(server, "postgres", "CREATE DATABASE hotline_template"))
    run_isolated(lambda: _migrate(server.url("hotline_template")))
    try:
        yield server
    finally:
        stop_postgres(server)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    run_isolated(lambda: _migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a fresh migrated database: SQLite by default; parametrized tests get PostgreSQL too."""
    kind = getattr(request, "param", "sqlite")
    if kind == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "hotline.db"
        shutil.copyfile(template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    server: PgServer = request.getfixturevalue("postgres_server")
    name = "t_" + uuid.uuid4().hex[:16]
    run_isolated(lambda: _pg_exec(server, "postgres", f"CREATE DATABASE {name} TEMPLATE hotline_template"))
    try:
        yield server.url(name)
    finally:
        run_isolated(lambda: _pg_exec(server, "postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.dispose()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Any test that uses `db` or `db_url` runs on both backends; PostgreSQL ones carry the marker.
    if "db_url" in metafunc.fixturenames:
        metafunc.parametrize("db_url", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
                             indirect=True)
