"""A lost Redis announcement is noticed (a gap in the numbers, in the messages or against the
counter) and the cache is dropped, so the next check re-reads and refuses the revoked token.

Channels are shared by every Redis database: other runs may publish on them at the same time.
Their announcements carry another database's numbers (or none), which the listener leaves alone;
the users here are this test's own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from authsvc.config import Settings
from authsvc.revocation.channels.protocol import REDIS_SEQUENCE_KEY
from authsvc.revocation.publish import RedisVersionPublisher
from authsvc.services.users import bump_token_version
from authsvc.storage.engine import make_engine, make_session_factory
from authsvc.verify import DatabaseSource, PushCachedSource, RedisPushListener, TokenVerifier
from tests.helpers.asgi import SyncClient
from tests.helpers.clock import FakeClock
from tests.helpers.database import execute
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.headers import bearer
from tests.helpers.login import bearer_token, bearer_token_sync
from tests.helpers.push import recording, unique_name
from tests.helpers.sessions import PUSH_BOUND_SECONDS, logout_everywhere, session_status
from tests.helpers.verifiers import refuses_as_revoked, verifier_for_app
from tests.helpers.waiting import eventually, wait_until


@pytest.fixture
def settings(make_settings: MakeSettings, redis_url: str) -> Settings:
    return make_settings(redis_url=redis_url)


def lose_an_announcement(database_url: str, redis_url: str, user_id: str) -> None:
    """Bump the user's token version and let its announcement vanish after taking its number."""
    execute(
        database_url,
        "UPDATE users SET token_version = token_version + 1 WHERE id = :id",
        id=user_id,
    )
    client = redis.Redis.from_url(redis_url)
    try:
        client.incr(REDIS_SEQUENCE_KEY)
    finally:
        client.close()


@pytest.fixture
def cached_verifier(
    authsvc: SyncClient, database_url: str, redis_url: str, clock: FakeClock
) -> Iterator[tuple[TokenVerifier, PushCachedSource]]:
    # The counter is checked only hourly: a gap found here was found in the messages.
    listener = RedisPushListener(
        redis_url, client_name=unique_name("test-gaps"), sequence_check_seconds=3600
    )
    cache = PushCachedSource(DatabaseSource(database_url), listener)
    try:
        assert cache.up.wait(10)
        yield verifier_for_app(authsvc, versions=cache, clock=clock), cache
    finally:
        cache.close()


def test_a_lost_announcement_is_noticed_at_the_next_one(
    authsvc: SyncClient,
    cached_verifier: tuple[TokenVerifier, PushCachedSource],
    make_user: MakeUser,
    database_url: str,
    redis_url: str,
) -> None:
    verifier, cache = cached_verifier
    alice = make_user("alice")
    make_user("bob")
    alice_token = bearer_token_sync(authsvc, "alice")
    bob_token = bearer_token_sync(authsvc, "bob")
    verifier.verify(alice_token)
    verifier.verify(alice_token)
    assert cache.hits == 1  # alice's version is held in memory

    lose_an_announcement(database_url, redis_url, alice)
    logout_everywhere(authsvc, bob_token)  # announced, with the number after the lost one

    assert wait_until(refuses_as_revoked(verifier, bob_token), timeout=PUSH_BOUND_SECONDS)
    # The gap emptied the cache: alice's next check re-reads and is refused too.
    assert refuses_as_revoked(verifier, alice_token)()
    assert cache.losses == 1


def test_the_cache_is_dropped_before_the_announcement_after_a_gap_is_applied(
    authsvc: SyncClient, make_user: MakeUser, database_url: str, redis_url: str
) -> None:
    """Otherwise, for a moment, bob is refused while alice's stale version is still trusted."""
    alice = make_user("alice")
    bob = make_user("bob")
    bob_token = bearer_token_sync(authsvc, "bob")
    listener = RedisPushListener(
        redis_url, client_name=unique_name("test-gaps"), sequence_check_seconds=3600
    )
    with recording(listener) as recorder:
        lose_an_announcement(database_url, redis_url, alice)
        logout_everywhere(authsvc, bob_token)
        assert wait_until(lambda: any(user == bob for user, _ in recorder.versions()))
    # The listener has stopped: the record is complete.
    events = recorder.events
    bobs = [
        index for index, event in enumerate(events) if isinstance(event, tuple) and event[0] == bob
    ]
    assert bobs
    assert "down" in events[: bobs[0]], events


def test_a_publish_that_fails_still_takes_its_number_so_the_cache_is_dropped(
    authsvc: SyncClient,
    make_user: MakeUser,
    database_url: str,
    redis_url: str,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = make_user("alice")
    token = bearer_token_sync(authsvc, "alice")
    listener = RedisPushListener(
        redis_url, client_name=unique_name("test-gaps"), sequence_check_seconds=0.2
    )
    cache = PushCachedSource(DatabaseSource(database_url), listener)
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    publisher = RedisVersionPublisher(redis_url)
    publisher.attach(factory)

    def unreachable(*_args: object, **_kwargs: object) -> None:
        raise redis.ConnectionError("the PUBLISH never reached Redis")

    monkeypatch.setattr(publisher, "_publish_numbered", unreachable)
    try:
        assert cache.up.wait(10)
        verifier = verifier_for_app(authsvc, versions=cache, clock=clock)
        verifier.verify(token)
        verifier.verify(token)
        assert cache.hits == 1
        with factory() as db:
            bump_token_version(db, alice)
            db.commit()
        assert publisher.published == 0
        # No message came: the counter alone shows the loss, within two checks.
        assert wait_until(refuses_as_revoked(verifier, token), timeout=PUSH_BOUND_SECONDS)
        assert cache.losses == 1
    finally:
        publisher.close()
        engine.dispose()
        cache.close()


async def test_the_servers_own_cache_refuses_the_next_request_after_a_lost_announcement(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    database_url: str,
    redis_url: str,
) -> None:
    settings = make_settings(redis_url=redis_url, token_version_cache="redis")
    alice = make_user("alice")
    async with client_factory(settings) as client:
        token = await bearer_token(client, "alice")
        assert await session_status(client, token) == (200, None)
        assert await session_status(client, token) == (200, None)

        lose_an_announcement(database_url, redis_url, alice)

        async def refused() -> bool:
            response = await client.get("/session", headers=bearer(token))
            return (response.status_code, response.json().get("error")) == (401, "token_revoked")

        assert await eventually(refused, timeout=PUSH_BOUND_SECONDS)
