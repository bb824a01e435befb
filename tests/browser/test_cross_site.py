"""Another site against authsvc, in Chromium: forged form posts are refused and change nothing,
its script cannot read authsvc's answers, and SameSite keeps the cookies where they belong.

authsvc runs on http://127.0.0.1:PORT; the attacker's pages on http://localhost:PORT2, which
is another site (a site is the scheme and the host; ports do not count)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import MakeContext
from tests.browser.test_pages import cookie_names, sign_in
from tests.helpers.browser import Servers
from tests.helpers.defaults import PASSWORD


def attacker_pages(directory: Path, authsvc: str) -> Path:
    """Pages another site serves: self-submitting forms, a credentialed read, a plain link."""
    directory.mkdir()
    pages = {
        "logout.html": f"""<!doctype html><form id="f" method="post"
            action="{authsvc}/logout?everywhere=true"></form>
            <script>document.getElementById("f").submit()</script>""",
        # A JSON body smuggled through a text/plain form, the classic attack on JSON endpoints.
        "password.html": f"""<!doctype html><form id="f" method="post" enctype="text/plain"
            action="{authsvc}/password"><input type="hidden" name='{{"current_password":
            "{PASSWORD}", "new_password": "attacker chose this one", "x": "' value='"}}'></form>
            <script>document.getElementById("f").submit()</script>""",
        "urlencoded.html": f"""<!doctype html><form id="f" method="post"
            action="{authsvc}/ui/account/password"><input name="current_password"
            value="{PASSWORD}"><input name="new_password" value="attacker chose this one">
            </form><script>document.getElementById("f").submit()</script>""",
        "read.html": f"""<!doctype html><script>
            fetch("{authsvc}/session", {{credentials: "include"}})
              .then((r) => r.text()).then((t) => {{ document.title = "read: " + t; }})
              .catch((e) => {{ document.title = "blocked: " + e.name; }});
            </script>""",
        "link.html": f"""<!doctype html><a id="go" href="{authsvc}/logout">authsvc</a>""",
    }
    for name, html in pages.items():
        (directory / name).write_text(html)
    return directory


@pytest.mark.parametrize(
    ("page_name", "path"),
    [
        ("logout.html", "/logout?everywhere=true"),
        ("password.html", "/password"),
        ("urlencoded.html", "/ui/account/password"),
    ],
)
def test_a_forged_form_post_is_refused_and_changes_nothing(
    servers: Servers,
    browser_database: str,
    alice: str,
    new_context: MakeContext,
    tmp_path: Path,
    page_name: str,
    path: str,
) -> None:
    authsvc = servers.authsvc(browser_database)
    site = servers.pages(attacker_pages(tmp_path / "site", authsvc.url), host="localhost")
    context = new_context()
    page = context.new_page()
    sign_in(page, authsvc.url)
    held = {cookie["name"]: cookie["value"] for cookie in context.cookies()}
    with page.expect_response(f"{authsvc.url}{path}") as answer:
        page.goto(f"{site.url}/{page_name}")
    response = answer.value
    assert response.status in (401, 403), response.status
    headers = response.all_headers()
    assert "set-cookie" not in headers
    assert "clear-site-data" not in headers
    # The browser kept every cookie, and the user is still signed in with the same password.
    assert {cookie["name"]: cookie["value"] for cookie in context.cookies()} == held
    page.goto(f"{authsvc.url}/ui/account")
    expect(page.locator("#username")).to_have_text("alice")
    login = httpx.post(
        f"{authsvc.url}/login", json={"username": "alice", "password": PASSWORD}, timeout=10
    )
    assert login.status_code == 200


def test_another_site_cannot_read_authsvc_answers(
    servers: Servers, browser_database: str, alice: str, new_context: MakeContext, tmp_path: Path
) -> None:
    authsvc = servers.authsvc(browser_database)
    site = servers.pages(attacker_pages(tmp_path / "site", authsvc.url), host="localhost")
    page = new_context().new_page()
    sign_in(page, authsvc.url)
    page.goto(f"{site.url}/read.html")
    expect(page).to_have_title("blocked: TypeError")


@pytest.mark.parametrize("samesite", ["lax", "strict"])
def test_cookies_on_a_cross_site_navigation_follow_samesite(
    servers: Servers,
    browser_database: str,
    alice: str,
    new_context: MakeContext,
    tmp_path: Path,
    samesite: str,
) -> None:
    """The refresh cookie is Strict whatever the setting; the access cookie follows the setting.

    Both are looked for on a top-level navigation to /logout (a GET, answered 405), the one path
    both cookies are sent to."""
    authsvc = servers.authsvc(browser_database, AUTHSVC_COOKIE_SAMESITE=samesite)
    site = servers.pages(attacker_pages(tmp_path / "site", authsvc.url), host="localhost")
    context = new_context()
    page = context.new_page()
    sign_in(page, authsvc.url)
    assert {"authsvc_at", "authsvc_rt"} <= cookie_names(context)

    page.goto(f"{site.url}/link.html")
    with page.expect_request(f"{authsvc.url}/logout") as followed:
        page.click("#go")
    cross_site = followed.value.all_headers().get("cookie", "")
    assert "authsvc_rt=" not in cross_site
    assert ("authsvc_at=" in cross_site) is (samesite == "lax")
    # Typed into the address bar (no site involved) the same request carries both, so the
    # check above can fail.
    with page.expect_request(f"{authsvc.url}/logout") as typed:
        page.goto(f"{authsvc.url}/logout")
    direct = typed.value.all_headers().get("cookie", "")
    assert "authsvc_rt=" in direct
    assert "authsvc_at=" in direct
