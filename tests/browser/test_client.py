"""authsvc.js in Chromium: an app on another origin of the same site, open in five tabs, keeps
working across several access-token expiries with exactly one refresh per expiry, and a stolen
refresh token, once reused, signs every tab out.

authsvc runs in this process on a real socket with an injected clock, so tokens expire when the
test moves the clock, not after minutes of waiting."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
from playwright.sync_api import Page, Request

from authsvc.config import Settings
from authsvc.passwords.hashing import Argon2Hasher
from tests.browser.conftest import MakeContext
from tests.helpers.browser import REPO, Servers, serve_in_thread
from tests.helpers.clock import FakeClock
from tests.helpers.defaults import PASSWORD, TEST_SECRET
from tests.helpers.processes import free_port

TABS = 5
EXPIRIES = 3
TTL = 120

APP = """<!doctype html>
<title>app</title>
<script type="module">
  import { createClient } from "./authsvc.js";
  const auth = createClient({ baseUrl: new URLSearchParams(location.search).get("authsvc") });
  window.auth = auth;
  window.events = [];
  for (const type of ["signedin", "refreshed", "signedout"]) {
    auth.addEventListener(type, () => window.events.push(type));
  }
  window.ready = true;
</script>
"""


def the_app(directory: Path) -> Path:
    """An app that vendors authsvc.js, as the docs suggest."""
    directory.mkdir()
    shutil.copy(REPO / "authsvc" / "ui" / "static" / "authsvc.js", directory / "authsvc.js")
    (directory / "index.html").write_text(APP)
    return directory


def call_in_every_tab(tabs: list[Page], script: str, argument: str) -> list[object]:
    """Start `script` in every tab at once, then collect what each one resolved to."""
    for tab in tabs:
        tab.evaluate(f"(argument) => {{ window.pending = ({script})(argument); }}", argument)
    return [tab.evaluate("() => window.pending") for tab in tabs]


FETCH_SESSION = "(base) => window.auth.fetch(base + '/session').then((r) => r.status)"


def test_five_tabs_share_one_refresh_per_expiry_and_a_theft_signs_all_out(
    servers: Servers,
    browser_database: str,
    alice: str,
    new_context: MakeContext,
    tmp_path: Path,
    fast_hasher: Argon2Hasher,
) -> None:
    port = free_port()
    app = servers.pages(the_app(tmp_path / "app"))  # http://127.0.0.1:OTHER: same site
    authsvc_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        _env_file=None,
        database_url=browser_database,
        key_encryption_secret=TEST_SECRET,
        cookie_secure="false",
        issuer=authsvc_url,
        allowed_origins=f"{authsvc_url},{app.url}",
        access_token_ttl_seconds=TTL,
        clock_leeway_seconds=0,
    )
    clock = FakeClock()
    with serve_in_thread(settings, port=port, clock=clock, hasher=fast_hasher) as base:
        context = new_context()
        refreshes: list[str] = []

        def count(request: Request) -> None:
            if request.method == "POST" and request.url == f"{base}/refresh":
                refreshes.append(request.url)

        context.on("request", count)
        tabs = [context.new_page() for _ in range(TABS)]
        for tab in tabs:
            tab.goto(f"{app.url}/index.html?authsvc={base}")
            tab.wait_for_function("window.ready === true")
        assert tabs[0].evaluate("typeof navigator.locks.request") == "function"
        user = tabs[0].evaluate(
            "(password) => window.auth.login({username: 'alice', password})"
            ".then((body) => body.user.username)",
            PASSWORD,
        )
        assert user == "alice"
        assert call_in_every_tab(tabs, FETCH_SESSION, base) == [200] * TABS
        assert refreshes == []

        for expiry in range(1, EXPIRIES + 1):
            clock.advance(TTL + 1)
            assert call_in_every_tab(tabs, FETCH_SESSION, base) == [200] * TABS, expiry
            assert len(refreshes) == expiry
        for tab in tabs:
            assert "signedout" not in tab.evaluate("window.events")

        # A thief copied the refresh token; the tabs rotate it at the next expiry, and when the
        # thief presents the old one (after the two-tabs grace), that reuse is a theft.
        stolen = next(c["value"] for c in context.cookies() if c["name"] == "authsvc_rt")
        clock.advance(TTL + 1)
        assert call_in_every_tab(tabs, FETCH_SESSION, base) == [200] * TABS
        assert len(refreshes) == EXPIRIES + 1
        clock.advance(settings.refresh_grace_seconds + 1)
        with httpx.Client(base_url=base) as thief:
            thief.get("/session")  # a CSRF cookie, as any client can get one
            thief.cookies.set("authsvc_rt", stolen)
            csrf = thief.cookies["authsvc_csrf"]
            reuse = thief.post("/refresh", headers={"Origin": base, "X-CSRF-Token": csrf})
        assert (reuse.status_code, reuse.json()["error"]) == (401, "refresh_token_reused")

        assert call_in_every_tab(tabs, FETCH_SESSION, base) == [401] * TABS
        for tab in tabs:
            assert "signedout" in tab.evaluate("window.events")
            assert tab.evaluate("window.auth.session()") is None
