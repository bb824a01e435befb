"""`authsvc users revoke --all`: every user's tokens and sessions end, announced; the step to
take after restoring a backup."""

from __future__ import annotations

import httpx

from tests.helpers.cli import assert_refused, cli, cli_json
from tests.helpers.fixture_types import DbQuery, MakeUser
from tests.helpers.login import bearer_token, post_login
from tests.helpers.sessions import session_status
from tests.helpers.waiting import eventually


async def refused(client: httpx.AsyncClient, *tokens: str) -> bool:
    return all([await session_status(client, token) == (401, "token_revoked") for token in tokens])


async def test_revoke_all_ends_every_users_tokens_and_sessions(
    database_url: str, client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user("alice"), make_user("bob")
    alice, bob = await bearer_token(client, "alice"), await bearer_token(client, "bob")
    assert await session_status(client, alice) == (200, None)
    assert await session_status(client, bob) == (200, None)

    assert cli_json(database_url, "users", "revoke", "--all") == {"users": 2, "revoked": True}

    # Announced like every revocation: within the push delay on PostgreSQL, at once on SQLite.
    assert await eventually(lambda: refused(client, alice, bob), timeout=10)
    assert db_query("SELECT count(*) FROM sessions WHERE ended_at IS NULL") == [(0,)]
    assert db_query("SELECT count(*) FROM audit_events WHERE event = 'users_revoked'") == [(1,)]
    assert (await post_login(client, "alice")).status_code == 200


def test_revoke_all_names_nobody_else(database_url: str) -> None:
    assert_refused(
        cli(database_url, "users", "revoke", "alice", "--all"),
        "give a username, --id ID or --all, exactly one of them",
    )
