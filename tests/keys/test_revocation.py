"""Emergency revoke and retirement: tokens of a withdrawn key are refused with a specific code."""

from __future__ import annotations

from authsvc.config import Settings
from tests.helpers.cli import cli_json
from tests.helpers.clock import FakeClock
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.keys import jwks_kids, kid_of
from tests.helpers.login import access_token
from tests.helpers.sessions import session_status

REFRESH = 10


def key_settings(make_settings: MakeSettings, **overrides: object) -> Settings:
    return make_settings(expose_token_in_body=True, key_refresh_seconds=REFRESH, **overrides)


async def test_revoking_the_active_key_refuses_its_tokens_and_a_successor_signs(
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
    database_url: str,
    db_query: DbQuery,
    clock: FakeClock,
) -> None:
    make_user()
    settings = key_settings(make_settings)
    async with client_factory(settings) as first, client_factory(settings) as second:
        token = await access_token(first)
        compromised = kid_of(token)
        assert await session_status(second, token) == (200, None)

        result = cli_json(database_url, "keys", "revoke", "--", compromised)
        assert result["revoked"] == compromised
        successor = result["successor"]
        assert successor not in (None, compromised)

        # Both instances learn it within one refresh interval, without a restart.
        clock.advance(REFRESH)
        for instance in (first, second):
            assert await session_status(instance, token) == (401, "key_revoked")
            assert await jwks_kids(instance) == [successor]
            assert (await instance.get("/readyz")).status_code == 200
            fresh = await access_token(instance)
            assert kid_of(fresh) == successor
            assert await session_status(instance, fresh) == (200, None)
    rows = dict(db_query("SELECT kid, state FROM signing_keys"))
    assert rows == {compromised: "revoked", successor: "active"}
    (blob,) = db_query(
        "SELECT private_key_encrypted FROM signing_keys WHERE kid = :k", k=compromised
    )
    assert bytes(blob[0]) == b"", "a revoked key's private part is destroyed"


async def test_revoking_the_active_key_promotes_the_pending_one(
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
    database_url: str,
    clock: FakeClock,
) -> None:
    make_user()
    async with client_factory(key_settings(make_settings)) as client:
        old = kid_of(await access_token(client))
        pending = cli_json(database_url, "keys", "rotate")["kid"]
        result = cli_json(database_url, "keys", "revoke", "--", old)
        assert result["successor"] == pending
        clock.advance(REFRESH)
        assert kid_of(await access_token(client)) == pending


async def test_revoking_a_pending_key_cancels_the_rotation(
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
    database_url: str,
    clock: FakeClock,
) -> None:
    make_user()
    settings = key_settings(make_settings)
    async with client_factory(settings) as client:
        old = kid_of(await access_token(client))
        pending = cli_json(database_url, "keys", "rotate")["kid"]
        clock.advance(REFRESH)
        assert set(await jwks_kids(client)) == {old, pending}
        assert cli_json(database_url, "keys", "revoke", "--", pending)["successor"] is None
        clock.advance(settings.key_publish_ahead + REFRESH)
        assert await jwks_kids(client) == [old]
        assert kid_of(await access_token(client)) == old


async def test_a_retired_keys_token_is_refused_as_key_retired(
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
    database_url: str,
    db_query: DbQuery,
    clock: FakeClock,
) -> None:
    make_user()
    settings = key_settings(make_settings, access_token_ttl_seconds=60)
    async with client_factory(settings) as client:
        old_token = await access_token(client)
        old = kid_of(old_token)
        # The CLI computes retire-after from the same configuration as the service.
        new = cli_json(
            database_url, "keys", "rotate", "--now", AUTHSVC_ACCESS_TOKEN_TTL_SECONDS="60"
        )["kid"]
        clock.advance(REFRESH)
        # Retiring: still verifies what it signed, signs nothing new.
        assert await session_status(client, old_token) == (200, None)
        assert kid_of(await access_token(client)) == new
        assert set(await jwks_kids(client)) == {old, new}
        (retire_after,) = db_query("SELECT retire_after FROM signing_keys WHERE kid = :k", k=old)
        assert retire_after[0] is not None

        # ttl + leeway + refresh + margin later, the key leaves the ring and the JWKS.
        clock.advance(60 + 30 + REFRESH + 60 + 5)
        assert await session_status(client, old_token) == (401, "key_retired")
        assert await jwks_kids(client) == [new]
    assert dict(db_query("SELECT kid, state FROM signing_keys")) == {old: "retired", new: "active"}


async def test_an_instance_that_cannot_decrypt_the_active_key_is_not_ready(
    make_settings: MakeSettings,
    client_factory: ClientFactory,
    make_user: MakeUser,
    database_url: str,
    clock: FakeClock,
) -> None:
    make_user()
    async with client_factory(key_settings(make_settings)) as client:
        token = await access_token(client)
        # An operator rotates with another secret than the running fleet's.
        cli_json(database_url, "keys", "rotate", "--now", secret="another-secret-" + "x" * 32)
        clock.advance(REFRESH)
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["signing_key"] is False
        refused = await client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert refused.status_code == 503
        assert refused.json()["error"] == "service_unavailable"
        assert await session_status(client, token) == (200, None), "verification goes on"
