"""The pages a mailed link needs: /ui/forgot, /ui/reset, /ui/verify-email, and the account
page's address section; over a real SMTP server, as a browser without JavaScript drives them."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from authsvc.config import Settings
from tests.helpers.defaults import ISSUER, PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.headers import comparable_headers
from tests.helpers.mail import MailServer, mail_settled, token_in
from tests.helpers.pages import sign_in_through_page, submit

NEW_PASSWORD = "a brand new passphrase"
EVIL = "https://evil.example"
DEAD_LINK = "This link does not work: it was used already, a newer one was sent, or it has expired."
NEUTRAL = (
    "If an account goes by that name and has an email address, a link to choose a new "
    "password is on its way to it."
)


async def ask_for_reset(client: httpx.AsyncClient, login: str) -> httpx.Response:
    page = await client.get("/ui/forgot")
    assert page.status_code == 200, page.text
    return await submit(client, page, "/ui/forgot", {"login": login})


async def reset_token(client: httpx.AsyncClient, mail: MailServer, login: str = "alice") -> str:
    sent = len(mail.inbox.messages)
    assert (await ask_for_reset(client, login)).status_code == 303
    return token_in(mail.inbox.wait_for(sent + 1)[sent], "/ui/reset")


def csp(response: httpx.Response) -> dict[str, str]:
    return dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )


async def test_without_a_relay_the_pages_answer_404_and_are_not_offered(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser
) -> None:
    make_user(email="alice@example.com")
    async with client_factory(settings, browser=False) as client:
        for path in ("/ui/forgot", "/ui/reset?token=x", "/ui/verify-email?token=x"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"] == "not_found"
        login = await client.get("/ui/login")
        assert 'href="/ui/forgot"' not in login.text
        assert (await sign_in_through_page(client)).status_code == 303
        account = await client.get("/ui/account")
        assert '<span id="email">alice@example.com</span>' in account.text
        assert "/ui/account/verify-email" not in account.text
        for path in ("/ui/forgot", "/ui/reset", "/ui/verify-email", "/ui/account/verify-email"):
            response = await submit(client, account, path, {"login": "alice", "token": "x"})
            assert response.status_code == 404, path


async def test_the_sign_in_page_offers_the_forgot_page(
    client_factory: ClientFactory, mail_settings: Settings
) -> None:
    async with client_factory(mail_settings, browser=False) as client:
        login = await client.get("/ui/login")
        assert '<a href="/ui/forgot">Forgot your password?</a>' in login.text
        page = await client.get("/ui/forgot")
    assert page.status_code == 200
    assert re.search(
        r'<input id="login" name="login" type="text"[^>]*autocomplete="username"', page.text
    )
    assert '<label for="login">Username or email address</label>' in page.text
    assert csp(page)["default-src"] == "'none'"
    assert page.headers["cache-control"] == "no-store"


async def test_forgot_answers_alike_for_existing_addressless_and_unknown_accounts(
    client_factory: ClientFactory,
    mail_settings: Settings,
    mail: MailServer,
    make_user: MakeUser,
) -> None:
    make_user(email="alice@example.com")
    make_user("bob")
    async with client_factory(mail_settings, browser=False) as client:
        answers = {
            login: await ask_for_reset(client, login) for login in ("alice", "bob", "nobody")
        }
        landings = [await client.get(answer.headers["location"]) for answer in answers.values()]
        await mail_settled(client)
    for answer in answers.values():
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ui/forgot?notice=reset-link-sent"
    assert len({tuple(comparable_headers(answer)) for answer in answers.values()}) == 1
    assert len({landing.text for landing in landings}) == 1
    assert f'<p class="notice" role="status">{NEUTRAL}</p>' in landings[0].text
    [message] = mail.inbox.messages
    assert message["To"] == "alice@example.com"


async def test_forgot_needs_a_name_and_says_when_to_try_again(
    client_factory: ClientFactory, make_settings: MakeSettings, mail: MailServer
) -> None:
    settings = make_settings(**mail.settings(), mail_limit_client_account="1/hour")
    async with client_factory(settings, browser=False) as client:
        page = await client.get("/ui/forgot")
        empty = await submit(client, page, "/ui/forgot", {"login": "  "})
        assert empty.status_code == 400
        assert 'id="login-error">Enter your username or email address.</p>' in empty.text
        assert (await submit(client, page, "/ui/forgot", {"login": "nobody"})).status_code == 303
        throttled = await submit(client, page, "/ui/forgot", {"login": "nobody"})
    assert throttled.status_code == 429
    wait = int(throttled.headers["retry-after"])
    assert f"Too many requests. Try again in {wait} seconds." in throttled.text


async def test_a_password_is_reset_through_the_mailed_link(
    client_factory: ClientFactory,
    mail_settings: Settings,
    mail: MailServer,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user(email="alice@example.com")
    async with client_factory(mail_settings, browser=False) as client:
        token = await reset_token(client, mail)
        page = await client.get("/ui/reset", params={"token": token})
        assert page.status_code == 200
        assert f'<input type="hidden" name="token" value="{token}">' in page.text
        assert '<strong id="username">alice</strong>' in page.text
        assert re.search(
            r'<input id="new_password" name="new_password" type="password"[^>]*'
            r'autocomplete="new-password"[^>]*minlength="12"',
            page.text,
        )
        assert "At least 12 characters, and not a common password." in page.text

        weak = await submit(client, page, "/ui/reset", {"token": token, "new_password": "short"})
        assert weak.status_code == 400
        assert 'id="new_password-error">A password has at least 12 characters.</p>' in weak.text
        # The refused attempt did not use the link up.
        assert f'value="{token}"' in weak.text
        assert db_query("SELECT used_at FROM account_tokens")[0][0] is None

        fields = {"token": token, "new_password": NEW_PASSWORD}
        done = await submit(client, weak, "/ui/reset", fields)
        assert done.status_code == 303
        assert done.headers["location"] == "/ui/login?notice=password-reset"
        landing = await client.get(done.headers["location"])
        assert "Sign in with the new one." in landing.text
        assert (await sign_in_through_page(client, password=PASSWORD)).status_code == 401
        assert (await sign_in_through_page(client, password=NEW_PASSWORD)).status_code == 303


async def test_a_dead_link_says_so_and_offers_a_new_one(
    client_factory: ClientFactory,
    mail_settings: Settings,
    mail: MailServer,
    make_user: MakeUser,
) -> None:
    make_user(email="alice@example.com")
    async with client_factory(mail_settings, browser=False) as client:
        used = await reset_token(client, mail)
        page = await client.get("/ui/reset", params={"token": used})
        fields = {"token": used, "new_password": NEW_PASSWORD}
        assert (await submit(client, page, "/ui/reset", fields)).status_code == 303
        dead = [
            await client.get("/ui/reset", params={"token": used}),
            await client.get("/ui/reset", params={"token": "x" * 43}),
            # A link cut or padded in transit is a dead link too, never a JSON error.
            await client.get("/ui/reset", params={"token": "x" * 129}),
            await client.get("/ui/reset"),
            await submit(client, page, "/ui/reset", fields),
        ]
    for response in dead:
        assert response.status_code == 400
        assert DEAD_LINK in response.text
        assert '<a href="/ui/forgot">Ask for a new link</a>' in response.text
        assert 'name="new_password"' not in response.text


async def test_token_pages_keep_the_token_out_of_referers_and_logs(
    client_factory: ClientFactory,
    mail_settings: Settings,
    mail: MailServer,
    make_user: MakeUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    make_user(email="alice@example.com")
    caplog.set_level(logging.DEBUG, logger="authsvc")
    async with client_factory(mail_settings, browser=False) as client:
        token = await reset_token(client, mail)
        pages = [
            await client.get("/ui/reset", params={"token": token}),
            await client.get("/ui/reset", params={"token": "x" * 43}),
            await client.get("/ui/verify-email", params={"token": token}),
        ]
        other = await client.get("/ui/forgot")
    for page in pages:
        # Only the origin, never the address with its query, in any Referer the page causes.
        assert page.headers["referrer-policy"] == "strict-origin"
        assert page.headers["cache-control"] == "no-store"
        assert "'none'" == csp(page)["default-src"]
    assert other.headers["referrer-policy"] == "same-origin"
    # What the service logs (the test's own client and relay log the link themselves).
    logged = "\n".join(
        f"{record.getMessage()} {record.__dict__}"
        for record in caplog.records
        if record.name.startswith("authsvc")
    )
    assert "/ui/reset" in logged  # the access log saw the requests...
    assert token not in logged  # ...but not their query


async def test_the_forms_refuse_another_site_and_a_missing_token(
    client_factory: ClientFactory,
    mail_settings: Settings,
    mail: MailServer,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user(email="alice@example.com")
    async with client_factory(mail_settings, browser=False) as client:
        token = await reset_token(client, mail)
        page = await client.get("/ui/reset", params={"token": token})
        forged = [
            await submit(client, page, "/ui/forgot", {"login": "alice"}, origin=EVIL),
            await submit(
                client,
                page,
                "/ui/reset",
                {"token": token, "new_password": NEW_PASSWORD},
                origin=EVIL,
            ),
            await submit(client, page, "/ui/verify-email", {"token": token}, origin=EVIL),
            await client.post(
                "/ui/reset",
                data={"token": token, "new_password": NEW_PASSWORD},
                headers={"Origin": ISSUER},
            ),
        ]
        await mail_settled(client)
    for response in forged:
        assert response.status_code == 403
        assert response.json()["error"] == "csrf_failed"
    assert db_query("SELECT used_at FROM account_tokens")[0][0] is None
    assert len(mail.inbox.messages) == 1


async def test_an_address_is_confirmed_from_the_account_page_and_the_mailed_link(
    client_factory: ClientFactory,
    mail_settings: Settings,
    mail: MailServer,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user(email="alice@example.com")
    async with client_factory(mail_settings, browser=False) as client:
        assert (await sign_in_through_page(client)).status_code == 303
        account = await client.get("/ui/account")
        assert '<span id="email">alice@example.com</span>' in account.text
        assert 'id="email-status">Not confirmed</span>' in account.text
        asked = await submit(client, account, "/ui/account/verify-email", {})
        assert asked.status_code == 303
        assert asked.headers["location"] == "/ui/account?notice=verification-sent"
        token = token_in(mail.inbox.wait_for(1)[0], "/ui/verify-email")

        page = await client.get("/ui/verify-email", params={"token": token})
        assert page.status_code == 200
        assert '<strong id="address">alice@example.com</strong>' in page.text
        assert '<button type="submit"' in page.text
        # Opening the link (a mail scanner does) confirms nothing: only the button's POST does.
        assert db_query("SELECT email_verified_at FROM users")[0][0] is None

        done = await submit(client, page, "/ui/verify-email", {"token": token})
        assert done.status_code == 303
        assert done.headers["location"] == "/ui/account?notice=email-verified"
        after = await client.get(done.headers["location"])
        assert "Your email address is confirmed." in after.text
        assert 'id="email-status">Confirmed</span>' in after.text
        assert "/ui/account/verify-email" not in after.text
        again = await submit(client, page, "/ui/verify-email", {"token": token})
        assert again.status_code == 400
        assert DEAD_LINK in again.text
        padded = await client.get("/ui/verify-email", params={"token": token + "x" * 129})
        assert padded.status_code == 400
        assert DEAD_LINK in padded.text
    assert db_query("SELECT email_verified_at FROM users")[0][0] is not None


async def test_a_link_opened_signed_out_confirms_and_leads_to_sign_in(
    client_factory: ClientFactory,
    mail_settings: Settings,
    mail: MailServer,
    make_user: MakeUser,
) -> None:
    make_user(email="alice@example.com")
    async with client_factory(mail_settings, browser=False) as client:
        assert (await sign_in_through_page(client)).status_code == 303
        account = await client.get("/ui/account")
        assert (await submit(client, account, "/ui/account/verify-email", {})).status_code == 303
        token = token_in(mail.inbox.wait_for(1)[0], "/ui/verify-email")
    async with client_factory(mail_settings, browser=False) as elsewhere:
        page = await elsewhere.get("/ui/verify-email", params={"token": token})
        done = await submit(elsewhere, page, "/ui/verify-email", {"token": token})
        assert done.status_code == 303
        assert done.headers["location"] == "/ui/login?notice=email-verified"


async def test_sign_in_explains_an_unconfirmed_address(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    mail: MailServer,
    make_user: MakeUser,
) -> None:
    make_user(email="alice@example.com")
    settings = make_settings(**mail.settings(), require_verified_email=True)
    async with client_factory(settings, browser=False) as client:
        refused = await sign_in_through_page(client)
        await mail_settled(client)
    assert refused.status_code == 403
    assert "Confirm your email address first" in refused.text
    assert 'role="alert"' in refused.text
    assert len(mail.inbox.messages) == 1
