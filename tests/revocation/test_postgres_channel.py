"""Token-version push over PostgreSQL LISTEN/NOTIFY, and the cache that trusts it while live."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from authsvc.errors import TokenRevoked
from authsvc.services.users import bump_token_version
from authsvc.storage.engine import make_engine, make_session_factory
from authsvc.verify import DatabaseSource, PostgresPushListener, PushCachedSource
from tests.helpers.asgi import SyncClient
from tests.helpers.clock import FakeClock
from tests.helpers.fixture_types import MakeUser
from tests.helpers.login import bearer_token_sync
from tests.helpers.processes import free_port
from tests.helpers.push import Recorder, kill_postgres_listener, recording, unique_name
from tests.helpers.sessions import PUSH_BOUND_SECONDS, logout_everywhere
from tests.helpers.verifiers import refuses_as_revoked, verifier_for_app
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL only: NOTIFY is a PostgreSQL feature."""
    return postgres_url


@pytest.fixture
def recorder(database_url: str) -> Iterator[Recorder]:
    name = unique_name("test-listener")
    with recording(PostgresPushListener(database_url, application_name=name)) as recorder:
        yield recorder


def test_a_bump_is_announced_when_it_commits_and_never_when_it_rolls_back(
    database_url: str, recorder: Recorder, make_user: MakeUser
) -> None:
    # Two users, so that a rolled-back bump's announcement could not pass for the committed one.
    rolled_back, committed = make_user("bob"), make_user("alice")
    engine = make_engine(database_url)
    with make_session_factory(engine)() as db:
        bump_token_version(db, rolled_back)
        db.rollback()
        bump_token_version(db, committed)
        assert recorder.versions() == []  # nothing until the commit
        db.commit()
    engine.dispose()
    # Announcements arrive in order: once the committed one is here, an earlier one would be too.
    assert wait_until(lambda: (committed, 1) in recorder.versions())
    assert recorder.versions() == [(committed, 1)]


def test_logout_everywhere_is_announced(
    authsvc: SyncClient, recorder: Recorder, make_user: MakeUser
) -> None:
    user_id = make_user()
    logout_everywhere(authsvc, bearer_token_sync(authsvc))
    assert wait_until(lambda: (user_id, 1) in recorder.versions())


def test_the_push_cache_answers_from_memory_and_learns_bumps_by_push(
    authsvc: SyncClient, database_url: str, clock: FakeClock, make_user: MakeUser
) -> None:
    make_user()
    source = DatabaseSource(database_url)
    cache = PushCachedSource(source, PostgresPushListener(database_url))
    try:
        assert cache.up.wait(10)
        verifier = verifier_for_app(authsvc, versions=cache, clock=clock)
        token = bearer_token_sync(authsvc)
        for _ in range(3):
            verifier.verify(token)
        assert source.reads == 1
        logout_everywhere(authsvc, token)

        refused = refuses_as_revoked(verifier, token)
        assert wait_until(refused, timeout=PUSH_BOUND_SECONDS)
        # The push only sent the cache back to the row (an announcement is no authority)...
        reads = source.reads
        assert reads > 1
        # ...and the version read there serves the tokens issued after the bump from memory.
        fresh = bearer_token_sync(authsvc)
        verifier.verify(fresh)
        assert refused()
        assert source.reads == reads
    finally:
        cache.close()


def test_a_lost_channel_empties_the_cache_until_it_is_subscribed_again(
    authsvc: SyncClient, database_url: str, clock: FakeClock, make_user: MakeUser
) -> None:
    make_user()
    name = unique_name("test-cache")
    source = DatabaseSource(database_url)
    cache = PushCachedSource(source, PostgresPushListener(database_url, application_name=name))
    try:
        assert cache.up.wait(10)
        verifier = verifier_for_app(authsvc, versions=cache, clock=clock)
        token = bearer_token_sync(authsvc)
        verifier.verify(token)
        verifier.verify(token)
        assert source.reads == 1
        assert kill_postgres_listener(database_url, name) == 1
        assert wait_until(lambda: cache.losses == 1)
        assert wait_until(lambda: cache.trusted)
        verifier.verify(token)  # what was cached before the loss is not trusted any more
        assert source.reads == 2
        verifier.verify(token)
        assert source.reads == 2
    finally:
        cache.close()


def test_without_a_channel_every_check_reads_the_source(
    authsvc: SyncClient, database_url: str, clock: FakeClock, make_user: MakeUser
) -> None:
    make_user()
    source = DatabaseSource(database_url)
    unreachable = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing"
    cache = PushCachedSource(source, PostgresPushListener(unreachable))
    try:
        verifier = verifier_for_app(authsvc, versions=cache, clock=clock)
        token = bearer_token_sync(authsvc)
        for _ in range(3):
            verifier.verify(token)
        assert not cache.trusted
        assert source.reads == 3
        logout_everywhere(authsvc, token)
        with pytest.raises(TokenRevoked):
            verifier.verify(token)
    finally:
        cache.close()
