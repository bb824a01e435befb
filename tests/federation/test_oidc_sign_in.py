"""Signing in at a real OpenID Connect provider on loopback, driven headlessly over HTTP."""

from __future__ import annotations

import httpx
import jwt

from authsvc.config import Settings
from tests.helpers.cookies import ACCESS
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings
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
