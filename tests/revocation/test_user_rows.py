"""The check's own read of the user's row (no cache answers): it survives a lost connection and
fails closed while the database cannot answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from authsvc.config import Settings
from authsvc.revocation.user_rows import APPLICATION_NAME
from tests.helpers.database import add_user, execute
from tests.helpers.defaults import PASSWORD, TEST_SECRET
from tests.helpers.fixture_types import ClientFactory
from tests.helpers.login import access_token


def kill_row_readers(database_url: str) -> int:
    """Terminate the check's own connections to this database; how many there were."""
    killed = execute(
        database_url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = :name",
        name=APPLICATION_NAME,
    )
    return len(killed)


@contextmanager
def refusing_connections(database_url: str) -> Iterator[None]:
    """The test database takes no new connection until the block ends (others are untouched)."""
    url = make_url(database_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS false'))
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS true'))
        admin.dispose()


@pytest.mark.postgres
async def test_the_uncached_check_reconnects_and_fails_closed_while_the_database_refuses(
    postgres_url: str,
    client_factory: ClientFactory,
) -> None:
    add_user(postgres_url, "alice", PASSWORD)
    settings = Settings(
        _env_file=None,
        database_url=postgres_url,
        key_encryption_secret=TEST_SECRET,
        cookie_secure="false",
        token_version_cache="off",
    )
    async with client_factory(settings) as client:
        await access_token(client)
        assert (await client.get("/session")).status_code == 200
        assert kill_row_readers(postgres_url) >= 1

        # A connection the server closed is replaced within the same request.
        again = await client.get("/session")
        assert again.status_code == 200, again.text
        assert again.json()["user"]["username"] == "alice"

        assert kill_row_readers(postgres_url) >= 1
        with refusing_connections(postgres_url):
            refused = await client.get("/session")
            assert refused.status_code == 503
            assert refused.json()["error"] == "service_unavailable"
            assert refused.headers["retry-after"] == "1"

        # Back without a restart.
        assert (await client.get("/session")).status_code == 200
