"""GET /ui/account and its forms: who is signed in, devices, signing out, a new password."""

from __future__ import annotations

import re

import httpx

from authsvc.config import Settings
from tests.helpers.cookies import ACCESS, set_cookies
from tests.helpers.defaults import ISSUER, PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.pages import sign_in_through_page, submit

NEW_PASSWORD = "a much longer passphrase 2024"


async def signed_in_account(
    client: httpx.AsyncClient, user_agent: str = "device-one"
) -> httpx.Response:
    client.headers["User-Agent"] = user_agent
    assert (await sign_in_through_page(client)).status_code == 303
    page = await client.get("/ui/account")
    assert page.status_code == 200, page.text
    return page


def device_ids(page: httpx.Response) -> list[str]:
    return re.findall(r'<li class="device[^"]*" id="device-([0-9a-f-]+)"', page.text)


async def test_without_a_session_it_sends_the_browser_to_sign_in(
    client_factory: ClientFactory, settings: Settings
) -> None:
    async with client_factory(settings, browser=False) as client:
        response = await client.get("/ui/account")
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/login?next=%2Fui%2Faccount"


async def test_it_names_the_user_and_lists_this_device(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        page = await signed_in_account(client, "Firefox on a test bench")
    assert '<strong id="username">alice</strong>' in page.text
    assert len(device_ids(page)) == 1
    assert "Firefox on a test bench" in page.text
    assert '<span class="badge">This device</span>' in page.text
    assert "127.0.0.1" in page.text
    assert "just now" in page.text
    assert page.headers["cache-control"] == "no-store"


async def test_signing_out_another_device_refuses_its_pages_at_once(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with (
        client_factory(settings, browser=False) as first,
        client_factory(settings, browser=False) as second,
    ):
        await signed_in_account(second, "device-two")
        page = await signed_in_account(first, "device-one")
        ids = device_ids(page)
        assert len(ids) == 2
        other = next(sid for sid in ids if "current" not in _row(page, sid))
        ended = await submit(first, page, f"/ui/sessions/{other}/end", {})
        assert ended.status_code == 303
        assert ended.headers["location"] == "/ui/account?notice=device-signed-out"
        after = await first.get(ended.headers["location"])
        assert device_ids(after) == [sid for sid in ids if sid != other]
        assert "That device has been signed out." in after.text
        refused = await second.get("/ui/account")
        assert refused.status_code == 303
        assert refused.headers["location"].startswith("/ui/login")


def _row(page: httpx.Response, sid: str) -> str:
    """The device's list item up to its id: its classes say whether it is this device."""
    start = page.text.index(f'id="device-{sid}"')
    return page.text[page.text.rindex("<li", 0, start) : start]


async def test_signing_out_this_device_from_the_list_clears_the_cookies(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        page = await signed_in_account(client)
        (sid,) = device_ids(page)
        response = await submit(client, page, f"/ui/sessions/{sid}/end", {})
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/login?notice=signed-out"
        cleared = {c.name: c for c in set_cookies(response)}
        assert cleared[ACCESS].attributes["max-age"] == "0"
        assert (await client.get("/ui/account")).status_code == 303
    assert db_query("SELECT count(*) FROM sessions WHERE ended_at IS NULL")[0][0] == 0


async def test_the_sign_out_forms_post_to_logout(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        page = await signed_in_account(client)
        assert 'action="/logout?next=%2Fui%2Flogin%3Fnotice%3Dsigned-out"' in page.text
        everywhere = (
            "/logout?everywhere=true&amp;next=%2Fui%2Flogin%3Fnotice%3Dsigned-out-everywhere"
        )
        assert f'action="{everywhere}"' in page.text
        response = await submit(client, page, everywhere.replace("&amp;", "&"), {})
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/login?notice=signed-out-everywhere"
        assert response.headers["clear-site-data"] == '"cookies"'
        landing = await client.get(response.headers["location"])
        assert "You have signed out on every device." in landing.text
    assert db_query("SELECT token_version FROM users")[0][0] == 1


async def test_a_weak_new_password_is_explained_next_to_its_field(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        page = await signed_in_account(client)
        fields = {"current_password": PASSWORD, "new_password": "short"}
        response = await submit(client, page, "/ui/account/password", fields)
    assert response.status_code == 400
    assert re.search(
        r'<input id="new_password"[^>]*aria-invalid="true"[^>]*aria-describedby="new_password-hint '
        r'new_password-error"',
        response.text,
    )
    assert (
        '<p class="error" id="new_password-error">A password has at least 12 characters.</p>'
        in (response.text)
    )
    assert 'role="alert"' in response.text


async def test_a_wrong_current_password_is_explained_next_to_its_field(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        page = await signed_in_account(client)
        fields = {"current_password": "not it at all", "new_password": NEW_PASSWORD}
        response = await submit(client, page, "/ui/account/password", fields)
    assert response.status_code == 400
    assert 'id="current_password-error">This is not your current password.</p>' in response.text


async def test_a_new_password_keeps_this_device_and_ends_the_others(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user()
    async with (
        client_factory(settings, browser=False) as client,
        client_factory(settings, browser=False) as other,
    ):
        await signed_in_account(other, "device-two")
        page = await signed_in_account(client)
        fields = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        response = await submit(client, page, "/ui/account/password", fields)
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/account?notice=password-changed"
        assert ACCESS in {cookie.name for cookie in set_cookies(response)}
        after = await client.get(response.headers["location"])
        assert after.status_code == 200
        assert len(device_ids(after)) == 1
        assert (await other.get("/ui/account")).status_code == 303
        relogin = await sign_in_through_page(other, password=NEW_PASSWORD)
        assert relogin.status_code == 303


async def test_account_forms_from_another_site_are_refused(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        page = await signed_in_account(client)
        (sid,) = device_ids(page)
        forged = [
            await submit(
                client, page, f"/ui/sessions/{sid}/end", {}, origin="https://evil.example"
            ),
            await submit(
                client,
                page,
                "/ui/account/password",
                {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
                origin="https://evil.example",
            ),
            await client.post(f"/ui/sessions/{sid}/end", headers={"Origin": ISSUER}),
        ]
        for response in forged:
            assert response.status_code == 403
            assert response.json()["error"] == "csrf_failed"
        assert (await client.get("/ui/account")).status_code == 200
    assert db_query("SELECT count(*) FROM sessions WHERE ended_at IS NULL")[0][0] == 1


async def test_register_page_exists_only_when_registration_is_open(
    client_factory: ClientFactory, make_settings: MakeSettings
) -> None:
    async with client_factory(make_settings(), browser=False) as client:
        assert (await client.get("/ui/register")).status_code == 404
        assert "Create an account" not in (await client.get("/ui/login")).text
    async with client_factory(make_settings(registration="open"), browser=False) as client:
        page = await client.get("/ui/register")
        assert page.status_code == 200
        assert re.search(r'<input id="password"[^>]*autocomplete="new-password"', page.text)
        assert 'href="/ui/register"' in (await client.get("/ui/login")).text


async def test_signing_up_signs_in(
    client_factory: ClientFactory, make_settings: MakeSettings, make_user: MakeUser
) -> None:
    make_user("taken")
    async with client_factory(make_settings(registration="open"), browser=False) as client:
        page = await client.get("/ui/register")
        taken = await submit(
            client, page, "/ui/register", {"username": "taken", "password": NEW_PASSWORD}
        )
        assert taken.status_code == 409
        assert 'id="username-error">This username is taken; choose another.</p>' in taken.text
        weak = await submit(
            client, page, "/ui/register", {"username": "bob", "password": "password"}
        )
        assert weak.status_code == 400
        assert 'id="password-error"' in weak.text
        created = await submit(
            client, page, "/ui/register", {"username": "bob", "password": NEW_PASSWORD}
        )
        assert created.status_code == 303
        assert created.headers["location"] == "/ui/account"
        account = await client.get("/ui/account")
        assert '<strong id="username">bob</strong>' in account.text


async def test_the_browser_client_is_served_as_a_module(
    client_factory: ClientFactory, make_settings: MakeSettings
) -> None:
    frontend = "https://app.example.com"
    async with client_factory(make_settings(allowed_origins=frontend), browser=False) as client:
        script = await client.get("/ui/authsvc.js", headers={"Origin": frontend})
        style = await client.get("/ui/authsvc.css")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    # A module script from another origin is fetched with CORS.
    assert script.headers["access-control-allow-origin"] == frontend
    for name in (
        "export function createClient",
        "export const session",
        "export const login",
        "export const logout",
        "export const fetch",
    ):
        assert name in script.text
    assert style.headers["content-type"] == "text/css; charset=utf-8"
    assert "set-cookie" not in script.headers
