"""Bearer requests and CSRF: a browser never adds an Authorization header by itself, so a request
authenticated by one is exempt from the Origin and token checks, even from a foreign origin, and
is handed no CSRF cookie, whether its token is accepted or refused; the same client without the
header is treated as a browser again."""

from __future__ import annotations

import pytest

from authsvc.config import Settings
from tests.helpers.csrf import EVIL, token_version
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeUser
from tests.helpers.login import access_token


async def test_bearer_requests_are_exempt(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        access = await access_token(client)
    async with client_factory(settings, browser=False) as api_client:
        response = await api_client.post(
            "/logout",
            params={"everywhere": "true"},
            headers={"Authorization": f"Bearer {access}"},
        )
        assert response.status_code == 200, response.text
    assert token_version(db_query) == 1


@pytest.mark.parametrize("valid", [True, False], ids=["valid-token", "refused-token"])
async def test_a_bearer_request_is_handed_no_csrf_cookie(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser, valid: bool
) -> None:
    # The token is for cookie-authenticated browsers; a bearer client is exempt and would only
    # pay for minting and sending one (on every refused call too).
    make_user()
    async with client_factory(settings, browser=False) as client:
        access = await access_token(client)
    bearer = access if valid else access[:-4] + "AAAA"
    async with client_factory(settings, browser=False) as api_client:
        response = await api_client.get("/session", headers={"Authorization": f"Bearer {bearer}"})
        assert response.status_code == (200 if valid else 401), response.text
        if not valid:
            assert response.json()["error"] == "invalid_token"
        assert "set-cookie" not in response.headers
        # Without the header the same client is a browser on load: it gets its token.
        anonymous = await api_client.get("/session")
        assert anonymous.status_code == 401
        assert "authsvc_csrf" in anonymous.cookies


async def test_bearer_logout_from_anywhere_is_exempt(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        access = await access_token(client)
    async with client_factory(settings, browser=False) as api_client:
        response = await api_client.post(
            "/logout",
            params={"everywhere": "true"},
            headers={"Authorization": f"Bearer {access}", "Origin": EVIL},
        )
        assert response.status_code == 200, response.text
    assert token_version(db_query) == 1
