"""A forgotten password in Chromium: the forgot page, the real mail a real SMTP server received,
its link, a new password, and signing in with it; no Referer on the way carries the token."""

from __future__ import annotations

from playwright.sync_api import Request, expect

from authsvc.passwords.hashing import Argon2Hasher
from tests.browser.conftest import MakeContext
from tests.helpers.browser import Servers
from tests.helpers.database import add_user
from tests.helpers.defaults import PASSWORD
from tests.helpers.mail import SENDER, link_in, mail_server

NEW_PASSWORD = "a brand new passphrase"


def test_a_forgotten_password_is_reset_from_the_mailed_link(
    servers: Servers,
    browser_database: str,
    fast_hasher: Argon2Hasher,
    new_context: MakeContext,
) -> None:
    add_user(browser_database, "alice", PASSWORD, hasher=fast_hasher, email="alice@example.com")
    with mail_server() as mail:
        authsvc = servers.authsvc(
            browser_database, AUTHSVC_SMTP_URL=mail.url(), AUTHSVC_MAIL_FROM=SENDER
        )
        page = new_context().new_page()
        page.goto(f"{authsvc.url}/ui/login")
        page.get_by_role("link", name="Forgot your password?").click()
        page.get_by_label("Username or email address").fill("alice@example.com")
        page.get_by_role("button", name="Send the link").click()
        expect(page).to_have_url(f"{authsvc.url}/ui/forgot?notice=reset-link-sent")
        expect(page.get_by_role("status")).to_contain_text("a link to choose a new password")
        [message] = mail.inbox.wait_for(1, timeout=30)

    link = link_in(message, "/ui/reset")
    token = link.partition("?token=")[2]
    assert link.startswith(f"{authsvc.url}/ui/reset?token=")
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request))
    page.goto(link)
    expect(page.locator("#username")).to_have_text("alice")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set the new password").click()
    expect(page).to_have_url(f"{authsvc.url}/ui/login?notice=password-reset")
    expect(page.get_by_role("status")).to_contain_text("Sign in with the new one.")

    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{authsvc.url}/ui/account")
    expect(page.locator("#username")).to_have_text("alice")

    # Every request the reset page caused (its style sheet, the form post, what followed) sent
    # at most the origin as its Referer; the post kept the Origin the CSRF check asks for.
    caused = [request for request in sent if request.url != link]
    posts = [request for request in caused if request.method == "POST"]
    assert any(request.url.endswith("/ui/authsvc.css") for request in caused)
    assert [request.url for request in posts] == [
        f"{authsvc.url}/ui/reset",
        f"{authsvc.url}/ui/login",
    ]
    assert posts[0].all_headers()["origin"] == authsvc.url
    for request in caused:
        assert token not in request.all_headers().get("referer", ""), request.url
