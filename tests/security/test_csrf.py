"""CSRF: cookie-authenticated unsafe requests need an allowed Origin and the double-submit token;
simple cross-site requests change nothing; bearer requests are exempt; CORS reflects no stranger."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pytest
from fastapi.routing import APIRoute

from authsvc.app import create_app
from authsvc.config import Settings
from authsvc.web.csrf import SAFE_METHODS
from tests.helpers.clock import FakeClock
from tests.helpers.database import execute
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.headers import csrf_token
from tests.helpers.login import access_token, log_in

ORIGIN = "http://authsvc.test"
EVIL = "https://evil.example"
HEADER = "X-CSRF-Token"


def token_version(db_query: DbQuery) -> int:
    return int(db_query("SELECT token_version FROM users WHERE username = 'alice'")[0][0])


def open_sessions(db_query: DbQuery) -> int:
    return len(db_query("SELECT id FROM sessions WHERE ended_at IS NULL"))


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


async def test_unsigned_csrf_cookie_is_refused(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    """A sibling subdomain can plant a cookie, but cannot sign it."""
    make_user()
    async with client_factory(settings, browser=False) as client:
        await log_in(client)
        client.cookies.set("authsvc_csrf", "planted.value", domain="authsvc.test")
        response = await client.post(
            "/logout",
            params={"everywhere": "true"},
            headers={"Origin": ORIGIN, HEADER: "planted.value"},
        )
        assert response.status_code == 403
    assert token_version(db_query) == 0


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


async def test_cors_never_reflects_a_foreign_origin(
    client_factory: ClientFactory, make_settings: MakeSettings
) -> None:
    frontend = "https://app.example.com"
    async with client_factory(make_settings(allowed_origins=frontend), browser=False) as client:
        preflight = await client.options(
            "/logout",
            headers={
                "Origin": EVIL,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-csrf-token",
            },
        )
        assert "access-control-allow-origin" not in preflight.headers
        # Refused in the service's one error shape, saying what was not allowed.
        assert preflight.status_code == 400
        assert preflight.json() == {
            "error": "invalid_request",
            "detail": "Cross-origin request refused: origin not allowed.",
        }
        simple = await client.get("/session", headers={"Origin": EVIL, "Cookie": "a=b"})
        # Without Access-Control-Allow-Origin the browser hides the response from the page.
        assert "access-control-allow-origin" not in simple.headers
        allowed = await client.get("/session", headers={"Origin": frontend})
        assert allowed.headers["access-control-allow-origin"] == frontend
        assert allowed.headers["access-control-allow-credentials"] == "true"
        # A CSRF refusal of an allowed origin stays readable to its page.
        refused = await client.post("/logout", headers={"Origin": frontend, "Cookie": "a=b"})
        assert refused.status_code == 403
        assert refused.json()["error"] == "csrf_failed"
        assert refused.headers["access-control-allow-origin"] == frontend
        # Every answer says it depends on the Origin, once, with or without one, so a shared
        # cache never hands one origin's answer to another.
        without = await client.get("/.well-known/jwks.json")
        for response in (simple, allowed, refused, without):
            assert response.headers.get_list("vary") == ["Origin"], response.headers


def api_routes(routes: Iterable[object], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every endpoint of a route list, into included routers (FastAPI keeps those whole)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        included = getattr(route, "original_router", None)
        if included is not None:
            context = getattr(route, "include_context", None)
            yield from api_routes(included.routes, prefix + getattr(context, "prefix", ""))


def unsafe_routes(settings: Settings) -> list[tuple[str, str]]:
    """Every (method, path template) of the app that is not a safe method, read from its routes."""
    return sorted(
        (method, path)
        for path, route in api_routes(create_app(settings).routes)
        for method in route.methods or ()
        if method not in SAFE_METHODS
    )


async def test_every_state_changing_endpoint_is_covered(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    db_query: DbQuery,
    database_url: str,
) -> None:
    """The protection sits in front of every route: the list is the app's own, so an unsafe
    endpoint added later is covered here too (or the test fails on its path parameters)."""
    settings = make_settings(registration="open")
    make_user(roles=["admin"])
    # A disabled account, so that a forged `enable` would show in the snapshot as well.
    target = make_user("bob")
    execute(database_url, "UPDATE users SET disabled = true WHERE id = :id", id=target)
    routes = unsafe_routes(settings)
    # What this test knows the app to have today, so that a route lost from the list shows.
    assert {
        ("POST", "/logout"),
        ("POST", "/password"),
        ("POST", "/register"),
        ("POST", "/admin/users/{user}/enable"),
        ("DELETE", "/sessions/{sid}"),
        ("POST", "/login/mfa"),
        ("DELETE", "/account/mfa/factors/{factor_id}"),
    } <= set(routes)
    async with client_factory(settings, browser=False) as client:
        login_response = await client.post(
            "/login", json={"username": "alice", "password": PASSWORD}
        )
        sid = login_response.json()["session"]["id"]
        csrf = client.cookies["authsvc_csrf"]
        snapshot = "SELECT * FROM users ORDER BY id", "SELECT * FROM sessions ORDER BY id"
        before = [db_query(sql) for sql in snapshot]
        forged = {"Origin": EVIL, HEADER: csrf}
        parameters = {
            "sid": sid,
            "user": target,
            "factor_id": "a-factor",
            "identity_id": "an-identity",
        }
        for method, template in routes:
            path = template.format(**parameters)  # a new parameter name fails here: add it
            response = await client.request(method, path, json={}, headers=forged)
            assert response.status_code == 403, (method, path, response.text)
            assert response.json()["error"] == "csrf_failed"
        assert [db_query(sql) for sql in snapshot] == before
        assert (await client.get("/session")).status_code == 200


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


async def test_a_validly_signed_token_of_another_session_is_refused(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    """A sibling subdomain cannot sign, but it can fetch a signed token of its own (anonymous, or
    for its own session) and plant that: the token is bound to the session it was issued for."""
    make_user()
    make_user("mallory")
    async with client_factory(settings, browser=False) as attacker:
        await attacker.get("/session")
        anonymous = csrf_token(attacker)
        await log_in(attacker, "mallory")
        own_session = csrf_token(attacker)
    async with client_factory(settings, browser=False) as victim:
        await log_in(victim)
        for planted in (anonymous, own_session):
            victim.cookies.set("authsvc_csrf", planted, domain="authsvc.test")
            response = await victim.post(
                "/logout",
                params={"everywhere": "true"},
                headers={"Origin": ORIGIN, HEADER: planted},
            )
            assert response.status_code == 403, response.text
            assert response.json()["error"] == "csrf_failed"
        # The token handed out with the victim's own session still works, and a page gets a
        # token bound to its session from GET /session when the cookie it holds is not.
        assert (await victim.get("/session")).status_code == 200
        fresh = csrf_token(victim)
        assert fresh not in (anonymous, own_session)
        response = await victim.post(
            "/logout", params={"everywhere": "true"}, headers={"Origin": ORIGIN, HEADER: fresh}
        )
        assert response.status_code == 200, response.text
    assert token_version(db_query) == 1


async def test_a_token_once_found_valid_is_still_refused_beside_another_session(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    """The service remembers a token it found valid, for that session only: planted beside
    another session's access cookie in the same service, it is checked in full and refused."""
    make_user()
    make_user("mallory")
    async with client_factory(settings, browser=False) as client:
        await log_in(client, "mallory")
        assert (await client.get("/session")).status_code == 200  # found valid, remembered
        mallorys = csrf_token(client)
        assert (await client.get("/session")).status_code == 200
        assert csrf_token(client) == mallorys
        client.cookies.clear()
        await log_in(client)
        client.cookies.set("authsvc_csrf", mallorys, domain="authsvc.test")
        response = await client.post(
            "/logout", params={"everywhere": "true"}, headers={"Origin": ORIGIN, HEADER: mallorys}
        )
        assert response.status_code == 403, response.text
        assert response.json()["error"] == "csrf_failed"
    assert token_version(db_query) == 0


async def test_a_refresh_after_the_access_cookie_expired_still_passes(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser, clock: FakeClock
) -> None:
    """Without an access cookie no session is named: the session's own token is accepted."""
    make_user()
    async with client_factory(settings) as client:
        await log_in(client)
        clock.advance(16 * 60)  # the browser drops the expired access cookie
        client.cookies.delete("authsvc_at")
        response = await client.post("/refresh")
        assert response.status_code == 200, response.text
        assert (await client.get("/session")).status_code == 200
        assert (await client.post("/logout")).status_code == 200
