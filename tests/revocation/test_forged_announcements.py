"""An announcement carries no authority: anyone who reaches the channel can send one, so it only
makes a listener read the database again."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.login import bearer_token
from tests.helpers.push import HandAnnouncer
from tests.helpers.sessions import session_status
from tests.helpers.suites import redis_test_url
from tests.helpers.waiting import eventually


@pytest.fixture(params=["postgres", "redis-on-sqlite", "redis-on-postgresql"])
def announcer(request: pytest.FixtureRequest, tmp_path: Path) -> HandAnnouncer:
    """Each channel, on each database it serves."""
    if request.param == "redis-on-sqlite":
        path = tmp_path / "authsvc.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return HandAnnouncer("redis", f"sqlite:///{path}", redis_test_url())
    postgres: str = request.getfixturevalue("postgres_url")
    if request.param == "postgres":
        return HandAnnouncer("postgres", postgres)
    return HandAnnouncer("redis", postgres, redis_test_url())


@pytest.fixture
def database_url(announcer: HandAnnouncer) -> str:
    return announcer.database_url


async def trusted(client: httpx.AsyncClient) -> None:
    """Wait until the cache's channel is up: only then does memory answer."""
    deadline = time.monotonic() + 10
    while "authsvc_token_version_cache_trusted 1.0" not in (await client.get("/metrics")).text:
        assert time.monotonic() < deadline, "the token-version channel never came up"
        await asyncio.sleep(0.02)


async def test_a_forged_version_refuses_no_valid_token(
    announcer: HandAnnouncer,
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    async with client_factory(make_settings(**announcer.settings())) as client:
        await trusted(client)
        alice_token, bob_token = (
            await bearer_token(client, "alice"),
            await bearer_token(client, "bob"),
        )
        assert await session_status(client, alice_token) == (200, None)
        assert await session_status(client, bob_token) == (200, None)  # both now in memory

        announcer.announce(f"{alice} 999999999")
        # Then a real revocation of bob, announced as another instance would: the channel keeps
        # order, so once bob is refused here the forged announcement has been heard too.
        announcer.bump(bob)

        async def bob_refused() -> bool:
            return await session_status(client, bob_token) == (401, "token_revoked")

        assert await eventually(bob_refused, timeout=10)
        for _ in range(3):
            assert await session_status(client, alice_token) == (200, None)
