"""GitHub sign-in: OAuth 2 without an ID token; only a verified primary email counts."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import respx

from tests.helpers.cookies import ACCESS
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.oidc import query_of

API = "https://api.github.example"
TOKEN_URL = "https://github.example/login/oauth/access_token"


class GitHub:
    emails: list[dict[str, Any]]

    def __init__(self) -> None:
        self.emails = []


@pytest.fixture
def github() -> Iterator[GitHub]:
    state = GitHub()
    with respx.mock(assert_all_called=False) as router:
        router.post(TOKEN_URL).respond(json={"access_token": "gho_x", "token_type": "bearer"})
        router.get(f"{API}/user").respond(json={"id": 4242, "login": "octo"})
        router.get(f"{API}/user/emails").mock(
            side_effect=lambda _: httpx.Response(200, json=state.emails)
        )
        yield state


@pytest.fixture
async def client(
    client_factory: ClientFactory, make_settings: MakeSettings, github: GitHub
) -> AsyncIterator[httpx.AsyncClient]:
    provider = {
        "name": "github",
        "kind": "github",
        "client_id": "gh-client",
        "client_secret": "gh-secret",
        "github_authorize_url": "https://github.example/login/oauth/authorize",
        "github_token_url": TOKEN_URL,
        "github_api_url": API,
    }
    settings = make_settings(registration="open", oauth_providers=[provider])
    async with client_factory(settings) as client:
        yield client


async def _sign_in(client: httpx.AsyncClient) -> httpx.Response:
    started = await client.get("/oauth/github/authorize")
    assert started.status_code == 303, started.text
    query = query_of(started.headers["location"])
    assert query["code_challenge_method"] == "S256"
    return await client.get("/oauth/github/callback", params={"code": "c", "state": query["state"]})


async def test_a_verified_primary_email_creates_the_account(
    client: httpx.AsyncClient, github: GitHub, db_query: DbQuery
) -> None:
    github.emails = [
        {"email": "other@example.com", "primary": False, "verified": True},
        {"email": "octo@example.com", "primary": True, "verified": True},
    ]
    response = await _sign_in(client)
    assert response.status_code == 303, response.text
    assert ACCESS in response.cookies
    rows = db_query("SELECT i.subject, u.email FROM identities i JOIN users u ON u.id = i.user_id")
    assert [tuple(row) for row in rows] == [("4242", "octo@example.com")]


async def test_an_unverified_github_email_never_opens_an_existing_account(
    client: httpx.AsyncClient, github: GitHub, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user("alice", email="alice@example.com", email_verified=True)
    github.emails = [{"email": "alice@example.com", "primary": True, "verified": False}]
    response = await _sign_in(client)
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "provider_email_unverified"
    assert db_query("SELECT count(*) FROM identities")[0][0] == 0


async def test_a_verified_but_secondary_email_is_not_the_account_s_address(
    client: httpx.AsyncClient, github: GitHub, make_user: MakeUser, db_query: DbQuery
) -> None:
    """Only the primary address counts: a new account, without anyone's address."""
    make_user("alice", email="alice@example.com", email_verified=True)
    github.emails = [
        {"email": "alice@example.com", "primary": False, "verified": True},
        {"email": "octo@example.com", "primary": True, "verified": False},
    ]
    response = await _sign_in(client)
    assert response.status_code == 303, response.text
    rows = db_query("SELECT u.username, u.email FROM identities i JOIN users u ON u.id = i.user_id")
    assert [tuple(row) for row in rows] == [("github:4242", None)]
