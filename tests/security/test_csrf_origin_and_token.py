"""Cookie-authenticated unsafe requests, shown on logout: they need an allowed Origin (or
same-origin fetch metadata) and the double-submit token echoed in X-CSRF-Token, and the
allowed-origins setting decides which origins count as the service's own. What a foreign page can
send (a simple form or no-cors post, a GET, a post without cookies) changes nothing and clears no
cookie, while a cookieless logout from a page of the service's own still signs out."""

from __future__ import annotations

import pytest

from authsvc.config import Settings
from tests.helpers.csrf import EVIL, HEADER, ORIGIN, open_sessions, token_version
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.headers import csrf_token
from tests.helpers.login import log_in


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": EVIL, HEADER: "{csrf}"}, id="foreign-origin"),
        pytest.param({"Origin": "null", HEADER: "{csrf}"}, id="null-origin"),
        pytest.param({"Origin": ORIGIN + ".evil.example", HEADER: "{csrf}"}, id="origin-prefix"),
        pytest.param({"Origin": ORIGIN}, id="no-token"),
        pytest.param({"Origin": ORIGIN, HEADER: "forged"}, id="wrong-token"),
        pytest.param({"Sec-Fetch-Site": "cross-site", HEADER: "{csrf}"}, id="cross-site-fetch"),
        pytest.param({"Sec-Fetch-Site": "same-site", HEADER: "{csrf}"}, id="same-site-fetch"),
        pytest.param({HEADER: "{csrf}"}, id="no-origin-at-all"),
    ],
)
async def test_cookie_authenticated_logout_refused_without_origin_and_token(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
    headers: dict[str, str],
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        await log_in(client)  # as an API client would: no cookie yet
        csrf = csrf_token(client)
        sent = {name: value.format(csrf=csrf) for name, value in headers.items()}
        response = await client.post("/logout", params={"everywhere": "true"}, headers=sent)
        assert response.status_code == 403
        assert response.json()["error"] == "csrf_failed"
        assert "authsvc_at" not in response.headers.get("set-cookie", "")
        assert (await client.get("/session")).status_code == 200
    assert token_version(db_query) == 0
    assert open_sessions(db_query) == 1


async def test_logout_with_allowed_origin_and_token_works(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        await log_in(client)  # as an API client would: no cookie yet
        csrf = csrf_token(client)
        response = await client.post(
            "/logout", params={"everywhere": "true"}, headers={"Origin": ORIGIN, HEADER: csrf}
        )
        assert response.status_code == 200, response.text
    assert token_version(db_query) == 1
    assert open_sessions(db_query) == 0


async def test_same_origin_fetch_metadata_stands_in_for_origin(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        await log_in(client)  # as an API client would: no cookie yet
        csrf = csrf_token(client)
        headers = {"Sec-Fetch-Site": "same-origin", HEADER: csrf}
        assert (await client.post("/logout", headers=headers)).status_code == 200
    assert open_sessions(db_query) == 0


@pytest.mark.parametrize(
    ("content_type", "content"),
    [
        ("text/plain", b'{"everywhere": true}'),
        ("application/x-www-form-urlencoded", b"everywhere=true"),
        (
            "multipart/form-data; boundary=x",
            b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n',
        ),
    ],
    ids=["text-plain", "form", "multipart"],
)
async def test_simple_cross_site_requests_change_nothing(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
    content_type: str,
    content: bytes,
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        await log_in(client)
        sessions_before = db_query("SELECT count(*) FROM sessions")[0][0]
        # What an HTML form or a no-cors fetch on another site can send: no custom header.
        headers = {"Content-Type": content_type, "Origin": EVIL}
        logout = await client.post("/logout?everywhere=true", content=content, headers=headers)
        relogin = await client.post(
            "/login",
            content=content
            if content_type != "application/x-www-form-urlencoded"
            else f"username=alice&password={PASSWORD}".encode(),
            headers=headers,
        )
        assert logout.status_code == 403
        assert relogin.status_code == 403
        assert "set-cookie" not in relogin.headers
        assert (await client.get("/session")).status_code == 200
    assert token_version(db_query) == 0
    assert db_query("SELECT count(*) FROM sessions")[0][0] == sessions_before


async def test_get_logout_is_405_and_changes_nothing(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        await log_in(client)
        response = await client.get("/logout", params={"everywhere": "true"})
        assert response.status_code == 405
        assert "set-cookie" not in response.headers
        assert (await client.get("/session")).status_code == 200
    assert token_version(db_query) == 0
    assert open_sessions(db_query) == 1


async def test_allowed_origins_setting_admits_a_separate_frontend(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user()
    frontend = "https://app.example.com"
    settings = make_settings(allowed_origins=frontend)
    async with client_factory(settings, browser=False) as client:
        await log_in(client)  # as an API client would: no cookie yet
        csrf = csrf_token(client)
        same_host = await client.post("/logout", headers={"Origin": ORIGIN, HEADER: csrf})
        assert same_host.status_code == 403  # the issuer's origin is no longer on the list
        ok = await client.post("/logout", headers={"Origin": frontend, HEADER: csrf})
        assert ok.status_code == 200
    assert open_sessions(db_query) == 0


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": EVIL}, id="foreign-origin"),
        pytest.param({"Origin": "null"}, id="null-origin"),
        pytest.param({"Sec-Fetch-Site": "cross-site"}, id="cross-site-fetch"),
    ],
)
@pytest.mark.parametrize("with_cookies", [False, True], ids=["no-cookie", "cookies"])
async def test_cross_site_logout_changes_nothing_in_the_browser(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
    headers: dict[str, str],
    with_cookies: bool,
) -> None:
    """A foreign form post (SameSite keeps the cookies home) must not wipe the site's cookies."""
    make_user()
    async with client_factory(settings, browser=False) as client:
        await log_in(client)
        if not with_cookies:
            client.cookies.clear()  # what SameSite does to a cross-site form post's cookies
        response = await client.post(
            "/logout",
            params={"everywhere": "true"},
            content=b"",
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        )
        assert response.status_code == 403
        assert response.json()["error"] == "csrf_failed"
        assert "set-cookie" not in response.headers
        assert "clear-site-data" not in response.headers
    assert token_version(db_query) == 0
    assert open_sessions(db_query) == 1


async def test_cookieless_logout_from_an_allowed_origin_still_signs_out(
    client_factory: ClientFactory, settings: Settings
) -> None:
    """Idempotent for a page of our own: no session, nothing to protect, the cookies expire."""
    async with client_factory(settings, browser=False) as client:
        response = await client.post("/logout", headers={"Origin": ORIGIN})
        assert response.status_code == 200, response.text
        assert response.headers["clear-site-data"] == '"cookies"'
        plain = await client.post("/logout")  # an API client: no cookie, no browser signal
        assert plain.status_code == 200
