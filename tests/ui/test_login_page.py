"""GET and POST /ui/login: a form that works without JavaScript, one generic refusal, throttling
told in seconds, strict headers, and the CSRF token carried in a hidden field."""

from __future__ import annotations

import re

import pytest

from authsvc.config import Settings
from tests.helpers.cookies import ACCESS, REFRESH, set_cookies
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.pages import form_token, sign_in_through_page, submit

EVIL = "https://evil.example"


async def test_the_form_is_ready_for_password_managers_and_screen_readers(
    client_factory: ClientFactory, settings: Settings
) -> None:
    async with client_factory(settings, browser=False) as client:
        page = await client.get("/ui/login")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<form method="post" action="/ui/login"' in html
    assert re.search(
        r'<input id="username" name="username" type="text"[^>]*autocomplete="username"', html
    )
    assert re.search(
        r'<input id="password" name="password" type="password"[^>]*autocomplete="current-password"',
        html,
    )
    assert '<input id="remember" name="remember" type="checkbox">' in html
    for field in ("username", "password", "remember"):
        assert f'<label for="{field}">' in html
    assert '<html lang="en">' in html
    # The hidden token and its cookie are the same value: the double submit of a plain form.
    assert form_token(page) == page.cookies["authsvc_csrf"]


async def test_pages_send_a_strict_content_security_policy(
    client_factory: ClientFactory, settings: Settings
) -> None:
    async with client_factory(settings, browser=False) as client:
        page = await client.get("/ui/login")
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    # Scripts from this service only, never inline: the passkey ceremonies' module.
    assert policy["script-src"] == "'self'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["form-action"] == "'self' http://authsvc.test"
    assert re.findall(r"<script[^>]*>", page.text) == [
        '<script type="module" src="/ui/passkeys.js">'
    ]
    assert 'id="passkey-sign-in"' in page.text
    assert "style=" not in page.text
    assert page.headers["cache-control"] == "no-store"


async def test_signing_in_sets_the_cookies_and_goes_to_the_account(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        response = await sign_in_through_page(client, remember=True)
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/account"
        names = {cookie.name for cookie in set_cookies(response)}
        assert {ACCESS, REFRESH, "authsvc_csrf"} <= names
        account = await client.get("/ui/account")
        assert account.status_code == 200
        assert '<strong id="username">alice</strong>' in account.text


@pytest.mark.parametrize(
    ("username", "password"),
    [("alice", "wrong password"), ("nobody", PASSWORD)],
    ids=["wrong-password", "unknown-user"],
)
async def test_unknown_user_and_wrong_password_get_the_same_page(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
    username: str,
    password: str,
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        response = await sign_in_through_page(client, username, password)
    assert response.status_code == 401
    assert (
        '<div class="alert" id="form-error" role="alert">Invalid username or password.</div>'
        in (response.text)
    )
    assert ACCESS not in {cookie.name for cookie in set_cookies(response)}
    # The username stays in the form; the password never comes back.
    assert f'value="{username}"' in response.text
    assert password not in response.text


async def test_a_throttled_sign_in_says_how_many_seconds_to_wait(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user()
    settings = make_settings(login_limit_client_account="2/minute")
    async with client_factory(settings, browser=False) as client:
        for _ in range(2):
            assert (await sign_in_through_page(client, password="wrong")).status_code == 401
        response = await sign_in_through_page(client)
    assert response.status_code == 429
    wait = int(response.headers["retry-after"])
    assert wait > 0
    assert f"Too many failed attempts. Try again in {wait} seconds." in response.text


async def test_a_form_without_its_token_or_from_another_site_is_refused(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user()
    fields = {"username": "alice", "password": PASSWORD}
    async with client_factory(settings, browser=False) as client:
        page = await client.get("/ui/login")
        no_token = await client.post(
            "/ui/login", data=fields, headers={"Origin": "http://authsvc.test"}
        )
        wrong_token = await client.post(
            "/ui/login",
            data={**fields, "csrf_token": "forged"},
            headers={"Origin": "http://authsvc.test"},
        )
        foreign = await submit(client, page, "/ui/login", fields, origin=EVIL)
    for response in (no_token, wrong_token, foreign):
        assert response.status_code == 403
        assert response.json()["error"] == "csrf_failed"
        assert "set-cookie" not in response.headers
    assert db_query("SELECT count(*) FROM sessions")[0][0] == 0


async def test_a_signed_in_visitor_goes_straight_on(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        await sign_in_through_page(client)
        again = await client.get("/ui/login", params={"next": "/ui/account?tab=devices"})
    assert again.status_code == 303
    assert again.headers["location"] == "/ui/account?tab=devices"


async def test_the_pages_are_off_with_ui_false(
    client_factory: ClientFactory, make_settings: MakeSettings
) -> None:
    async with client_factory(make_settings(ui=False), browser=False) as client:
        for path in ("/ui/login", "/ui/account", "/ui/authsvc.js"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"] == "not_found"
