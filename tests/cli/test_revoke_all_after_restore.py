"""After a restored backup, `authsvc users revoke --all` refuses what was issued since, on every
instance, whatever their caches remember."""

from __future__ import annotations

import pytest

from authsvc.config import Settings
from tests.cli.test_users_revoke_all import refused
from tests.helpers.cli import cli_json
from tests.helpers.database import execute
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.login import bearer_token
from tests.helpers.sessions import session_status
from tests.helpers.waiting import eventually

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url(postgres_url: str) -> str:
    """PostgreSQL with its push cache: the cache that could remember a version the restore undid."""
    return postgres_url


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings(token_version_cache="postgres")


async def test_after_a_restored_backup_revoke_all_refuses_what_was_issued_since(
    postgres_url: str, settings: Settings, client_factory: ClientFactory, make_user: MakeUser
) -> None:
    alice_id = make_user("alice")
    async with client_factory(settings) as client:
        # Since the backup: a revocation, and a token issued after it (version 1), remembered.
        before = await bearer_token(client)
        execute(postgres_url, "UPDATE users SET token_version = 1 WHERE id = :id", id=alice_id)
        since = await bearer_token(client)
        assert await session_status(client, since) == (200, None)
        # The backup is restored: the row is back at version 0, and nothing announced it.
        execute(postgres_url, "UPDATE users SET token_version = 0 WHERE id = :id", id=alice_id)

        assert cli_json(postgres_url, "users", "revoke", "--all")["revoked"] is True

        assert await eventually(lambda: refused(client, before, since), timeout=10)
        fresh = await bearer_token(client)
        assert await session_status(client, fresh) == (200, None)
