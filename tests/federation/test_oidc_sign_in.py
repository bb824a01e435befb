"""Signing in at a real OpenID Connect provider on loopback, driven headlessly over HTTP."""

from __future__ import annotations

import httpx
import jwt

from authsvc.config import Settings
from tests.helpers.cookies import ACCESS
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.oidc import MockProvider, local_path, query_of


def _settings(make_settings: MakeSettings, provider: MockProvider, **extra: object) -> Settings:
    return make_settings(
        registration="open", oauth_providers=[provider.provider_setting()], **extra
    )


async def _start(client: httpx.AsyncClient, next_url: str | None = None) -> httpx.Response:
    params = {"next": next_url} if next_url is not None else {}
    response = await client.get("/oauth/mock/authorize", params=params)
    assert response.status_code == 303, response.text
    return response


async def sign_in(
    client: httpx.AsyncClient, provider: MockProvider, sub: str, next_url: str | None = None
) -> httpx.Response:
    """The whole round trip: authsvc -> the provider's consent -> authsvc's callback."""
    started = await _start(client, next_url)
    back = provider.consent(started.headers["location"], sub)
    return await client.get(local_path(back))


async def test_a_first_sign_in_creates_the_account_and_signs_in_with_our_cookies(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    oidc_provider: MockProvider,
    db_query: DbQuery,
) -> None:
    oidc_provider.set_user("sub-new", email="new@example.com", email_verified=True)
    async with client_factory(_settings(make_settings, oidc_provider)) as client:
        started = await _start(client, "/ui/account")
        query = query_of(started.headers["location"])
        assert query["code_challenge_method"] == "S256"
        assert query["state"] and query["nonce"] and query["code_challenge"]

        back = oidc_provider.consent(started.headers["location"], "sub-new")
        response = await client.get(local_path(back))

        assert response.status_code == 303, response.text
        assert response.headers["location"] == "/ui/account"
        claims = jwt.decode(response.cookies[ACCESS], options={"verify_signature": False})
        assert claims["amr"] == ["fed"]
        session = await client.get("/session")
        assert session.status_code == 200
        assert session.json()["user"]["username"] == "new@example.com"
    rows = db_query(
        "SELECT u.email, u.email_verified_at IS NOT NULL FROM identities i "
        "JOIN users u ON u.id = i.user_id WHERE i.provider = 'mock' AND i.subject = 'sub-new'"
    )
    assert [tuple(row) for row in rows] == [("new@example.com", True)]


async def test_a_second_sign_in_opens_the_same_account(
    client_factory: ClientFactory, make_settings: MakeSettings, oidc_provider: MockProvider
) -> None:
    oidc_provider.set_user("sub-again", email="again@example.com", email_verified=True)
    async with client_factory(_settings(make_settings, oidc_provider)) as client:
        await sign_in(client, oidc_provider, "sub-again")
        first = (await client.get("/session")).json()["user"]["id"]
        client.cookies.clear()
        response = await sign_in(client, oidc_provider, "sub-again")
        assert response.status_code == 303, response.text
        assert (await client.get("/session")).json()["user"]["id"] == first


async def test_a_callback_without_state_is_refused(
    client_factory: ClientFactory, make_settings: MakeSettings, oidc_provider: MockProvider
) -> None:
    oidc_provider.set_user("sub-nostate", email="nostate@example.com", email_verified=True)
    async with client_factory(_settings(make_settings, oidc_provider)) as client:
        started = await _start(client)
        back = oidc_provider.consent(started.headers["location"], "sub-nostate")
        code = query_of(back)["code"]
        response = await client.get("/oauth/mock/callback", params={"code": code})
        assert response.status_code == 400
        assert response.json()["error"] == "oauth_state_invalid"
        assert ACCESS not in client.cookies


async def test_a_state_is_spent_by_its_first_callback(
    client_factory: ClientFactory, make_settings: MakeSettings, oidc_provider: MockProvider
) -> None:
    oidc_provider.set_user("sub-reuse", email="reuse@example.com", email_verified=True)
    async with client_factory(_settings(make_settings, oidc_provider)) as client:
        started = await _start(client)
        back = oidc_provider.consent(started.headers["location"], "sub-reuse")
        assert (await client.get(local_path(back))).status_code == 303
        client.cookies.delete(ACCESS)
        again = await client.get(local_path(back))
        assert again.status_code == 400
        assert again.json()["error"] == "oauth_state_invalid"
        assert ACCESS not in again.cookies


async def test_a_callback_in_another_browser_is_refused(
    client_factory: ClientFactory, make_settings: MakeSettings, oidc_provider: MockProvider
) -> None:
    """Login CSRF: the attacker's own callback URL, opened in the victim's browser."""
    oidc_provider.set_user("sub-csrf", email="csrf@example.com", email_verified=True)
    settings = _settings(make_settings, oidc_provider)
    async with client_factory(settings) as attacker, client_factory(settings) as victim:
        started = await _start(attacker)
        back = oidc_provider.consent(started.headers["location"], "sub-csrf")
        # The victim has a state cookie of their own: only its value tells the browsers apart.
        await _start(victim)
        response = await victim.get(local_path(back))
        assert response.status_code == 400
        assert response.json()["error"] == "oauth_state_invalid"
        assert ACCESS not in victim.cookies


async def test_next_is_held_to_the_allowed_origins(
    client_factory: ClientFactory, make_settings: MakeSettings, oidc_provider: MockProvider
) -> None:
    oidc_provider.set_user("sub-next", email="next@example.com", email_verified=True)
    async with client_factory(_settings(make_settings, oidc_provider)) as client:
        response = await sign_in(client, oidc_provider, "sub-next", "https://evil.example/x")
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/account"


async def test_an_error_from_the_provider_is_a_clear_refusal(
    client_factory: ClientFactory, make_settings: MakeSettings, oidc_provider: MockProvider
) -> None:
    async with client_factory(_settings(make_settings, oidc_provider)) as client:
        started = await _start(client)
        back = oidc_provider.consent(started.headers["location"], "", deny=True)
        assert query_of(back)["error"] == "access_denied"
        response = await client.get(local_path(back), headers={"Accept": "application/json"})
        assert response.status_code == 400
        assert response.json()["error"] == "provider_denied"


async def test_closed_registration_creates_no_account(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    oidc_provider: MockProvider,
    db_query: DbQuery,
) -> None:
    oidc_provider.set_user("sub-closed", email="closed@example.com", email_verified=True)
    settings = make_settings(oauth_providers=[oidc_provider.provider_setting()])
    async with client_factory(settings) as client:
        response = await sign_in(client, oidc_provider, "sub-closed")
        assert response.status_code == 403
        assert response.json()["error"] == "registration_closed"
    assert db_query("SELECT count(*) FROM users")[0][0] == 0


async def test_a_verified_email_of_an_existing_account_asks_to_sign_in_and_link(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    oidc_provider: MockProvider,
    db_query: DbQuery,
) -> None:
    make_user("alice", email="alice@example.com", email_verified=True)
    oidc_provider.set_user("sub-alice", email="alice@example.com", email_verified=True)
    async with client_factory(_settings(make_settings, oidc_provider)) as client:
        response = await sign_in(client, oidc_provider, "sub-alice")
        assert response.status_code == 409
        assert response.json()["error"] == "link_required"
        assert ACCESS not in client.cookies
    assert db_query("SELECT count(*) FROM identities")[0][0] == 0


async def test_an_unverified_email_of_an_existing_account_is_refused(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    oidc_provider: MockProvider,
    db_query: DbQuery,
) -> None:
    make_user("bob", email="bob@example.com", email_verified=True)
    oidc_provider.set_user("sub-bob", email="bob@example.com", email_verified=False)
    async with client_factory(_settings(make_settings, oidc_provider)) as client:
        response = await sign_in(client, oidc_provider, "sub-bob")
        assert response.status_code == 403
        assert response.json()["error"] == "provider_email_unverified"
        assert ACCESS not in client.cookies
    assert db_query("SELECT count(*) FROM identities")[0][0] == 0


async def test_a_pre_registered_unconfirmed_account_never_captures_the_sign_in(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    oidc_provider: MockProvider,
    db_query: DbQuery,
) -> None:
    """The attacker registered the victim's address first and waits for the victim to come."""
    attacker = make_user("mallory", email="victim@example.com", email_verified=False)
    oidc_provider.set_user("sub-victim", email="victim@example.com", email_verified=True)
    async with client_factory(_settings(make_settings, oidc_provider)) as client:
        response = await sign_in(client, oidc_provider, "sub-victim")
        assert response.status_code == 409
        assert response.json()["error"] == "link_required"
        assert ACCESS not in client.cookies
    assert db_query("SELECT count(*) FROM identities WHERE user_id = :u", u=attacker)[0][0] == 0
    assert db_query("SELECT count(*) FROM sessions WHERE user_id = :u", u=attacker)[0][0] == 0
