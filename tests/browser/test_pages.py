"""The hosted pages in Chromium: signing in and out, two devices, and no JavaScript at all."""

from __future__ import annotations

from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import MakeContext
from tests.helpers.browser import ServerProcess, Servers
from tests.helpers.defaults import PASSWORD


def sign_in(page: Page, url: str, username: str = "alice", password: str = PASSWORD) -> None:
    """From the account page, through the sign-in form, back to the account page."""
    page.goto(f"{url}/ui/account")
    expect(page).to_have_url(f"{url}/ui/login?next=%2Fui%2Faccount")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{url}/ui/account")
    expect(page.locator("#username")).to_have_text(username)


def cookie_names(context: BrowserContext) -> set[str]:
    return {cookie["name"] for cookie in context.cookies()}


def test_signing_in_keeps_the_tokens_out_of_reach_of_scripts(
    servers: Servers, browser_database: str, alice: str, new_context: MakeContext
) -> None:
    authsvc = servers.authsvc(browser_database)
    context = new_context(user_agent="device-one (Chromium under test)")
    page = context.new_page()
    sign_in(page, authsvc.url)
    # The browser holds both tokens, HttpOnly; the page's script sees only the CSRF token.
    held = {cookie["name"]: cookie for cookie in context.cookies()}
    assert held["authsvc_at"]["httpOnly"] is True
    assert held["authsvc_rt"]["httpOnly"] is True
    assert held["authsvc_csrf"]["httpOnly"] is False
    visible = page.evaluate("document.cookie")
    assert "authsvc_csrf=" in visible
    assert "authsvc_at" not in visible
    assert "authsvc_rt" not in visible
    devices = page.locator("li.device")
    expect(devices).to_have_count(1)
    expect(devices.first).to_contain_text("device-one (Chromium under test)")
    expect(devices.first).to_contain_text("This device")


def test_signing_out_from_the_page_removes_the_cookies(
    servers: Servers, browser_database: str, alice: str, new_context: MakeContext
) -> None:
    authsvc = servers.authsvc(browser_database)
    context = new_context()
    page = context.new_page()
    sign_in(page, authsvc.url)
    page.locator("header").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{authsvc.url}/ui/login?notice=signed-out")
    expect(page.get_by_role("status")).to_have_text("You have signed out.")
    assert not cookie_names(context) & {"authsvc_at", "authsvc_rt"}
    page.goto(f"{authsvc.url}/ui/account")
    expect(page).to_have_url(f"{authsvc.url}/ui/login?next=%2Fui%2Faccount")


def test_one_device_signs_out_another_then_everywhere(
    servers: Servers, browser_database: str, alice: str, new_context: MakeContext
) -> None:
    authsvc = servers.authsvc(browser_database)
    laptop = new_context(user_agent="laptop").new_page()
    phone = new_context(user_agent="phone").new_page()
    sign_in(phone, authsvc.url)
    sign_in(laptop, authsvc.url)
    rows = laptop.locator("li.device")
    expect(rows).to_have_count(2)
    phone_row = laptop.locator("li.device", has_text="phone")
    expect(phone_row).not_to_contain_text("This device")
    phone_row.get_by_role("button", name="Sign out").click()
    expect(laptop.get_by_role("status")).to_have_text("That device has been signed out.")
    expect(laptop.locator("li.device")).to_have_count(1)
    # The phone's next request is refused: back to the sign-in page.
    phone.goto(f"{authsvc.url}/ui/account")
    expect(phone).to_have_url(f"{authsvc.url}/ui/login?next=%2Fui%2Faccount")

    sign_in(phone, authsvc.url)
    laptop.reload()
    expect(laptop.locator("li.device")).to_have_count(2)
    laptop.get_by_role("button", name="Sign out everywhere").click()
    expect(laptop).to_have_url(f"{authsvc.url}/ui/login?notice=signed-out-everywhere")
    # The phone still holds its cookies, and the API refuses them: the token version moved on.
    answer = phone.context.request.get(f"{authsvc.url}/session")
    assert (answer.status, answer.json()["error"]) == (401, "token_revoked")
    phone.goto(f"{authsvc.url}/ui/account")
    expect(phone).to_have_url(f"{authsvc.url}/ui/login?next=%2Fui%2Faccount")


def test_without_javascript_the_forms_still_sign_in_and_out(
    servers: Servers, browser_database: str, alice: str, new_context: MakeContext
) -> None:
    authsvc: ServerProcess = servers.authsvc(browser_database)
    context = new_context(java_script_enabled=False)
    page = context.new_page()
    sign_in(page, authsvc.url)
    assert {"authsvc_at", "authsvc_rt"} <= cookie_names(context)
    page.get_by_role("button", name="Sign out everywhere").click()
    expect(page).to_have_url(f"{authsvc.url}/ui/login?notice=signed-out-everywhere")
    assert not cookie_names(context) & {"authsvc_at", "authsvc_rt"}
