"""The second factor in Chromium, without JavaScript on the pages: add an authenticator app from
the account page (QR code), sign out, sign in with the password and a recovery code; the new
pages fit a phone's and a desktop's screen, and `make screenshots` keeps pictures of them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pyotp
from playwright.sync_api import Page, expect

from authsvc.passwords.hashing import Argon2Hasher
from tests.browser.conftest import MakeContext
from tests.browser.test_pages import cookie_names, sign_in
from tests.browser.test_screenshots import THIS_DEVICE, WIDTHS, shoot
from tests.helpers.browser import Servers
from tests.helpers.database import add_user
from tests.helpers.defaults import PASSWORD

TARGET = os.environ.get("AUTHSVC_TEST_SCREENSHOTS")


def test_add_an_app_then_sign_in_with_the_second_step(
    servers: Servers,
    browser_database: str,
    fast_hasher: Argon2Hasher,
    new_context: MakeContext,
    tmp_path: Path,
) -> None:
    shots = tmp_path / "shots"
    shots.mkdir()
    for number in range(len(WIDTHS)):
        add_user(browser_database, f"user{number}", PASSWORD, hasher=fast_hasher)
    authsvc = servers.authsvc(browser_database)
    for number, (device, (width, height)) in enumerate(WIDTHS.items()):
        username = f"user{number}"
        context = new_context(
            viewport={"width": width, "height": height},
            user_agent=THIS_DEVICE,
            color_scheme="light",
        )
        page = context.new_page()
        codes = enrol(page, authsvc.url, username, shots, device)

        page.locator("header").get_by_role("button", name="Sign out").click()
        page.goto(f"{authsvc.url}/ui/account")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{authsvc.url}/ui/login/mfa?next=%2Fui%2Faccount")
        # The password alone gave a step cookie, no token.
        assert "authsvc_at" not in cookie_names(context)
        shoot(page, shots, f"login-mfa-{device}")
        page.get_by_label("Code from your authenticator app").fill("000000")
        page.get_by_role("button", name="Verify").click()
        expect(page.get_by_role("alert")).to_have_text("The code is not valid.")
        page.get_by_text("Lost your device? Use a recovery code").click()
        page.get_by_role("textbox", name="Recovery code").fill(codes[0])
        page.get_by_role("button", name="Use recovery code").click()
        expect(page).to_have_url(f"{authsvc.url}/ui/account")
        expect(page.locator("#recovery-left")).to_have_text("Recovery codes left: 9 of 10")
        assert "authsvc_at" in cookie_names(context)
    assert len(list(shots.iterdir())) == 4 * len(WIDTHS)
    if TARGET:
        for shot in shots.iterdir():
            shutil.copy(shot, Path(TARGET) / shot.name)


def enrol(page: Page, url: str, username: str, shots: Path, device: str) -> list[str]:
    """Add an authenticator app from the account page; the recovery codes it showed."""
    sign_in(page, url, username)
    expect(page.locator("#factors")).to_have_text("No second factor yet.")
    page.get_by_role("button", name="Add an authenticator app").click()
    expect(page.locator("#totp-qr svg")).to_be_visible()
    shoot(page, shots, f"mfa-enrol-{device}")
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    shoot(page, shots, f"recovery-codes-{device}")
    page.get_by_role("link", name="I have saved them, continue").click()
    expect(page.locator("#recovery-left")).to_have_text("Recovery codes left: 10 of 10")
    shoot(page, shots, f"account-security-{device}")
    return codes
