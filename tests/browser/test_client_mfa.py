"""authsvc.js in Chromium with a second factor: login() hands back `mfa_required` without
signing anybody in, completeLogin() finishes with a TOTP code, and only then "signedin" fires."""

from __future__ import annotations

from pathlib import Path

import pyotp

from authsvc.config import Settings
from authsvc.passwords.hashing import Argon2Hasher
from tests.browser.conftest import MakeContext
from tests.browser.test_client import the_app
from tests.helpers.browser import Servers, serve_in_thread
from tests.helpers.clock import FakeClock
from tests.helpers.defaults import PASSWORD, TEST_SECRET
from tests.helpers.processes import free_port

POST_JSON = """([url, body]) => window.auth.fetch(url, {
  method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body),
}).then((r) => r.json())"""


def test_login_then_complete_login_with_a_code(
    servers: Servers,
    browser_database: str,
    alice: str,
    new_context: MakeContext,
    tmp_path: Path,
    fast_hasher: Argon2Hasher,
) -> None:
    port = free_port()
    app = servers.pages(the_app(tmp_path / "app"))
    authsvc_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        _env_file=None,
        database_url=browser_database,
        key_encryption_secret=TEST_SECRET,
        cookie_secure="false",
        issuer=authsvc_url,
        allowed_origins=f"{authsvc_url},{app.url}",
    )
    clock = FakeClock()
    with serve_in_thread(settings, port=port, clock=clock, hasher=fast_hasher) as base:
        tab = new_context().new_page()
        tab.goto(f"{app.url}/index.html?authsvc={base}")
        tab.wait_for_function("window.ready === true")
        tab.evaluate("(password) => window.auth.login({username: 'alice', password})", PASSWORD)
        begun = tab.evaluate(POST_JSON, [f"{base}/account/mfa/totp", {"name": "Phone"}])
        totp = pyotp.TOTP(begun["secret"])
        confirmed = tab.evaluate(
            POST_JSON,
            [
                f"{base}/account/mfa/totp/{begun['factor_id']}/confirm",
                {"code": totp.at(clock.now())},
            ],
        )
        assert len(confirmed["recovery_codes"]) == 10
        tab.evaluate("() => window.auth.logout()")
        tab.evaluate("() => { window.events = []; }")

        first = tab.evaluate(
            "(password) => window.auth.login({username: 'alice', password})", PASSWORD
        )
        assert first["mfa_required"] is True
        # Nobody is signed in yet: no "signedin", and no session.
        assert tab.evaluate("window.events") == []
        assert tab.evaluate("() => window.auth.session()") is None
        tab.evaluate("() => { window.events = []; }")
        clock.advance(30)
        done = tab.evaluate("(code) => window.auth.completeLogin({code})", totp.at(clock.now()))

        assert done["user"]["username"] == "alice"
        assert tab.evaluate("window.events") == ["signedin"]
        assert tab.evaluate("() => window.auth.session().then((s) => s.user.username)") == "alice"
