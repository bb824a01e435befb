"""Login CSRF: a login posted from a foreign origin, from a cross-site fetch, or from the service's
own origin without the token is refused and starts no session, so no other site can sign a
browser in to an account of its choosing; a page that first fetches its CSRF cookie and echoes it
with its Origin signs in."""

from __future__ import annotations

import pytest

from authsvc.config import Settings
from tests.helpers.csrf import EVIL, HEADER, ORIGIN
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeUser


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": EVIL}, id="foreign-origin"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="cross-site-fetch"),
        pytest.param({"Origin": ORIGIN}, id="same-origin-without-token"),
    ],
)
async def test_login_csrf_is_refused(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
    headers: dict[str, str],
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        response = await client.post(
            "/login",
            content=f"username=alice&password={PASSWORD}".encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        )
        assert response.status_code == 403
        assert response.json()["error"] == "csrf_failed"
        assert "authsvc_at" not in response.headers.get("set-cookie", "")
    assert db_query("SELECT count(*) FROM sessions")[0][0] == 0


async def test_browser_login_with_origin_and_token_works(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        # An SPA's first request hands it the CSRF cookie; it then echoes it on the login.
        await client.get("/session")
        csrf = client.cookies["authsvc_csrf"]
        response = await client.post(
            "/login",
            json={"username": "alice", "password": PASSWORD},
            headers={"Origin": ORIGIN, HEADER: csrf},
        )
        assert response.status_code == 200, response.text
