"""The downstream example on the same site as authsvc reads the session the browser got from
authsvc's sign-in page: the access cookie goes along (cookies ignore ports), and the example
verifies it on its own."""

from __future__ import annotations

import json

from tests.browser.conftest import MakeContext
from tests.browser.test_pages import sign_in
from tests.helpers.browser import Servers


def test_the_downstream_example_reads_the_browser_session(
    servers: Servers, browser_database: str, alice: str, new_context: MakeContext
) -> None:
    authsvc = servers.authsvc(browser_database)
    downstream = servers.downstream(authsvc, browser_database)
    page = new_context().new_page()
    page.goto(f"{downstream.url}/hello")
    assert json.loads(page.inner_text("body"))["error"] == "not_authenticated"

    sign_in(page, authsvc.url)
    page.goto(f"{downstream.url}/hello")
    hello = json.loads(page.inner_text("body"))
    assert hello["user_id"] == alice

    page.goto(f"{authsvc.url}/ui/account")
    page.get_by_role("button", name="Sign out everywhere").click()
    page.goto(f"{downstream.url}/hello")
    assert json.loads(page.inner_text("body"))["error"] == "not_authenticated"
