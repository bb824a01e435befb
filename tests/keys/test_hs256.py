"""HS256 mode: a list of shared secrets, the first signs, all verify; nothing is published."""

from __future__ import annotations

import jwt
import pytest
from pydantic import ValidationError

from authsvc.config import Settings
from tests.helpers.cli import assert_refused, cli
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.login import access_token
from tests.helpers.sessions import session_status

FIRST = "first-shared-secret-for-hs256-mode-0123456789"
SECOND = "second-shared-secret-for-hs256-mode-012345678"


def hs256_settings(make_settings: MakeSettings, secrets: str) -> Settings:
    # No key-encryption secret: nothing is stored in this mode.
    return make_settings(expose_token_in_body=True, jwt_secrets=secrets, key_encryption_secret=None)


async def test_the_first_secret_signs_all_verify_and_a_removed_one_stops_verifying(
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user()
    async with client_factory(hs256_settings(make_settings, FIRST)) as client:
        old_token = await access_token(client)
        header = jwt.get_unverified_header(old_token)
        assert header["alg"] == "HS256"
        assert FIRST not in header["kid"]
        jwt.decode(old_token, FIRST, algorithms=["HS256"], audience="authsvc")
        assert await session_status(client, old_token) == (200, None)
        jwks = await client.get("/.well-known/jwks.json")
        assert jwks.json() == {"keys": []}
        assert (await client.get("/readyz")).json()["signing_key"] is True
    assert db_query("SELECT kid FROM signing_keys") == []

    # Rotation: a new secret goes first; tokens of the old one still verify.
    async with client_factory(hs256_settings(make_settings, f"{SECOND},{FIRST}")) as client:
        new_token = await access_token(client)
        jwt.decode(new_token, SECOND, algorithms=["HS256"], audience="authsvc")
        assert await session_status(client, old_token) == (200, None)
        assert await session_status(client, new_token) == (200, None)

    # Removing a secret invalidates every token it signed.
    async with client_factory(hs256_settings(make_settings, SECOND)) as client:
        assert await session_status(client, old_token) == (401, "invalid_token")
        assert await session_status(client, new_token) == (200, None)


def test_short_or_repeated_secrets_are_refused_at_start_up(
    make_settings: MakeSettings,
) -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        make_settings(jwt_secrets="too-short")
    with pytest.raises(ValidationError, match="differ"):
        make_settings(jwt_secrets=f"{FIRST},{FIRST}")


def test_key_commands_explain_hs256_mode(database_url: str) -> None:
    result = cli(database_url, "keys", "rotate", AUTHSVC_JWT_SECRETS=FIRST)
    assert_refused(result, "HS256 mode")
    assert FIRST not in result.output
