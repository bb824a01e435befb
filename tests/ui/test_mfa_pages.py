"""The hosted pages' second factor, without JavaScript: add an authenticator app from the
account page, sign in with its code or a recovery code, and see the step refused when over."""

from __future__ import annotations

import re

import pyotp

from authsvc.config import Settings
from tests.helpers.clock import FakeClock
from tests.helpers.cookies import ACCESS
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeUser
from tests.helpers.login import log_in
from tests.helpers.mfa import enrol_totp
from tests.helpers.pages import sign_in_through_page, submit
from tests.helpers.passkeys import SoftAuthenticator, register

_SECRET = re.compile(r'<code id="totp-secret">([A-Z2-7]+)</code>')
_FACTOR = re.compile(r'<input type="hidden" name="factor_id" value="([^"]+)">')
_CODES = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")
_EVIL = "https://evil.example"


async def test_add_an_app_on_the_account_page_then_sign_in_with_its_code_or_a_recovery_code(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user()
    async with client_factory(settings, browser=False) as client:
        assert (await sign_in_through_page(client)).status_code == 303
        account = await client.get("/ui/account")
        assert "No second factor yet." in account.text
        qr_page = await submit(client, account, "/ui/account/mfa/totp", {})
        assert qr_page.status_code == 200, qr_page.text
        assert '<figure class="qr" id="totp-qr"><svg' in qr_page.text
        [secret] = _SECRET.findall(qr_page.text)
        [factor_id] = _FACTOR.findall(qr_page.text)
        codes_page = await submit(
            client,
            qr_page,
            "/ui/account/mfa/totp/confirm",
            {"factor_id": factor_id, "code": pyotp.TOTP(secret).at(clock.now())},
        )
        codes = _CODES.findall(codes_page.text)
        assert len(codes) == 10
        account = await client.get("/ui/account")
        assert "Recovery codes left: <strong>10</strong>" in account.text
        await submit(client, account, "/logout?next=/ui/login", {})
        client.cookies.clear()

        # The password alone now leads to the second step, with no session.
        step = await sign_in_through_page(client)
        assert step.headers["location"] == "/ui/login/mfa"
        assert ACCESS not in step.cookies
        page = await client.get("/ui/login/mfa")
        assert "Code from your authenticator app" in page.text
        clock.advance(30)
        wrong = await submit(client, page, "/ui/login/mfa", {"code": "000000"})
        assert wrong.status_code == 401
        assert "The code is not valid." in wrong.text
        done = await submit(
            client, page, "/ui/login/mfa", {"code": pyotp.TOTP(secret).at(clock.now())}
        )
        assert done.status_code == 303, done.text
        assert ACCESS in done.cookies
        # The same step cookie once more: it is over, back to the sign-in page.
        again = await client.get("/ui/login/mfa")
        assert again.headers["location"].startswith("/ui/login?notice=mfa-step-over")

        account = await client.get("/ui/account")
        await submit(client, account, "/logout?next=/ui/login", {})
        client.cookies.clear()
        await sign_in_through_page(client)
        page = await client.get("/ui/login/mfa")
        rescued = await submit(client, page, "/ui/login/mfa", {"recovery_code": codes[0]})
        assert rescued.status_code == 303, rescued.text
        account = await client.get("/ui/account")
        assert "Recovery codes left: <strong>9</strong>" in account.text


async def test_the_second_step_offers_only_the_factors_the_account_has(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser, clock: FakeClock
) -> None:
    """An authenticator app's code field for an account with one, a passkey button for one with
    a passkey, and recovery codes for both; the same after a wrong answer."""
    make_user("alice")
    make_user("bob")
    async with client_factory(settings) as client:
        await log_in(client, "alice")
        await enrol_totp(client, clock)
        await client.post("/logout")
        await log_in(client, "bob")
        assert (await register(client, SoftAuthenticator())).status_code == 200
        await client.post("/logout")
        client.cookies.clear()

        offered = {}
        for username in ("alice", "bob"):
            step = await sign_in_through_page(client, username)
            assert step.headers["location"] == "/ui/login/mfa"
            page = await client.get("/ui/login/mfa")
            wrong = await submit(client, page, "/ui/login/mfa", {"recovery_code": "not-a-code"})
            assert wrong.status_code == 401
            for when, html in (("first", page.text), ("again", wrong.text)):
                offered[username, when] = {
                    "code": 'name="code"' in html,
                    "passkey": 'id="passkey-second-step"' in html,
                    "recovery code": 'name="recovery_code"' in html,
                }
            client.cookies.clear()

        app_only = {"code": True, "passkey": False, "recovery code": True}
        passkey_only = {"code": False, "passkey": True, "recovery code": True}
        assert offered == {
            ("alice", "first"): app_only,
            ("alice", "again"): app_only,
            ("bob", "first"): passkey_only,
            ("bob", "again"): passkey_only,
        }


async def test_a_passkey_is_renamed_from_the_account_page_with_a_plain_form(
    client_factory: ClientFactory, settings: Settings, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user()
    async with client_factory(settings) as client:
        await log_in(client)
        assert (await register(client, SoftAuthenticator(), name="Laptop")).status_code == 200
        [factor_id] = [row.id for row in db_query("SELECT id FROM mfa_factors")]
        action = f"/ui/account/mfa/factors/{factor_id}/rename"
        account = await client.get("/ui/account")
        assert f'action="{action}"' in account.text

        forged = await submit(client, account, action, {"name": "Forged"}, origin=_EVIL)
        too_long = await submit(client, account, action, {"name": "x" * 65})
        blank = await submit(client, account, action, {"name": "   "})
        two_lines = await submit(client, account, action, {"name": "Work\r\nlaptop"})
        renamed = await submit(client, account, action, {"name": "  Work laptop "})

        assert forged.status_code == 403
        for refused in (too_long, blank, two_lines):
            assert refused.status_code == 303
            assert refused.headers["location"] == "/ui/account?notice=factor-name-invalid"
        assert renamed.status_code == 303
        assert renamed.headers["location"] == "/ui/account?notice=passkey-renamed"
        assert [row.name for row in db_query("SELECT name FROM mfa_factors")] == ["Work laptop"]
        page = await client.get("/ui/account")
        assert f'id="factor-name-{factor_id}">Work laptop</p>' in page.text
