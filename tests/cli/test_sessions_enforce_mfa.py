"""`authsvc sessions enforce-mfa`: the sessions the MFA policy would no longer renew end at once,
their access tokens refused on their next request, instead of at their next refresh."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.helpers.cli import assert_refused, cli, cli_json
from tests.helpers.clock import FakeClock
from tests.helpers.cookies import access_token_of
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.login import bearer_token, log_in
from tests.helpers.mfa import enrol_totp, sign_in_with_code
from tests.helpers.push import CHANNEL_CASES, HandAnnouncer, channel_case, channel_trusted
from tests.helpers.sessions import PUSH_BOUND_SECONDS, session_status
from tests.helpers.waiting import eventually

ADMINS_MUST = {"AUTHSVC_MFA": "required_for_roles", "AUTHSVC_MFA_REQUIRED_ROLES": "admin"}


# Every case on a database with a token-version channel, so a server can answer from memory.
@pytest.fixture(params=CHANNEL_CASES)
def announcer(request: pytest.FixtureRequest, tmp_path: Path) -> HandAnnouncer:
    return channel_case(request, tmp_path)


@pytest.fixture
def database_url(announcer: HandAnnouncer) -> str:
    return announcer.database_url


async def signed_in(client: httpx.AsyncClient, clock: FakeClock) -> dict[str, str]:
    """Access tokens of alice and carol (a password alone) and of bob (a password and a code):
    alice and bob are admins."""
    tokens = {name: await bearer_token(client, name) for name in ("alice", "carol")}
    await log_in(client, "bob")
    secret = (await enrol_totp(client, clock)).secret
    await client.post("/logout")
    tokens["bob"] = access_token_of(await sign_in_with_code(client, secret, clock, username="bob"))
    client.cookies.clear()
    return tokens


def ended_reasons(db_query: DbQuery, username: str) -> list[str | None]:
    rows = db_query(
        "SELECT s.end_reason FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE u.username = :name ORDER BY s.created_at",
        name=username,
    )
    return [row.end_reason for row in rows]


async def test_the_sessions_the_policy_would_not_renew_end_at_once(
    announcer: HandAnnouncer,
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    clock: FakeClock,
    db_query: DbQuery,
) -> None:
    """On a server whose checks answer from memory (a token-version channel up), the ended
    sessions' tokens are refused within the push delay: the command announces each end."""
    make_user("alice", roles=["admin"]), make_user("bob", roles=["admin"]), make_user("carol")
    settings = make_settings(**announcer.settings())
    env = dict(ADMINS_MUST)
    if announcer.redis_url is not None:
        env["AUTHSVC_REDIS_URL"] = announcer.redis_url
    async with client_factory(settings) as client:
        await channel_trusted(client)
        tokens = await signed_in(client, clock)
        for _ in range(2):  # verified, then answered from memory
            assert await session_status(client, tokens["alice"]) == (200, None)

        ended = cli_json(announcer.database_url, "sessions", "enforce-mfa", **env)

        assert ended == {"policy": "required_for_roles", "users": 1, "sessions": 1, "ended": True}

        async def alice_refused() -> bool:
            return await session_status(client, tokens["alice"]) == (401, "session_ended")

        assert await eventually(alice_refused, timeout=PUSH_BOUND_SECONDS)
        assert await session_status(client, tokens["bob"]) == (200, None)
        assert await session_status(client, tokens["carol"]) == (200, None)
    assert ended_reasons(db_query, "alice") == ["second_factor_required"]
    audit = db_query(
        "SELECT a.detail FROM audit_events a JOIN users u ON u.id = a.user_id "
        "WHERE a.event = 'sessions_ended_by_mfa_policy' AND u.username = 'alice'"
    )
    assert len(audit) == 1
    # Run again, nothing is left to end.
    again = cli_json(announcer.database_url, "sessions", "enforce-mfa", **env)
    assert again["sessions"] == 0


async def test_everyone_without_a_factor_when_every_user_must_have_one(
    database_url: str,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    clock: FakeClock,
    db_query: DbQuery,
) -> None:
    make_user("alice", roles=["admin"]), make_user("bob", roles=["admin"]), make_user("carol")
    tokens = await signed_in(client, clock)

    ended = cli_json(database_url, "sessions", "enforce-mfa", AUTHSVC_MFA="required")

    assert ended == {"policy": "required", "users": 2, "sessions": 2, "ended": True}
    assert ended_reasons(db_query, "carol") == ["second_factor_required"]
    assert await session_status(client, tokens["bob"]) == (200, None)


async def test_a_dry_run_counts_and_ends_nothing(
    database_url: str,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    clock: FakeClock,
    db_query: DbQuery,
) -> None:
    make_user("alice", roles=["admin"]), make_user("bob", roles=["admin"]), make_user("carol")
    tokens = await signed_in(client, clock)

    counted = cli_json(database_url, "sessions", "enforce-mfa", "--dry-run", **ADMINS_MUST)

    assert counted == {"policy": "required_for_roles", "users": 1, "sessions": 1, "ended": False}
    assert ended_reasons(db_query, "alice") == [None]
    assert await session_status(client, tokens["alice"]) == (200, None)


def test_an_optional_policy_has_nothing_to_enforce(database_url: str) -> None:
    assert_refused(
        cli(database_url, "sessions", "enforce-mfa", AUTHSVC_MFA="optional"),
        "AUTHSVC_MFA is optional",
    )
