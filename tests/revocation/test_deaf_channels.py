"""A push channel that is subscribed but delivers nothing is found deaf and not trusted.

LISTEN through a transaction-pooling PgBouncer succeeds and hears nothing; a connection whose
packets stop looks idle. Each listener proves its channel with probes of its own, and one whose
probe has not come back for AUTHSVC_CHANNEL_DEAF_AFTER_SECONDS is dropped within a poll (0.2 s)
more: the cache then fails closed to database reads, and a revoked token is refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from authsvc.config import Settings
from authsvc.revocation.channels.redis import RedisPushListener
from tests.helpers.database import add_user, execute
from tests.helpers.defaults import PASSWORD, TEST_SECRET
from tests.helpers.fixture_types import ClientFactory
from tests.helpers.fleet import require
from tests.helpers.headers import bearer
from tests.helpers.login import bearer_token
from tests.helpers.pgbouncer import PgBouncer
from tests.helpers.push import Recorder, unique_name
from tests.helpers.tcp_proxy import TcpProxy

DEAF_AFTER = 4.0  # the default of AUTHSVC_CHANNEL_DEAF_AFTER_SECONDS
POLL = 0.2  # how often a listener's loop looks
# The documented bound, plus room for a loaded 2-core machine to schedule the listener's thread
# (and, from a start, to connect: libpq's connect_timeout is 5 s).
DEADLINE = DEAF_AFTER + POLL + 8.0


@pytest.fixture
def pgbouncer(postgres_url: str) -> Iterator[PgBouncer]:
    bouncer = require(lambda: PgBouncer(postgres_url).start())
    yield bouncer
    bouncer.stop()


def cache_settings(database_url: str, listen_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=database_url,
        listen_database_url=listen_url,
        key_encryption_secret=TEST_SECRET,
        cookie_secure="false",
        token_version_cache="postgres",
    )


async def wait_for_metric(client: httpx.AsyncClient, line: str, *, within: float) -> float:
    """Seconds until /metrics shows `line`; fails when it does not within `within`."""
    start = time.monotonic()
    while line not in (await client.get("/metrics")).text:
        assert time.monotonic() - start < within, f"/metrics never showed {line!r}"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def revoke_by_hand(database_url: str, username: str = "alice") -> None:
    """Bump the version in SQL: only a cache that reads the database sees it."""
    execute(
        database_url,
        "UPDATE users SET token_version = token_version + 1 WHERE username = :name",
        name=username,
    )


@pytest.mark.postgres
async def test_a_listener_behind_a_transaction_pooler_is_deaf_and_never_trusted(
    postgres_url: str,
    pgbouncer: PgBouncer,
    client_factory: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    add_user(postgres_url, "alice", PASSWORD)
    caplog.set_level(logging.WARNING)
    async with client_factory(cache_settings(postgres_url, pgbouncer.url)) as client:
        await wait_for_metric(
            client, 'authsvc_push_channel_deaf_total{listener="token_version"} 1.0', within=DEADLINE
        )
        await wait_for_metric(
            client, 'authsvc_push_channel_deaf_total{listener="signing_keys"} 1.0', within=DEADLINE
        )
        assert "authsvc_token_version_cache_trusted 0.0" in (await client.get("/metrics")).text
        assert any("is deaf" in record.getMessage() for record in caplog.records)

        token = await bearer_token(client)
        assert (await client.get("/session", headers=bearer(token))).status_code == 200
        revoke_by_hand(postgres_url)
        refused = await client.get("/session", headers=bearer(token))
        assert refused.status_code == 401
        assert refused.json()["error"] == "token_revoked"
        # Still never trusted: the probe cannot come back through the pooler.
        assert "authsvc_token_version_cache_trusted 0.0" in (await client.get("/metrics")).text


@pytest.mark.postgres
async def test_a_listener_whose_packets_stop_is_untrusted_within_the_bound(
    postgres_url: str, client_factory: ClientFactory
) -> None:
    add_user(postgres_url, "alice", PASSWORD)
    with TcpProxy(5432) as proxy:
        listen_url = Settings(_env_file=None, database_url=postgres_url).database_url
        listen_url = listen_url.replace("127.0.0.1:5432", f"127.0.0.1:{proxy.port}")
        async with client_factory(cache_settings(postgres_url, listen_url)) as client:
            await wait_for_metric(
                client, "authsvc_token_version_cache_trusted 1.0", within=DEADLINE
            )
            token = await bearer_token(client)
            assert (await client.get("/session", headers=bearer(token))).status_code == 200

            proxy.freeze()
            elapsed = await wait_for_metric(
                client,
                'authsvc_push_channel_deaf_total{listener="token_version"} 1.0',
                within=DEADLINE,
            )
            assert "authsvc_token_version_cache_trusted 0.0" in (await client.get("/metrics")).text
            revoke_by_hand(postgres_url)
            refused = await client.get("/session", headers=bearer(token))
            assert refused.status_code == 401
            assert refused.json()["error"] == "token_revoked"
    # Reported for the reader of a slow run; the assertion above holds the bound with margin.
    print(f"deaf after {elapsed:.1f} s (bound {DEAF_AFTER + POLL:.1f} s)")  # noqa: T201


def test_a_redis_subscription_whose_packets_stop_is_dropped_within_the_bound(
    redis_url: str,
) -> None:
    host_port = redis_url.split("//", 1)[1].split("/", 1)[0]
    port = int(host_port.rsplit(":", 1)[1])
    with TcpProxy(port) as proxy:
        listener = RedisPushListener(
            redis_url.replace(host_port, f"127.0.0.1:{proxy.port}"),
            client_name=unique_name("deaf"),
        )
        recorder = Recorder()
        listener.start(recorder)
        try:
            assert recorder.up.wait(DEADLINE), "the listener never proved its channel"
            proxy.freeze()
            start = time.monotonic()
            while recorder.up.is_set():
                assert time.monotonic() - start < DEADLINE, "a frozen subscription stayed trusted"
                time.sleep(0.05)
            # Deaf, or lost when a read of its own timed out first: untrusted either way.
            assert recorder.events[-1] == "down"
        finally:
            proxy.thaw()
            listener.stop()
