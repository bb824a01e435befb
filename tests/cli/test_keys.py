"""`authsvc keys list|rotate|revoke|reencrypt` and start-up with a wrong secret."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from authsvc.config import Settings
from tests.helpers.cli import assert_refused, assert_refused_run, cli, cli_env, cli_json, run_cli
from tests.helpers.clock import FakeClock
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.keys import kid_of
from tests.helpers.login import access_token
from tests.helpers.sessions import session_status

NEW_SECRET = "a-brand-new-key-encryption-secret-0123456789"


async def test_rotate_publishes_a_pending_key_that_signs_only_after_the_delay(
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
    database_url: str,
    clock: FakeClock,
) -> None:
    make_user()
    settings = make_settings(expose_token_in_body=True)
    async with client_factory(settings) as client:
        old = kid_of(await access_token(client))
        rotated = cli_json(database_url, "keys", "rotate", "--alg", "EdDSA")
        assert rotated["state"] == "pending"
        assert rotated["alg"] == "EdDSA"
        new = rotated["kid"]

        listed = cli_json(database_url, "keys", "list", "--json")
        assert [(key["kid"], key["state"]) for key in listed] == [(old, "active"), (new, "pending")]
        assert listed[0]["activated"] is not None and listed[1]["activate_at"] is not None
        table = cli(database_url, "keys", "list").stdout
        assert "RETIRE-AFTER" in table and new in table and "pending" in table

        # A second rotation while one is under way is refused, clearly.
        assert_refused(cli(database_url, "keys", "rotate"), "already under way")

        clock.advance(settings.key_refresh_seconds)
        jwks = (await client.get("/.well-known/jwks.json")).json()["keys"]
        assert {key["kid"] for key in jwks} == {old, new}
        assert (await client.get("/.well-known/jwks.json")).headers["cache-control"] == (
            "public, max-age=300"
        )
        assert kid_of(await access_token(client)) == old, "a pending key signs nothing"

        # Default publish-ahead: JWKS max-age (300) + refresh (10) + margin (60).
        assert settings.key_publish_ahead == 370
        clock.advance(settings.key_publish_ahead)
        token = await access_token(client)
        assert kid_of(token) == new
        assert await session_status(client, token) == (200, None)
        states = {key["kid"]: key for key in cli_json(database_url, "keys", "list", "--json")}
        assert states[old]["state"] == "retiring"
        assert states[old]["retire_after"] is not None
        assert states[new]["state"] == "active"


def test_revoke_of_an_unknown_kid_fails_cleanly(database_url: str, settings: Settings) -> None:
    from authsvc.runtime import Runtime

    Runtime.start(settings).close()
    result = cli(database_url, "keys", "revoke", "--", "no-such-kid")
    assert_refused(result, "no signing key with kid 'no-such-kid'")


async def test_reencrypt_moves_every_key_to_the_new_secret_and_loses_none(
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
    database_url: str,
) -> None:
    make_user()
    async with client_factory(make_settings(expose_token_in_body=True)) as client:
        token = await access_token(client)
    pending = cli_json(database_url, "keys", "rotate")["kid"]

    refused = cli(database_url, "keys", "reencrypt", "--new-secret-stdin", stdin="short\n")
    assert_refused(refused, "the new secret must be at least 32 characters")
    result = cli(database_url, "keys", "reencrypt", "--new-secret-stdin", stdin=NEW_SECRET + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"reencrypted": 2, "already_new": 0, "factor_secrets": 0}
    assert NEW_SECRET not in result.output

    # The old secret no longer opens the keys; the new one opens all of them.
    stale = run_cli("serve", env=cli_env(database_url))
    assert_refused_run(stale, "AUTHSVC_KEY_ENCRYPTION_SECRET does not decrypt it")
    async with client_factory(
        make_settings(expose_token_in_body=True, key_encryption_secret=NEW_SECRET)
    ) as client:
        assert await session_status(client, token) == (200, None)
        assert kid_of(await access_token(client)) == kid_of(token)
    assert (
        cli_json(database_url, "keys", "revoke", "--", pending, secret=NEW_SECRET)["revoked"]
        == pending
    )


def test_serve_with_a_wrong_secret_says_so_in_one_line(
    database_url: str, settings: Settings
) -> None:
    from authsvc.runtime import Runtime

    Runtime.start(settings).close()
    result = run_cli(
        "serve",
        env={
            "AUTHSVC_DATABASE_URL": database_url,
            "AUTHSVC_KEY_ENCRYPTION_SECRET": "not-the-secret-that-encrypted-the-keys-0123",
        },
    )
    assert_refused_run(result, "AUTHSVC_KEY_ENCRYPTION_SECRET does not decrypt it")


def test_a_publish_ahead_shorter_than_the_jwks_cache_is_refused(
    make_settings: MakeSettings,
) -> None:
    with pytest.raises(ValidationError, match="downstream JWKS caches"):
        make_settings(jwks_max_age_seconds=300, key_publish_ahead_seconds=305)
    assert make_settings(key_publish_ahead_seconds=310).key_publish_ahead == 310
