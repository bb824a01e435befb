"""Token-version push over Redis pub/sub: published after commit, cache fails closed on loss."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from authsvc.config import Settings
from authsvc.revocation.publish import RedisVersionPublisher
from authsvc.services.users import bump_token_version
from authsvc.storage.engine import make_engine, make_session_factory
from authsvc.verify import DatabaseSource, PushCachedSource, RedisPushListener
from tests.helpers.asgi import SyncClient
from tests.helpers.cli import run_cli
from tests.helpers.clock import FakeClock
from tests.helpers.fixture_types import MakeSettings, MakeUser
from tests.helpers.login import bearer_token_sync
from tests.helpers.push import Recorder, kill_redis_client, recording, unique_name
from tests.helpers.sessions import PUSH_BOUND_SECONDS, logout_everywhere
from tests.helpers.verifiers import refuses_as_revoked, verifier_for_app
from tests.helpers.waiting import wait_until


@pytest.fixture
def settings(make_settings: MakeSettings, redis_url: str) -> Settings:
    return make_settings(redis_url=redis_url)


@pytest.fixture
def recorder(redis_url: str) -> Iterator[Recorder]:
    name = unique_name("test-listener")
    with recording(RedisPushListener(redis_url, client_name=name)) as recorder:
        yield recorder


def test_logout_everywhere_is_published(
    authsvc: SyncClient, recorder: Recorder, make_user: MakeUser
) -> None:
    user_id = make_user()
    logout_everywhere(authsvc, bearer_token_sync(authsvc))
    assert wait_until(lambda: (user_id, 1) in recorder.versions())


def test_only_committed_bumps_are_published(
    database_url: str, redis_url: str, recorder: Recorder, make_user: MakeUser
) -> None:
    # Two users, so that a rolled-back bump's announcement could not pass for the committed one.
    rolled_back, committed = make_user("bob"), make_user("alice")
    engine = make_engine(database_url)
    factory = make_session_factory(engine)
    publisher = RedisVersionPublisher(redis_url)
    publisher.attach(factory)
    try:
        with factory() as db:
            bump_token_version(db, rolled_back)
            db.rollback()
            bump_token_version(db, committed)
            db.commit()
    finally:
        publisher.close()
        engine.dispose()
    # Messages arrive in order: once the committed one is here, an earlier one would be too.
    assert wait_until(lambda: (committed, 1) in recorder.versions())
    assert [v for v in recorder.versions() if v[0] in (rolled_back, committed)] == [(committed, 1)]
    assert publisher.published == 1


def test_the_redis_cache_learns_bumps_by_push_and_fails_closed_on_loss(
    authsvc: SyncClient,
    database_url: str,
    redis_url: str,
    clock: FakeClock,
    make_user: MakeUser,
) -> None:
    make_user()
    name = unique_name("test-cache")
    source = DatabaseSource(database_url)
    cache = PushCachedSource(source, RedisPushListener(redis_url, client_name=name))
    try:
        assert cache.up.wait(10)
        verifier = verifier_for_app(authsvc, versions=cache, clock=clock)
        token = bearer_token_sync(authsvc)
        verifier.verify(token)
        verifier.verify(token)
        assert source.reads == 1
        assert kill_redis_client(redis_url, name) >= 1
        assert wait_until(lambda: cache.losses == 1)
        assert wait_until(lambda: cache.trusted)
        verifier.verify(token)
        assert source.reads == 2
        logout_everywhere(authsvc, token)

        refused = refuses_as_revoked(verifier, token)
        assert wait_until(refused, timeout=PUSH_BOUND_SECONDS)
        # The announcement only sent the cache back to the row; what it read is remembered.
        reads = source.reads
        assert reads > 2
        assert refused()
        assert source.reads == reads
    finally:
        cache.close()


def test_a_revocation_from_the_cli_is_published_too(
    database_url: str, redis_url: str, recorder: Recorder, make_user: MakeUser
) -> None:
    user_id = make_user()
    env = {"AUTHSVC_DATABASE_URL": database_url, "AUTHSVC_REDIS_URL": redis_url}
    result = run_cli("users", "revoke", "alice", env=env)
    assert result.returncode == 0, result.stderr
    assert wait_until(lambda: (user_id, 1) in recorder.versions())
