"""Linking an external identity to a signed-in account, unlinking it, and the second factor."""

from __future__ import annotations

import httpx
import jwt

from authsvc.config import Settings
from tests.helpers.clock import FakeClock
from tests.helpers.cookies import ACCESS
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.login import log_in
from tests.helpers.mfa import code, enrol_totp
from tests.helpers.oidc import MockProvider, local_path
from tests.helpers.pages import submit
from tests.helpers.passkeys import SoftAuthenticator, register


def _settings(make_settings: MakeSettings, provider: MockProvider) -> Settings:
    return make_settings(registration="open", oauth_providers=[provider.provider_setting()])


async def _round_trip(
    client: httpx.AsyncClient, provider: MockProvider, sub: str, **params: str
) -> httpx.Response:
    started = await client.get("/oauth/mock/authorize", params=params)
    assert started.status_code == 303, started.text
    return await client.get(local_path(provider.consent(started.headers["location"], sub)))


async def _link_alice(client: httpx.AsyncClient, provider: MockProvider, sub: str) -> str:
    """alice signs in with her password and links `sub`; the identity's id."""
    await log_in(client)
    linked = await _round_trip(client, provider, sub, link="true")
    assert linked.status_code == 303, linked.text
    listed = (await client.get("/account/identities")).json()
    assert [i["provider"] for i in listed["identities"]] == ["mock"]
    identity_id: str = listed["identities"][0]["id"]
    return identity_id


async def test_a_signed_in_user_links_a_provider_and_then_signs_in_with_it(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    oidc_provider: MockProvider,
) -> None:
    alice = make_user("alice", email="alice@example.com", email_verified=True)
    oidc_provider.set_user("link-alice", email="alice@example.com", email_verified=True)
    settings = _settings(make_settings, oidc_provider)
    async with client_factory(settings) as client:
        await _link_alice(client, oidc_provider, "link-alice")
    async with client_factory(settings) as other:
        response = await _round_trip(other, oidc_provider, "link-alice")
        assert response.status_code == 303, response.text
        assert (await other.get("/session")).json()["user"]["id"] == alice


async def test_linking_needs_a_session(
    client_factory: ClientFactory, make_settings: MakeSettings, oidc_provider: MockProvider
) -> None:
    async with client_factory(_settings(make_settings, oidc_provider)) as client:
        response = await client.get("/oauth/mock/authorize", params={"link": "true"})
        assert response.status_code == 401
        assert response.json()["error"] == "not_authenticated"


async def test_unlinking_ends_the_identity_and_other_sessions(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    oidc_provider: MockProvider,
    db_query: DbQuery,
) -> None:
    make_user("alice", email="alice@example.com", email_verified=True)
    oidc_provider.set_user("unlink-alice", email="alice@example.com", email_verified=True)
    settings = _settings(make_settings, oidc_provider)
    async with client_factory(settings) as client, client_factory(settings) as other:
        identity = await _link_alice(client, oidc_provider, "unlink-alice")
        assert (await _round_trip(other, oidc_provider, "unlink-alice")).status_code == 303

        response = await client.delete(f"/account/identities/{identity}")

        assert response.status_code == 204, response.text
        assert (await client.get("/session")).status_code == 200
        assert (await other.get("/session")).json()["error"] == "token_revoked"
        again = await _round_trip(other, oidc_provider, "unlink-alice")
        assert again.json()["error"] == "link_required"
    events = db_query("SELECT event FROM audit_events WHERE event LIKE 'identity_%' ORDER BY id")
    assert [row[0] for row in events] == ["identity_linked", "identity_unlinked"]


async def test_the_last_way_to_sign_in_cannot_be_unlinked(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    oidc_provider: MockProvider,
    db_query: DbQuery,
) -> None:
    oidc_provider.set_user("only-way", email="only@example.com", email_verified=True)
    async with client_factory(_settings(make_settings, oidc_provider)) as client:
        assert (await _round_trip(client, oidc_provider, "only-way")).status_code == 303
        listed = (await client.get("/account/identities")).json()
        assert listed["has_password"] is False

        response = await client.delete(f"/account/identities/{listed['identities'][0]['id']}")

        assert response.status_code == 409
        assert response.json()["error"] == "last_sign_in_method"
    assert db_query("SELECT count(*) FROM identities")[0][0] == 1


async def test_an_account_with_a_second_factor_still_asks_for_it(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    oidc_provider: MockProvider,
    clock: FakeClock,
) -> None:
    make_user("alice", email="alice@example.com", email_verified=True)
    oidc_provider.set_user("mfa-alice", email="alice@example.com", email_verified=True)
    settings = _settings(make_settings, oidc_provider)
    async with client_factory(settings) as client:
        await _link_alice(client, oidc_provider, "mfa-alice")
        enrolled = await enrol_totp(client, clock)
    async with client_factory(settings) as other:
        response = await _round_trip(other, oidc_provider, "mfa-alice")
        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/ui/login/mfa"
        assert "authsvc_mfa" in response.cookies
        assert ACCESS not in other.cookies

        await other.get("/session")
        clock.advance(30)
        done = await other.post("/login/mfa", json={"code": code(enrolled.secret, clock)})
        assert done.status_code == 200, done.text
        claims = jwt.decode(done.cookies[ACCESS], options={"verify_signature": False})
        # The first step was the provider's sign-in, not a password.
        assert (claims["amr"], claims["aal"]) == (["fed", "otp", "mfa"], 2)


async def test_a_passkey_is_a_way_in_and_the_last_one_stays(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    oidc_provider: MockProvider,
    db_query: DbQuery,
) -> None:
    oidc_provider.set_user("passkey-only", email="pk@example.com", email_verified=True)
    key = SoftAuthenticator()
    async with client_factory(_settings(make_settings, oidc_provider)) as client:
        assert (await _round_trip(client, oidc_provider, "passkey-only")).status_code == 303
        factor_id = (await register(client, key)).json()["factor"]["id"]
        identity = (await client.get("/account/identities")).json()["identities"][0]["id"]

        # The passkey signs in on its own (at level 2, so step-up holds for the changes).
        await client.post("/logout")
        options = (await client.post("/login/passkey/options")).json()["publicKey"]
        signed_in = await client.post("/login/passkey", json={"credential": key.get(options)})
        # The provider is no longer the only way in; the passkey, then, is.
        unlinked = await client.delete(f"/account/identities/{identity}")
        last = await client.delete(f"/account/mfa/factors/{factor_id}")
        page = await client.get("/ui/account")
        from_page = await submit(client, page, f"/ui/account/mfa/factors/{factor_id}/remove", {})

    assert unlinked.status_code == 204, unlinked.text
    assert signed_in.status_code == 200, signed_in.text
    assert (last.status_code, last.json()["error"]) == (409, "last_sign_in_method")
    assert from_page.status_code == 303, from_page.text
    assert from_page.headers["location"] == "/ui/account?notice=provider-last-way"
    assert db_query("SELECT count(*) FROM mfa_factors")[0][0] == 1
