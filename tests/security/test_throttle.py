"""Login throttling: per account, per address and per both; a delay, never an owner lockout."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import redis

from authsvc.config import Settings
from tests.helpers.clock import FakeClock
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.headers import comparable_headers
from tests.helpers.login import post_login


async def attempt(
    client: httpx.AsyncClient, password: str, address: str | None = None, username: str = "alice"
) -> httpx.Response:
    headers = {"X-Forwarded-For": address} if address else {}
    return await post_login(client, username, password, headers=headers)


@pytest.fixture
def proxied(make_settings: MakeSettings) -> Settings:
    """The in-process client connects from 127.0.0.1, here a trusted proxy naming the client."""
    return make_settings(trusted_proxies="127.0.0.1")


async def test_failures_from_one_address_delay_it_but_not_the_owner_elsewhere(
    client_factory: ClientFactory,
    proxied: Settings,
    make_user: MakeUser,
    clock: FakeClock,
) -> None:
    make_user()
    async with client_factory(proxied) as client:
        for _ in range(5):
            assert (await attempt(client, "wrong", "203.0.113.7")).status_code == 401
        blocked = await attempt(client, PASSWORD, "203.0.113.7")
        assert blocked.status_code == 429
        assert blocked.json()["error"] == "too_many_attempts"
        assert 0 < int(blocked.headers["Retry-After"]) <= 2 * 60
        assert "authsvc_at" not in blocked.headers.get("set-cookie", "")
        # The owner, from another address, is not locked out by the attacker's failures.
        assert (await attempt(client, PASSWORD, "198.51.100.20")).status_code == 200
        # The delay ends; it grows to the hour once the address keeps failing, slowly or not.
        clock.advance(int(blocked.headers["Retry-After"]))
        failures = 5
        while (response := await attempt(client, "wrong", "203.0.113.7")).status_code == 401:
            failures += 1
            clock.advance(61)
        assert response.status_code == 429
        assert failures == 20
        assert int(response.headers["Retry-After"]) > 2 * 60


async def test_forwarded_for_is_ignored_from_untrusted_peers(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(settings) as client:
        statuses = [
            (await attempt(client, "wrong", f"10.0.0.{index}")).status_code for index in range(8)
        ]
    assert statuses == [401] * 5 + [429] * 3


async def test_account_takes_at_most_100_failures_an_hour_across_addresses(
    client_factory: ClientFactory,
    proxied: Settings,
    make_user: MakeUser,
    clock: FakeClock,
) -> None:
    make_user()
    async with client_factory(proxied) as client:
        # The owner has logged in from home before the attack.
        assert (await attempt(client, PASSWORD, "192.0.2.1")).status_code == 200
        statuses = [
            (await attempt(client, "wrong", f"10.{index // 250}.{index % 250}.1")).status_code
            for index in range(110)
        ]
        assert statuses.count(401) == 100
        assert statuses[100:] == [429] * 10
        # Even the right password from a new address is refused: it could be the 101st guess.
        assert (await attempt(client, PASSWORD, "10.99.0.1")).status_code == 429
        # The owner's known address still gets in: a delay for strangers, not a lockout.
        assert (await attempt(client, PASSWORD, "192.0.2.1")).status_code == 200
        # No sliding hour ever sees more than 100 failures: still refused in the next window.
        clock.advance(3600 - clock.now().timestamp() % 3600 + 1)
        assert (await attempt(client, "wrong", "10.99.0.2")).status_code == 429
        clock.advance(3600)
        assert (await attempt(client, "wrong", "10.99.0.3")).status_code == 401


async def test_429_has_the_same_shape_whether_or_not_the_account_exists(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    answers = []
    for username in ("alice", "nobody"):
        async with client_factory(settings) as client:
            await client.get("/session")  # take the CSRF cookie, so no answer sets one
            for _ in range(5):
                await attempt(client, "wrong", username=username)
            answers.append(await attempt(client, "wrong", username=username))
    existing, unknown = answers
    assert existing.status_code == unknown.status_code == 429
    assert existing.content == unknown.content
    assert comparable_headers(existing) == comparable_headers(unknown)


async def test_a_success_forgets_the_addresss_failures(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(settings) as client:
        for _ in range(4):
            assert (await attempt(client, "typo")).status_code == 401
        assert (await attempt(client, PASSWORD)).status_code == 200
        statuses = [(await attempt(client, "typo")).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


async def test_throttled_attempts_are_audited_without_the_password(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user()
    async with client_factory(settings) as client:
        for _ in range(6):
            await attempt(client, "guess-123")
    rows = db_query(
        "SELECT event, client_ip, detail FROM audit_events WHERE event LIKE 'login%' ORDER BY id"
    )
    assert [row[0] for row in rows] == ["login_failure"] * 5 + ["login_throttled"]
    assert rows[-1][1] == "127.0.0.1"
    assert all("guess-123" not in str(row) for row in rows)


@pytest.fixture
def redis_url(redis_url: str) -> Iterator[str]:
    """The run's Redis database, emptied before and after (counters of other tests are gone)."""
    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()  # only the test's own database number
    yield redis_url
    connection.flushdb()
    connection.close()


async def test_instances_share_counters_through_redis(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    redis_url: str,
) -> None:
    make_user()
    settings = make_settings(redis_url=redis_url)
    async with (
        client_factory(settings) as first,
        client_factory(settings) as second,
    ):
        for client in (first, second, first, second, first):
            assert (await attempt(client, "wrong")).status_code == 401
        assert (await attempt(second, PASSWORD)).status_code == 429
        assert (await attempt(first, PASSWORD)).status_code == 429
