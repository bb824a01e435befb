"""Every page at a phone's width (390 px) and a desktop's (1280 px): nothing wider than the
screen, and a screenshot of each. `make screenshots` writes them to docs/screenshots/."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.sync_api import Page, expect

from authsvc.passwords.hashing import Argon2Hasher
from tests.browser.conftest import MakeContext
from tests.browser.test_pages import sign_in
from tests.helpers.browser import Servers
from tests.helpers.database import add_user
from tests.helpers.defaults import PASSWORD
from tests.helpers.mail import SENDER, Inbox, link_in, mail_server

WIDTHS = {"phone": (390, 844), "desktop": (1280, 800)}
OTHER_DEVICE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
THIS_DEVICE = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
# Where `make screenshots` wants them (the suite chdirs into a temporary folder per test).
TARGET = os.environ.get("AUTHSVC_TEST_SCREENSHOTS")


def shoot(page: Page, directory: Path, name: str) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name} is {overflow}px wider than the screen"
    page.screenshot(path=str(directory / f"{name}.png"), full_page=True, animations="disabled")


def test_every_page_fits_the_screen(
    servers: Servers,
    browser_database: str,
    fast_hasher: Argon2Hasher,
    new_context: MakeContext,
    tmp_path: Path,
) -> None:
    add_user(browser_database, "alice", PASSWORD, hasher=fast_hasher, email="alice@example.com")
    shots = tmp_path / "shots"
    shots.mkdir()
    with mail_server() as mail:
        authsvc = servers.authsvc(
            browser_database,
            AUTHSVC_REGISTRATION="open",
            AUTHSVC_SMTP_URL=mail.url(),
            AUTHSVC_MAIL_FROM=SENDER,
        )
        sign_in(new_context(user_agent=OTHER_DEVICE).new_page(), authsvc.url)
        for device, (width, height) in WIDTHS.items():
            pages_at(new_context, authsvc.url, device, width, height, shots, mail.inbox)
    assert len(list(shots.iterdir())) == 9 * len(WIDTHS)
    if TARGET:
        for shot in shots.iterdir():
            shutil.copy(shot, Path(TARGET) / shot.name)


def mailed_link(inbox: Inbox, page: str, number: int) -> str:
    """The link to `page` in the `number`-th message the relay received (waiting for it)."""
    return link_in(inbox.wait_for(number, timeout=30)[number - 1], page)


def pages_at(
    new_context: MakeContext,
    url: str,
    device: str,
    width: int,
    height: int,
    shots: Path,
    inbox: Inbox,
) -> None:
    """Each page and its error state, at one screen size."""
    page = new_context(
        viewport={"width": width, "height": height}, user_agent=THIS_DEVICE, color_scheme="light"
    ).new_page()

    page.goto(f"{url}/ui/login")
    shoot(page, shots, f"login-{device}")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Invalid username or password.")
    shoot(page, shots, f"login-error-{device}")

    page.goto(f"{url}/ui/register")
    shoot(page, shots, f"register-{device}")

    sign_in(page, url)
    expect(page.locator("li.device")).to_have_count(2)
    shoot(page, shots, f"account-{device}")
    page.get_by_label("Current password").fill("wrong current password")
    page.get_by_label("New password").fill("a fine new passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#current_password-error")).to_be_visible()
    shoot(page, shots, f"account-error-{device}")
    # Counted before asking: the mail may arrive before the next line runs.
    number = len(inbox.messages) + 1
    page.get_by_role("button", name="Send the confirmation link").click()
    expect(page.get_by_role("status")).to_have_text(
        "A link to confirm your email address is on its way to it."
    )
    page.goto(mailed_link(inbox, "/ui/verify-email", number))
    expect(page.get_by_role("button", name="Confirm my address")).to_be_visible()
    shoot(page, shots, f"verify-email-{device}")
    page.goto(f"{url}/ui/account")
    page.locator("header").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{url}/ui/login?notice=signed-out")

    page.get_by_role("link", name="Forgot your password?").click()
    shoot(page, shots, f"forgot-{device}")
    page.get_by_label("Username or email address").fill("alice")
    number = len(inbox.messages) + 1
    page.get_by_role("button", name="Send the link").click()
    expect(page.get_by_role("status")).to_be_visible()
    page.goto(mailed_link(inbox, "/ui/reset", number))
    shoot(page, shots, f"reset-{device}")
    page.get_by_label("New password", exact=True).fill("1234567890qwerty")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.locator("#new_password-error")).to_be_visible()
    shoot(page, shots, f"reset-error-{device}")
