"""Login limits over real sockets: attempts are counted before the password is checked (parallel guesses
cannot get past the limit), per login and address, per address, per login over addresses; bcrypt work is
capped. The password check is the real bcrypt one, wrapped by a counter the test hands to the app."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from agent_console.auth import LOGIN_LIMITER, password_matches
from ivr.db import Database
from ivr.settings import Settings
from tests.acd.helpers import seed
from tests.security.console_helpers import running, try_login, visitor, with_console, within

WRONG = "wrong-password"


class CountingCheck:
    """password_matches, counted; optionally held until the test lets the checks go (to keep them in flight)."""

    def __init__(self, *, hold: bool = False) -> None:
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self._lock = threading.Lock()

    def __call__(self, password: str, password_hash: str) -> bool:
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            assert self.release.wait(timeout=30), "the test never released the held checks"
            return password_matches(password, password_hash)
        finally:
            with self._lock:
                self.in_flight -= 1


async def test_parallel_wrong_guesses_are_counted_before_the_check(db: Database, settings: Settings) -> None:
    await seed(db)
    check = CountingCheck(hold=True)
    limit, guesses = 5, 30
    async with running(with_console(settings, login_max_failures=limit, login_concurrency=2), db,
                       password_check=check) as console, visitor(console) as client:
        tasks = [asyncio.create_task(try_login(client, "1001", WRONG)) for _ in range(guesses)]
        # Every guess beyond the limit is answered while the first ones are still being checked: the count
        # was taken before any password check finished.
        locked: list[tuple[int, str]] = []
        for done in asyncio.as_completed(tasks):
            locked.append(await within(done))
            if len(locked) == guesses - limit:
                break
        assert all(status == 429 and "分钟后再试" in text for status, text in locked), locked
        assert check.calls <= 2 and check.max_in_flight <= 2  # the semaphore: 2 bcrypt checks at a time
        check.release.set()
        results = await within(asyncio.gather(*tasks))
        assert sorted(status for status, _ in results).count(200) == limit
        assert all("工号或密码错误" in text for status, text in results if status == 200)
        assert check.calls == limit and check.max_in_flight <= 2
        # Locked: the right password is refused as well, without being checked.
        status, text = await try_login(client, "1001")
        assert status == 429 and "分钟后再试" in text
        assert check.calls == limit


async def test_one_address_cannot_lock_an_agent_out(db: Database, settings: Settings) -> None:
    await seed(db)
    check = CountingCheck()
    async with running(settings, db, password_check=check) as console, \
            visitor(console, "127.0.0.2") as outsider, visitor(console, "127.0.0.1") as agent:
        for _ in range(settings.console.login_max_failures):
            assert (await try_login(outsider, "1001", WRONG))[0] == 200
        assert (await try_login(outsider, "1001"))[0] == 429  # that address is stopped for this login
        calls = check.calls
        status, _ = await try_login(agent, "1001")  # the agent at their own desk still gets in
        assert status == 302 and check.calls == calls + 1


async def test_one_address_spraying_many_logins_is_stopped(db: Database, settings: Settings) -> None:
    await seed(db)
    s = with_console(settings, login_max_failures=5, login_address_max_failures=6)
    async with running(s, db) as console, visitor(console, "127.0.0.3") as sprayer, \
            visitor(console, "127.0.0.1") as qa:
        for login in ("1001", "1002", "1003", "1001", "1002", "1003"):  # 2 per login: no pair limit reached
            assert (await try_login(sprayer, login, WRONG))[0] == 200
        status, text = await try_login(sprayer, "2001")  # right password, fresh login: the address is stopped
        assert status == 429 and "分钟后再试" in text
        assert (await try_login(qa, "2001"))[0] == 302


async def test_an_account_locks_for_everyone_only_from_several_addresses(db: Database, settings: Settings) -> None:
    await seed(db)
    s = with_console(settings, login_max_failures=3, login_account_max_failures=6)
    async with running(s, db) as console, visitor(console, "127.0.0.2") as a, visitor(console, "127.0.0.3") as b, \
            visitor(console, "127.0.0.1") as agent:
        for _ in range(3):
            assert (await try_login(a, "1002", WRONG))[0] == 200
        assert (await try_login(a, "1002", WRONG))[0] == 429  # one address alone: only itself is stopped
        assert (await try_login(agent, "1003"))[0] == 302
        for _ in range(3):
            assert (await try_login(b, "1002", WRONG))[0] == 200
        assert (await try_login(agent, "1002"))[0] == 429  # failures from two addresses: the account waits


async def test_behind_a_trusted_proxy_the_forwarded_address_counts(db: Database, settings: Settings) -> None:
    await seed(db)
    s = with_console(settings, trusted_proxy=True, login_max_failures=3)
    async with running(s, db) as console, visitor(console) as proxy:
        def via(addr: str) -> dict[str, Any]:
            # What the client sent first is not believed: the proxy appends the address it saw.
            return {"X-Forwarded-For": f"10.0.0.1, {addr}"}

        for _ in range(3):
            assert (await try_login(proxy, "1001", WRONG, headers=via("203.0.113.7")))[0] == 200
        assert (await try_login(proxy, "1001", headers=via("203.0.113.7")))[0] == 429
        assert (await try_login(proxy, "1001", headers={"X-Forwarded-For": "203.0.113.7"}))[0] == 429
        # One IPv6 subscriber (a /64) is one address.
        for host in ("2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"):
            assert (await try_login(proxy, "1002", WRONG, headers=via(host)))[0] == 200
        assert (await try_login(proxy, "1002", headers=via("2001:db8:1:2::99")))[0] == 429
        assert (await try_login(proxy, "1001", headers=via("203.0.113.8")))[0] == 302


async def test_without_a_trusted_proxy_forwarded_headers_are_ignored(db: Database, settings: Settings) -> None:
    await seed(db)
    s = with_console(settings, login_max_failures=2)
    async with running(s, db) as console, visitor(console) as client:
        for n in range(2):
            headers = {"X-Forwarded-For": f"198.51.100.{n}"}  # rotating a header must not reset the count
            assert (await try_login(client, "1001", WRONG, headers=headers))[0] == 200
        assert (await try_login(client, "1001", headers={"X-Forwarded-For": "198.51.100.9"}))[0] == 429


async def test_a_login_flood_is_answered_busy_not_queued(db: Database, settings: Settings) -> None:
    await seed(db)
    check = CountingCheck(hold=True)
    s = with_console(settings, login_concurrency=1, login_max_waiting=2, login_max_failures=50,
                     login_address_max_failures=50)
    async with running(s, db, password_check=check) as console, visitor(console) as client:
        tasks = [asyncio.create_task(try_login(client, f"10{n:02d}", WRONG)) for n in range(6)]
        busy: list[tuple[int, str]] = []
        for done in asyncio.as_completed(tasks):
            busy.append(await within(done))
            if len(busy) == 4:
                break
        assert all(status == 503 and "稍后再试" in text for status, text in busy), busy
        check.release.set()
        statuses = sorted(status for status, _ in await within(asyncio.gather(*tasks)))
        assert statuses == [200, 200, 503, 503, 503, 503] and check.calls == 2
        # A busy answer was not a guess: only the two checked ones count against the address.
        assert console.app[LOGIN_LIMITER].counts("1099", "127.0.0.1") == (0, 2, 0)
