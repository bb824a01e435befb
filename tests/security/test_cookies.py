"""Session fixation, cookie hygiene and the security headers on every response."""

from __future__ import annotations

import pytest

from authsvc.config import Settings
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser

CREDENTIALS = {"username": "alice", "password": PASSWORD}


async def test_login_with_an_existing_cookie_issues_a_new_session(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user()
    async with client_factory(settings) as client:
        first = await client.post("/login", json=CREDENTIALS)
        planted = client.cookies["authsvc_at"]
        second = await client.post("/login", json=CREDENTIALS)
        assert second.status_code == 200
        assert second.json()["session"]["id"] != first.json()["session"]["id"]
        assert client.cookies["authsvc_at"] != planted
        assert (await client.get("/session")).json()["session"]["id"] == second.json()["session"][
            "id"
        ]
    assert len(db_query("SELECT id FROM sessions")) == 2


async def test_responses_that_set_token_cookies_are_not_cacheable(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(settings) as client:
        responses = [
            await client.post("/login", json=CREDENTIALS),
            await client.get("/session"),
            await client.post("/logout"),
        ]
    for response in responses:
        if "set-cookie" in response.headers:
            assert response.headers["cache-control"] == "no-store", response.request.url
    assert "authsvc_at=" in responses[0].headers["set-cookie"]


async def test_logout_clears_site_cookies_with_expired_copies(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(settings) as client:
        await client.post("/login", json=CREDENTIALS)
        response = await client.post("/logout")
        assert response.status_code == 200
        assert response.headers["clear-site-data"] == '"cookies"'
        expired = [
            value
            for value in response.headers.get_list("set-cookie")
            if value.startswith("authsvc_at=")
        ]
        assert len(expired) == 1
        attributes = [part.strip().lower() for part in expired[0].split(";")]
        assert "max-age=0" in attributes
        assert "path=/" in attributes
        assert "authsvc_at" not in client.cookies
        assert (await client.get("/session")).status_code == 401


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/healthz"), ("GET", "/session"), ("GET", "/nowhere"), ("POST", "/login")],
)
async def test_security_headers_on_every_response(
    client_factory: ClientFactory, settings: Settings, method: str, path: str
) -> None:
    async with client_factory(settings, browser=False) as client:
        response = await client.request(method, path, content=b"{")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    # Plain HTTP: HSTS would be ignored and misleading.
    assert "strict-transport-security" not in response.headers


async def test_hsts_when_the_request_is_secure(
    client_factory: ClientFactory, make_settings: MakeSettings
) -> None:
    settings = make_settings(cookie_secure="auto", trusted_proxies="127.0.0.1")
    async with client_factory(settings, browser=False) as client:
        direct = await client.get("/healthz")
        proxied = await client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "strict-transport-security" not in direct.headers
    assert proxied.headers["strict-transport-security"] == "max-age=31536000"
    async with client_factory(settings, base_url="https://authsvc.test") as client:
        response = await client.get("/session")
    assert response.headers["strict-transport-security"] == "max-age=31536000"
    # The CSRF cookie follows the access cookie's rules: __Host-, Secure.
    assert response.headers["set-cookie"].startswith("__Host-authsvc_csrf=")
    assert "secure" in response.headers["set-cookie"].lower()


async def test_cacheable_answers_set_no_cookie(
    client_factory: ClientFactory, settings: Settings
) -> None:
    """The CSRF cookie is handed out by GET /session only: a Set-Cookie on the JWKS would
    make it uncacheable for downstream services."""
    async with client_factory(settings, browser=False) as client:
        jwks = await client.get("/.well-known/jwks.json")
        session = await client.get("/session")
    assert "set-cookie" not in jwks.headers
    assert "max-age=" in jwks.headers["cache-control"]
    assert session.headers["set-cookie"].startswith("authsvc_csrf=")
    assert session.headers["cache-control"] == "no-store"
