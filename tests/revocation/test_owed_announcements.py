"""An announcement owed at exit is not lost quietly: retried for a bounded time, then reported.

A command or a server that committed a token-version bump but could not publish it on Redis
keeps trying for AUTHSVC_REDIS_PUBLISH_RETRY_SECONDS; then the command exits 1 and the server
logs an error, both naming the users whose announcement Redis never received.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import urlsplit

import pytest
import redis

from authsvc.config import Settings
from authsvc.revocation.channels.protocol import REDIS_SEQUENCE_KEY
from tests.helpers.cli import cli
from tests.helpers.defaults import TEST_SECRET
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeUser
from tests.helpers.headers import bearer
from tests.helpers.login import bearer_token
from tests.helpers.processes import free_port
from tests.helpers.tcp_proxy import TcpProxy


def at_port(redis_url: str, port: int) -> str:
    """The same Redis database, reached on another port of 127.0.0.1."""
    parts = urlsplit(redis_url)
    return parts._replace(netloc=f"127.0.0.1:{port}").geturl()


def sequence(redis_url: str) -> int:
    client = redis.Redis.from_url(redis_url)
    try:
        value = client.get(REDIS_SEQUENCE_KEY)
        return int(value) if isinstance(value, bytes) else 0
    finally:
        client.close()


def test_a_command_that_cannot_announce_exits_1_naming_the_user(
    database_url: str, make_user: MakeUser, db_query: DbQuery
) -> None:
    alice = make_user("alice")
    start = time.monotonic()
    result = cli(
        database_url,
        "users",
        "revoke",
        "alice",
        AUTHSVC_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        AUTHSVC_REDIS_PUBLISH_RETRY_SECONDS="1",
    )
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Redis did not receive its announcement" in result.output
    assert f"user {alice} (token version)" in result.output
    assert time.monotonic() - start >= 1.0, "it gave up without retrying"
    # The revocation itself stands.
    assert db_query("SELECT token_version FROM users WHERE id = :id", id=alice) == [(1,)]


def test_a_command_whose_redis_comes_back_in_time_announces_and_exits_0(
    database_url: str, make_user: MakeUser, redis_url: str
) -> None:
    make_user("alice")
    port = free_port()
    before = sequence(redis_url)
    proxies: list[TcpProxy] = []
    # Redis answers a second after the command started, well within its 10 s of retries.
    opener = threading.Timer(
        1.0, lambda: proxies.append(TcpProxy(urlsplit(redis_url).port or 6379, port=port))
    )
    opener.start()
    try:
        result = cli(
            database_url,
            "users",
            "revoke",
            "alice",
            AUTHSVC_REDIS_URL=at_port(redis_url, port),
            AUTHSVC_REDIS_PUBLISH_RETRY_SECONDS="10",
        )
    finally:
        opener.join()
        for proxy in proxies:
            proxy.close()
    assert result.exit_code == 0, result.output
    # The lost announcement was settled as a gap, which every Redis listener acts on.
    assert sequence(redis_url) > before


async def test_a_stopping_server_logs_the_users_it_could_not_announce_on_redis(
    database_url: str,
    make_user: MakeUser,
    redis_url: str,
    client_factory: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    alice = make_user("alice")
    proxy = TcpProxy(urlsplit(redis_url).port or 6379)
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        key_encryption_secret=TEST_SECRET,
        cookie_secure="false",
        redis_url=at_port(redis_url, proxy.port),
        redis_publish_retry_seconds=1,
    )
    caplog.set_level(logging.ERROR)
    try:
        async with client_factory(settings) as client:
            token = await bearer_token(client)
            proxy.close()  # Redis is unreachable from here on
            answer = await client.post("/logout?everywhere=true", headers=bearer(token))
            assert answer.status_code == 200
            caplog.clear()
    finally:
        proxy.close()
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert any(
        "stopping with announcements Redis never received" in message
        and f"user {alice} (token version)" in message
        for message in errors
    ), errors
