"""Passkeys in Chromium with the DevTools virtual authenticator: add one on the account page,
sign in with it alone, use it as the second step after the password, remove it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import Page, expect

from authsvc.passwords.hashing import Argon2Hasher
from tests.browser.conftest import MakeContext
from tests.browser.test_pages import cookie_names, sign_in
from tests.browser.test_screenshots import shoot
from tests.helpers.browser import Servers
from tests.helpers.database import add_user
from tests.helpers.defaults import PASSWORD

TARGET = os.environ.get("AUTHSVC_TEST_SCREENSHOTS")


def _sign_out(page: Page) -> None:
    page.locator("header").get_by_role("button", name="Sign out").click()


def test_add_a_passkey_then_sign_in_with_it_alone_and_as_second_step(
    servers: Servers,
    browser_database: str,
    fast_hasher: Argon2Hasher,
    new_context: MakeContext,
    tmp_path: Path,
) -> None:
    add_user(browser_database, "alice", PASSWORD, hasher=fast_hasher)
    # WebAuthn wants a host name, not an IP address, for the relying party.
    authsvc = servers.authsvc(browser_database, public_host="localhost")
    url = authsvc.url
    context = new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )

    sign_in(page, url)
    page.get_by_label("Passkey name").fill("This laptop")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator("#passkey-codes")).to_be_visible()
    assert len(page.locator("#passkey-codes").inner_text().split()) == 10
    shoot(page, tmp_path, "passkey-added")
    page.reload()
    expect(page.locator("#factors")).to_contain_text("This laptop")

    # The passkey alone.
    _sign_out(page)
    page.goto(f"{url}/ui/login")
    shoot(page, tmp_path, "login-passkey")
    page.get_by_role("button", name="Continue with a passkey").click()
    expect(page).to_have_url(f"{url}/ui/account")
    assert "authsvc_at" in cookie_names(context)

    # The password, then the passkey as the second step.
    _sign_out(page)
    page.goto(f"{url}/ui/account")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{url}/ui/login/mfa?next=%2Fui%2Faccount")
    shoot(page, tmp_path, "login-mfa-passkey")
    page.get_by_role("button", name="Use your passkey").click()
    expect(page).to_have_url(f"{url}/ui/account")

    # Removing it (the session showed the passkey: step-up holds).
    page.locator("#factors").get_by_role("button", name="Remove").click()
    expect(page.locator("#factors")).to_have_text("No second factor yet.")
    if TARGET:
        for shot in tmp_path.glob("*.png"):
            shutil.copy(shot, Path(TARGET) / shot.name)
