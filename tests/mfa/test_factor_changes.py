"""Managing factors over HTTP: step-up, what a change revokes, the policy, operators' reset."""

from __future__ import annotations

import json

import httpx

from authsvc.config import Settings
from tests.helpers.cli import cli
from tests.helpers.clock import FakeClock
from tests.helpers.cookies import refresh_token_of
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.login import log_in
from tests.helpers.mail import MailServer, body_text
from tests.helpers.mfa import code, enrol_totp, password_step, sign_in_with_code
from tests.helpers.sessions import refresh_with


async def test_sensitive_changes_need_a_recent_second_factor(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user()
    await log_in(client)
    enrolled = await enrol_totp(client, clock)

    # The session that enrolled signed in with the password alone: level 1.
    refused = [
        await client.delete(f"/account/mfa/factors/{enrolled.factor_id}"),
        await client.post("/account/mfa/recovery-codes"),
        await client.post("/account/mfa/totp", json={}),
        await client.post(
            "/password", json={"current_password": PASSWORD, "new_password": "another-secret-9"}
        ),
        await client.patch(
            "/account", json={"current_password": PASSWORD, "email": "a@example.com"}
        ),
    ]
    assert [(r.status_code, r.json()["error"]) for r in refused] == [(403, "step_up_required")] * 5

    await client.post("/logout")
    await sign_in_with_code(client, enrolled.secret, clock)
    regenerated = await client.post("/account/mfa/recovery-codes")
    assert regenerated.status_code == 200, regenerated.text
    assert len(regenerated.json()["recovery_codes"]) == 10

    # Past the step-up window the same session is refused again.
    clock.advance(901)
    assert (await client.post("/refresh")).status_code == 200
    late = await client.post("/account/mfa/recovery-codes")
    assert (late.status_code, late.json()["error"]) == (403, "step_up_required")


async def test_new_recovery_codes_replace_the_old_set(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user()
    await log_in(client)
    enrolled = await enrol_totp(client, clock)
    await client.post("/logout")
    await sign_in_with_code(client, enrolled.secret, clock)
    fresh = (await client.post("/account/mfa/recovery-codes")).json()["recovery_codes"]
    await client.post("/logout")

    await password_step(client)
    old = await client.post("/login/mfa", json={"recovery_code": enrolled.recovery_codes[0]})
    new = await client.post("/login/mfa", json={"recovery_code": fresh[0]})

    assert (old.status_code, old.json()["error"]) == (401, "invalid_mfa_code")
    assert new.status_code == 200, new.text


async def test_adding_a_factor_ends_other_password_only_sessions(
    client_factory: ClientFactory,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_settings: MakeSettings,
    clock: FakeClock,
    db_query: DbQuery,
) -> None:
    make_user()
    async with client_factory(make_settings()) as laptop:
        await log_in(laptop)
        await log_in(client)
        await enrol_totp(client, clock)

        # This device goes on with a token of the new version; the other one is out.
        assert (await client.get("/session")).status_code == 200
        assert (await laptop.get("/session")).json()["error"] == "token_revoked"
        assert (await laptop.post("/refresh")).status_code == 401
    events = [row[0] for row in db_query("SELECT event FROM audit_events ORDER BY id")]
    assert "mfa_factor_added" in events


async def test_removing_a_factor_keeps_sessions_that_showed_one(
    client_factory: ClientFactory,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_settings: MakeSettings,
    clock: FakeClock,
) -> None:
    make_user()
    await log_in(client)
    enrolled = await enrol_totp(client, clock)
    await client.post("/logout")
    async with client_factory(make_settings()) as phone:
        await sign_in_with_code(phone, enrolled.secret, clock)
        await sign_in_with_code(client, enrolled.secret, clock)

        removed = await client.delete(f"/account/mfa/factors/{enrolled.factor_id}")

        assert removed.status_code == 200, removed.text
        assert removed.json() == {"factors": [], "recovery_codes_left": 0}
        # The other level-2 session refreshes once onto the new token version.
        assert (await phone.get("/session")).json()["error"] == "token_revoked"
        assert (await phone.post("/refresh")).status_code == 200
        assert (await phone.get("/session")).status_code == 200
    # Without a factor the password alone signs in again.
    await client.post("/logout")
    assert "user" in (await log_in(client)).json()


async def test_a_wrong_confirmation_code_adds_no_factor(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user()
    await log_in(client)
    begun = (await client.post("/account/mfa/totp", json={"name": "Phone"})).json()
    right = code(begun["secret"], clock)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    refused = await client.post(
        f"/account/mfa/totp/{begun['factor_id']}/confirm", json={"code": wrong}
    )

    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_mfa_code")
    assert (await client.get("/account/mfa")).json()["factors"] == []
    assert begun["otpauth_uri"].startswith("otpauth://totp/authsvc:alice?")
    assert begun["qr_svg"].startswith("<svg")


async def test_the_policy_sends_a_user_without_a_factor_to_enrolment_only(
    client_factory: ClientFactory,
    make_user: MakeUser,
    make_settings: MakeSettings,
    clock: FakeClock,
) -> None:
    make_user("alice", roles=["admin"])
    make_user("bob")
    settings = make_settings(mfa="required_for_roles", mfa_required_roles="admin")
    async with client_factory(settings) as client:
        assert "user" in (await log_in(client, "bob")).json()
        await client.post("/logout")

        await client.get("/session")
        first = await client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert first.json()["mfa_enrolment_required"] is True
        assert (await client.get("/session")).status_code == 401
        # Codes are no way in: there is nothing to check them against.
        assert (await client.post("/login/mfa", json={"code": "123456"})).status_code == 401
        enrolment = await client.post("/login/mfa/enrol", json={"name": "Phone"})
        assert enrolment.status_code == 200, enrolment.text
        done = await client.post(
            "/login/mfa", json={"code": code(enrolment.json()["secret"], clock)}
        )

        assert done.status_code == 200, done.text
        assert len(done.json()["recovery_codes"]) == 10
        assert (await client.get("/session")).status_code == 200


async def test_an_operator_reset_removes_the_factors_and_every_session(
    client_factory: ClientFactory,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_settings: MakeSettings,
    clock: FakeClock,
    db_query: DbQuery,
) -> None:
    alice = make_user()
    make_user("root", roles=["admin"])
    await log_in(client)
    await enrol_totp(client, clock)
    async with client_factory(make_settings()) as admin:
        await log_in(admin, "root")
        reset = await admin.post(f"/admin/users/{alice}/mfa/reset")
        missing = await admin.post("/admin/users/nobody/mfa/reset")

    assert reset.status_code == 200, reset.text
    assert missing.status_code == 404
    assert (await client.get("/session")).json()["error"] == "token_revoked"
    assert (await client.post("/refresh")).status_code == 401
    assert db_query("SELECT count(*) FROM mfa_factors")[0][0] == 0
    assert db_query("SELECT count(*) FROM mfa_recovery_codes")[0][0] == 0
    assert db_query("SELECT event FROM audit_events WHERE event = 'mfa_reset'")
    await client.post("/logout")
    assert "user" in (await log_in(client)).json()


async def test_the_command_line_reset_ends_the_sessions_and_the_factor(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock, database_url: str
) -> None:
    make_user()
    await log_in(client)
    await enrol_totp(client, clock)

    result = cli(database_url, "users", "mfa-reset", "alice")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["mfa_reset"] is True
    assert (await client.get("/session")).json()["error"] == "token_revoked"
    await client.post("/logout")
    assert "user" in (await log_in(client)).json()


async def test_an_admin_with_a_factor_needs_step_up_for_admin_actions(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user(roles=["admin"])
    await log_in(client)
    enrolled = await enrol_totp(client, clock)

    refused = await client.get("/admin/users")
    await client.post("/logout")
    await sign_in_with_code(client, enrolled.secret, clock)
    allowed = await client.get("/admin/users")

    assert (refused.status_code, refused.json()["error"]) == (403, "step_up_required")
    assert allowed.status_code == 200, allowed.text


async def test_a_factor_change_is_mailed_to_the_user(
    client_factory: ClientFactory,
    mail_settings: Settings,
    mail: MailServer,
    make_user: MakeUser,
    clock: FakeClock,
) -> None:
    make_user(email="alice@example.com", email_verified=True)
    async with client_factory(mail_settings) as client:
        await log_in(client)
        await enrol_totp(client, clock)

        [message] = mail.inbox.wait_for(1)

    assert message["To"] == "alice@example.com"
    assert "Sign-in security" in message["Subject"]
    assert "A second factor (an authenticator app) was added." in body_text(message)


async def test_a_new_key_encryption_secret_takes_the_totp_secrets_along(
    client_factory: ClientFactory,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_settings: MakeSettings,
    clock: FakeClock,
    database_url: str,
) -> None:
    make_user()
    await log_in(client)
    enrolled = await enrol_totp(client, clock)
    new_secret = "n" * 40

    result = cli(database_url, "keys", "reencrypt", "--new-secret-stdin", stdin=new_secret + "\n")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["factor_secrets"] == 1
    async with client_factory(make_settings(key_encryption_secret=new_secret)) as other:
        await sign_in_with_code(other, enrolled.secret, clock)


async def test_in_hs256_mode_a_new_first_secret_keeps_the_factors_readable(
    client_factory: ClientFactory,
    make_user: MakeUser,
    make_settings: MakeSettings,
    clock: FakeClock,
) -> None:
    old, new = "o" * 40, "n" * 40
    make_user()
    async with client_factory(make_settings(jwt_secrets=old, key_encryption_secret=None)) as client:
        await log_in(client)
        enrolled = await enrol_totp(client, clock)

    async with client_factory(
        make_settings(jwt_secrets=f"{new},{old}", key_encryption_secret=None)
    ) as client:
        await sign_in_with_code(client, enrolled.secret, clock)


async def test_a_policy_turned_on_ends_older_sessions_without_a_factor_at_their_next_refresh(
    client_factory: ClientFactory,
    make_user: MakeUser,
    make_settings: MakeSettings,
    clock: FakeClock,
    db_query: DbQuery,
) -> None:
    """Sessions opened before AUTHSVC_MFA=required (or a required role) with a password alone
    are not renewed: the policy holds for them within one access-token lifetime. A session
    that showed a second factor goes on, and so does one the policy does not cover."""
    make_user("alice", roles=["admin"])
    make_user("bob", roles=["admin"])
    make_user("carol")
    tokens: dict[str, str] = {}
    async with client_factory(make_settings(mfa="optional")) as before:
        for name in ("alice", "carol"):
            tokens[name] = refresh_token_of(await log_in(before, name))
            before.cookies.clear()
        await log_in(before, "bob")
        secret = (await enrol_totp(before, clock)).secret
        await before.post("/logout")
        await password_step(before, "bob")
        clock.advance(30)
        second = await before.post("/login/mfa", json={"code": code(secret, clock)})
        assert second.status_code == 200, second.text
        tokens["bob"] = refresh_token_of(second)

    after = make_settings(mfa="required_for_roles", mfa_required_roles="admin")
    async with client_factory(after) as client:
        await client.get("/session")  # as a page does first: the CSRF token
        alice = await refresh_with(client, tokens["alice"])
        bob = await refresh_with(client, tokens["bob"])
        carol = await refresh_with(client, tokens["carol"])

    assert (alice.status_code, alice.json()["error"]) == (401, "second_factor_required")
    assert "max-age=0" in alice.headers["set-cookie"].lower()
    assert bob.status_code == 200, bob.text
    assert carol.status_code == 200, carol.text
    (ended,) = db_query(
        "SELECT s.end_reason FROM sessions s JOIN users u ON u.id = s.user_id "
        "WHERE u.username = 'alice'"
    )
    assert ended.end_reason == "second_factor_required"
