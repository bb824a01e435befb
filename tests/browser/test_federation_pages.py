"""Signing in with an external provider in Chromium: the button, the provider's own page, back
to the account page signed in with the identity listed."""

from __future__ import annotations

import json

from playwright.sync_api import expect

from tests.browser.conftest import MakeContext
from tests.browser.test_pages import cookie_names
from tests.helpers.browser import Servers
from tests.helpers.oidc import running_provider


def test_sign_in_with_a_provider_from_the_sign_in_page(
    servers: Servers, browser_database: str, new_context: MakeContext
) -> None:
    with running_provider() as provider:
        provider.set_user("chromium-user", email="chromium@example.com", email_verified=True)
        setting = provider.provider_setting(display_name="Mock ID")
        authsvc = servers.authsvc(
            browser_database,
            AUTHSVC_REGISTRATION="open",
            AUTHSVC_OAUTH_PROVIDERS=json.dumps([setting]),
        )
        context = new_context()
        page = context.new_page()
        page.goto(f"{authsvc.url}/ui/login")
        page.get_by_role("link", name="Sign in with Mock ID").click()

        # The provider's own consent page, on its own origin.
        page.locator("input[name=sub]").fill("chromium-user")
        page.get_by_role("button", name="Authorize").click()

        expect(page).to_have_url(f"{authsvc.url}/ui/account")
        expect(page.locator("#identities")).to_contain_text("Mock ID (chromium@example.com)")
        assert "authsvc_at" in cookie_names(context)
