"""Login throttling: per account, per address and per both; a delay, never an owner lockout."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import redis

from authsvc.config import Settings
from tests.helpers.clock import FakeClock
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.headers import comparable_headers
from tests.helpers.login import access_token, post_login


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


async def change_password(
    client: httpx.AsyncClient, token: str, current: str, address: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if address is not None:
        headers["X-Forwarded-For"] = address
    body = {"current_password": current, "new_password": "a new and rather long passphrase"}
    return await client.post("/password", json=body, headers=headers)


async def test_a_stolen_session_gets_no_unlimited_guesses_of_the_current_password(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user()
    async with client_factory(settings) as client:
        token = await access_token(client)
        statuses = [
            (await change_password(client, token, f"guess-{n}")).status_code for n in range(5)
        ]
        assert statuses == [401] * 5
        refused = await change_password(client, token, PASSWORD)
        assert refused.status_code == 429
        assert refused.json()["error"] == "too_many_attempts"
        assert 0 < int(refused.headers["Retry-After"]) <= 2 * 60
    # Even the right password was refused: nothing changed.
    assert [row.event for row in db_query("SELECT event FROM audit_events")].count(
        "password_changed"
    ) == 0


async def test_password_guesses_at_login_and_at_password_change_share_one_budget(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(settings) as client:
        token = await access_token(client)
        for _ in range(3):
            assert (await attempt(client, "wrong")).status_code == 401
        for _ in range(2):
            assert (await change_password(client, token, "wrong")).status_code == 401
        assert (await attempt(client, PASSWORD)).status_code == 429
        assert (await change_password(client, token, PASSWORD)).status_code == 429


async def test_ipv6_clients_are_counted_per_64(
    client_factory: ClientFactory, proxied: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(proxied) as client:
        # One subscriber's /64 has 2**64 addresses: a fresh one per guess buys nothing.
        statuses = [
            (await attempt(client, "wrong", f"2001:db8:1:2::{index:x}")).status_code
            for index in range(1, 8)
        ]
        assert statuses == [401] * 5 + [429] * 2
        assert (await attempt(client, PASSWORD, "2001:db8:1:2:ffff::1")).status_code == 429
        # Another /64 is another client.
        assert (await attempt(client, PASSWORD, "2001:db8:1:3::1")).status_code == 200
        # An IPv4 address written IPv4-mapped is that IPv4 client.
        for _ in range(5):
            assert (await attempt(client, "wrong", "198.51.100.7")).status_code == 401
        assert (await attempt(client, PASSWORD, "::ffff:198.51.100.7")).status_code == 429


@pytest.fixture
def registration(make_settings: MakeSettings) -> Settings:
    return make_settings(registration="open", trusted_proxies="127.0.0.1")


async def register(client: httpx.AsyncClient, username: str, address: str) -> httpx.Response:
    body = {"username": username, "password": "a sturdy passphrase for a new account"}
    return await client.post("/register", json=body, headers={"X-Forwarded-For": address})


async def test_registration_attempts_are_throttled_per_address_taken_or_not(
    client_factory: ClientFactory, registration: Settings, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user()
    async with client_factory(registration) as client:
        statuses = []
        for index in range(20):
            # Probing existing names and creating new ones draw on the same allowance.
            username = "alice" if index % 2 else f"newcomer{index}"
            statuses.append((await register(client, username, "203.0.113.9")).status_code)
        assert statuses == [201, 409] * 10
        refused = await register(client, "alice", "203.0.113.9")
        assert refused.status_code == 429
        assert refused.json()["error"] == "too_many_attempts"
        assert int(refused.headers["Retry-After"]) > 0
        assert (await register(client, "another", "203.0.113.9")).status_code == 429
        # Another address is not affected; the first one may try again after the window.
        assert (await register(client, "alice", "198.51.100.1")).status_code == 409
        clock.advance(2 * 3600)
        assert (await register(client, "alice", "203.0.113.9")).status_code == 409


async def test_a_throttled_client_is_audited_now_and_then_not_per_attempt(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user()
    async with client_factory(settings) as client:
        for _ in range(5):
            assert (await attempt(client, "wrong")).status_code == 401
        for _ in range(120):
            assert (await attempt(client, "wrong")).status_code == 429
    rows = db_query("SELECT detail FROM audit_events WHERE event = 'login_throttled' ORDER BY id")
    # The 1st, 10th and 100th refusal of the hour, each with its count: three rows, not 120.
    counts = [
        (row.detail if isinstance(row.detail, dict) else json.loads(row.detail))[
            "refused_this_hour"
        ]
        for row in rows
    ]
    assert counts == [1, 10, 100]


async def test_each_throttled_route_has_a_429_series_from_the_start(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(settings) as client:
        page = (await client.get("/metrics")).text
        for route in ("/login", "/password", "/register"):
            assert f'authsvc_throttled_requests_total{{route="{route}"}} 0.0' in page
        token = await access_token(client)
        for _ in range(6):
            await change_password(client, token, "wrong")
        page = (await client.get("/metrics")).text
        assert 'authsvc_throttled_requests_total{route="/password"} 1.0' in page


async def test_registration_counters_are_shared_through_redis(
    client_factory: ClientFactory, make_settings: MakeSettings, redis_url: str
) -> None:
    settings = make_settings(
        registration="open", redis_url=redis_url, register_limit_client="3/hour"
    )
    async with client_factory(settings) as first, client_factory(settings) as second:
        for client, name in ((first, "one"), (second, "two"), (first, "three")):
            assert (await register(client, name, "127.0.0.1")).status_code == 201
        assert (await register(second, "four", "127.0.0.1")).status_code == 429


async def test_the_address_change_takes_the_password_and_shares_its_guessing_budget(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user()
    async with client_factory(settings) as client:
        token = await access_token(client)
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(3):
            assert (await change_password(client, token, "wrong")).status_code == 401
        for guess in range(2):
            body = {"current_password": f"guess-{guess}", "email": "alice@example.com"}
            wrong = await client.patch("/account", json=body, headers=headers)
            assert wrong.status_code == 401
            assert wrong.json()["error"] == "invalid_credentials"
        body = {"current_password": PASSWORD, "email": "alice@example.com"}
        refused = await client.patch("/account", json=body, headers=headers)
        assert refused.status_code == 429
        assert refused.json()["error"] == "too_many_attempts"
    assert [row.email for row in db_query("SELECT email FROM users")] == [None]
