"""Over HTTPS (a certificate the test makes, which Chromium is told to accept): the cookies are
Secure with their `__Host-`/`__Secure-` names, and signing in and out works as over HTTP."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.browser.conftest import MakeContext
from tests.browser.test_pages import cookie_names, sign_in
from tests.helpers.browser import Servers, Tls


def test_over_https_the_cookies_are_secure_and_prefixed(
    servers: Servers, browser_database: str, alice: str, new_context: MakeContext, tmp_path: Path
) -> None:
    authsvc = servers.authsvc(browser_database, tls=Tls(tmp_path))
    assert authsvc.url.startswith("https://")
    context = new_context(ignore_https_errors=True)
    page = context.new_page()
    sign_in(page, authsvc.url)
    held = {(cookie["name"], cookie["path"]): cookie for cookie in context.cookies()}
    assert set(held) == {
        ("__Host-authsvc_at", "/"),
        ("__Secure-authsvc_rt", "/refresh"),
        ("__Secure-authsvc_rt", "/logout"),
        ("__Host-authsvc_csrf", "/"),
    }
    for cookie in held.values():
        assert cookie["secure"] is True
        # Host-only: no Domain attribute, so the browser reports the bare host.
        assert cookie["domain"] == "127.0.0.1"
    assert held[("__Host-authsvc_at", "/")]["httpOnly"] is True
    assert held[("__Secure-authsvc_rt", "/refresh")]["sameSite"] == "Strict"
    assert page.evaluate("document.cookie").startswith("__Host-authsvc_csrf=")

    page.locator("header").get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{authsvc.url}/ui/login?notice=signed-out")
    assert not cookie_names(context) & {"__Host-authsvc_at", "__Secure-authsvc_rt"}
    page.goto(f"{authsvc.url}/ui/account")
    expect(page).to_have_url(f"{authsvc.url}/ui/login?next=%2Fui%2Faccount")
