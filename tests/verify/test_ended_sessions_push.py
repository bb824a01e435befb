"""The verifier library through a push cache: it loads the recently ended sessions at start and
refuses a session ended afterwards within the push delay, believing its announcement only once
the database shows it."""

from __future__ import annotations

import pytest

from authsvc.config import Settings
from authsvc.errors import SessionEnded
from authsvc.verify import (
    DatabaseSource,
    PostgresPushListener,
    PushCachedSource,
    PushListener,
    RedisPushListener,
)
from tests.helpers.asgi import SyncClient
from tests.helpers.clock import FakeClock
from tests.helpers.fixture_types import MakeSettings, MakeUser
from tests.helpers.sessions import PUSH_BOUND_SECONDS
from tests.helpers.suites import redis_test_url
from tests.helpers.verifiers import verifier_for_app
from tests.helpers.waiting import wait_until
from tests.verify.test_ended_sessions import log_out, refuses_as_ended, session_token


@pytest.fixture(params=["postgres", "redis"])
def listener(request: pytest.FixtureRequest, postgres_url: str) -> PushListener:
    if request.param == "postgres":
        return PostgresPushListener(postgres_url)
    return RedisPushListener(redis_test_url())


@pytest.fixture
def database_url(postgres_url: str, listener: PushListener) -> str:
    """authsvc on PostgreSQL, announcing on the channel the listener hears."""
    return postgres_url


@pytest.fixture
def settings(make_settings: MakeSettings, listener: PushListener) -> Settings:
    if isinstance(listener, RedisPushListener):
        return make_settings(redis_url=redis_test_url())
    return make_settings()


def test_a_push_cache_loads_what_ended_before_it_started_and_hears_what_ends_after(
    authsvc: SyncClient,
    database_url: str,
    listener: PushListener,
    clock: FakeClock,
    make_user: MakeUser,
) -> None:
    make_user()
    ended_before, _ = session_token(authsvc)
    log_out(authsvc, ended_before)
    live, _ = session_token(authsvc)
    source = DatabaseSource(database_url)
    cache = PushCachedSource(source, listener)
    try:
        assert cache.up.wait(10)
        assert cache.ended is not None
        assert cache.ended.loads == 1
        verifier = verifier_for_app(authsvc, versions=cache, clock=clock)
        with pytest.raises(SessionEnded):
            verifier.verify(ended_before)
        verifier.verify(live)
        verifier.verify(live)
        assert source.session_reads == 0  # memory answered, loaded at start

        log_out(authsvc, live)
        assert wait_until(lambda: refuses_as_ended(verifier, live), timeout=PUSH_BOUND_SECONDS)
        # The announcement was believed after one read of its row, never on its word.
        assert source.session_reads == 1
    finally:
        cache.close()
