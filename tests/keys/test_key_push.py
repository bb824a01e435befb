"""Key changes are announced when they commit: every instance reloads its ring at once, without
waiting for its periodic refresh, and falls back to frequent reloads while the channel is lost.

The FakeClock never reaches the refresh interval here, so only the announcement can explain a
change seen.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import redis
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from authsvc.app import create_app
from authsvc.config import Settings
from authsvc.passwords.hashing import Argon2Hasher
from authsvc.revocation.channels.protocol import REDIS_KEY_CHANNEL
from authsvc.runtime import Runtime
from tests.helpers.asgi import state_per_request
from tests.helpers.cli import cli_json
from tests.helpers.clock import FakeClock
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.keys import jwks_kids, kid_of
from tests.helpers.login import access_token
from tests.helpers.sessions import session_status
from tests.helpers.waiting import eventually, wait_until

REFRESH = 300


@asynccontextmanager
async def instance(
    settings: Settings, clock: FakeClock, hasher: Argon2Hasher
) -> AsyncIterator[tuple[httpx.AsyncClient, Runtime]]:
    app: FastAPI = create_app(settings, clock=clock, hasher=hasher)
    async with LifespanManager(state_per_request(app)) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=settings.issuer) as client:
            yield client, app.state.runtime


async def test_a_revoked_key_is_refused_by_every_instance_without_waiting_for_a_refresh(
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
    database_url: str,
) -> None:
    make_user()
    settings = make_settings(key_refresh_seconds=REFRESH)
    async with client_factory(settings) as first, client_factory(settings) as second:
        token = await access_token(first)
        compromised = kid_of(token)
        assert await session_status(second, token) == (200, None)

        successor = cli_json(database_url, "keys", "revoke", "--", compromised)["successor"]

        for client in (first, second):

            async def refuses(client: httpx.AsyncClient = client) -> bool:
                return await session_status(client, token) == (401, "key_revoked")

            assert await eventually(refuses)
            assert await jwks_kids(client) == [successor]
            assert kid_of(await access_token(client)) == successor


async def test_a_rotation_is_published_by_every_instance_at_once(
    make_settings: MakeSettings, client_factory: ClientFactory, database_url: str
) -> None:
    settings = make_settings(key_refresh_seconds=REFRESH)
    async with client_factory(settings) as first, client_factory(settings) as second:
        (old,) = await jwks_kids(first)
        pending = cli_json(database_url, "keys", "rotate")["kid"]
        for client in (first, second):

            async def published(client: httpx.AsyncClient = client) -> bool:
                return set(await jwks_kids(client)) == {old, pending}

            assert await eventually(published)


async def test_while_the_channel_is_lost_the_ring_is_reloaded_before_use(
    make_settings: MakeSettings,
    make_user: MakeUser,
    database_url: str,
    clock: FakeClock,
    fast_hasher: Argon2Hasher,
) -> None:
    make_user()
    settings = make_settings(key_refresh_seconds=REFRESH)
    async with instance(settings, clock, fast_hasher) as (client, runtime):
        token = await access_token(client)
        assert wait_until(lambda: runtime.keys.watched)
        # The channel is lost (the listener stops and reports it), then a key is revoked.
        runtime.keys.close()
        assert runtime.keys.watched is False
        cli_json(database_url, "keys", "revoke", "--", kid_of(token))
        # Fail closed: a ring older than a quarter of a second is reloaded before it is used,
        # although the periodic refresh is minutes away.
        clock.advance(0.3)
        assert await session_status(client, token) == (401, "key_revoked")


async def test_metrics_say_whether_key_changes_are_heard(
    make_settings: MakeSettings, clock: FakeClock, fast_hasher: Argon2Hasher
) -> None:
    async with instance(make_settings(), clock, fast_hasher) as (client, runtime):

        async def channel_up() -> str:
            text = (await client.get("/metrics")).text
            return next(
                line for line in text.splitlines() if line.startswith("authsvc_signing_key_chan")
            )

        assert wait_until(lambda: runtime.keys.watched)
        assert await channel_up() == "authsvc_signing_key_channel_up 1.0"
        runtime.keys.close()
        assert await channel_up() == "authsvc_signing_key_channel_up 0.0"


def test_key_changes_are_published_on_redis_for_other_listeners(
    database_url: str, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub()  # type: ignore[no-untyped-call]
    try:
        pubsub.subscribe(REDIS_KEY_CHANNEL)
        assert wait_until(lambda: pubsub.get_message(timeout=0.1) is not None)
        kid = cli_json(database_url, "keys", "rotate", AUTHSVC_REDIS_URL=redis_url)["kid"]
        heard: list[str] = []

        def announced() -> bool:
            message = pubsub.get_message(timeout=0.1)
            if message is not None and message["type"] == "message":
                heard.append(message["data"].decode())
            # Other runs publish on the same channel (channels span Redis databases).
            return f"{kid} pending" in heard

        assert wait_until(announced, timeout=5)
    finally:
        pubsub.close()
        client.close()
