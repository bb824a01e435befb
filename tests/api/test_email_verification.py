"""Email addresses on accounts: given at sign-up or changed with the password, confirmed by a
mailed link, required for login when the operator says so."""

from __future__ import annotations

import json

import httpx

from authsvc.config import Settings
from tests.helpers.cli import cli
from tests.helpers.defaults import ISSUER, PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.headers import bearer
from tests.helpers.mail import MailServer, body_text, link_in, mail_settled, token_in
from tests.helpers.sessions import Device, assert_revoked_by_another_process

VERIFY_PAGE = "/ui/verify-email"


async def verify(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/email/verify", json={"token": token})


async def test_an_address_given_at_sign_up_is_confirmed_through_the_mailed_link(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    mail: MailServer,
    db_query: DbQuery,
) -> None:
    settings = make_settings(**mail.settings(), registration="open")
    async with client_factory(settings) as client:
        signed_up = await client.post(
            "/register",
            json={"username": "alice", "password": PASSWORD, "email": "Alice@Example.com"},
        )
        assert signed_up.status_code == 201, signed_up.text
        [message] = mail.inbox.wait_for(1)
        assert message["To"] == "Alice@example.com"
        assert message["Subject"] == "Confirm your email address for authsvc.test"
        assert "Alice@example.com" in body_text(message)
        assert link_in(message, VERIFY_PAGE).startswith(f"{ISSUER}{VERIFY_PAGE}?token=")
        alice = Device(client)
        await alice.login()
        before = await alice.get("/account")
        assert before.json()["email"] == "Alice@example.com"
        assert before.json()["email_verified"] is False

        done = await verify(client, token_in(message, VERIFY_PAGE))

        assert done.status_code == 200 and done.json() == {"status": "email_verified"}
        assert (await alice.get("/account")).json()["email_verified"] is True
        again = await verify(client, token_in(message, VERIFY_PAGE))
        assert again.status_code == 400 and again.json()["error"] == "invalid_link_token"
        # Verifying changes nothing of who the user is: the session goes on.
        assert (await alice.get("/session")).status_code == 200
        taken = await client.post(
            "/register",
            json={"username": "mallory", "password": PASSWORD, "email": "ALICE@example.com"},
        )
        assert taken.status_code == 409 and taken.json()["error"] == "conflict"
        bad = await client.post(
            "/register", json={"username": "bob", "password": PASSWORD, "email": "bob@"}
        )
        assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    assert db_query("SELECT username FROM users") == [("alice",)]


async def test_a_signed_in_user_asks_for_a_link_when_it_makes_sense(
    client_factory: ClientFactory,
    mail_settings: Settings,
    mail: MailServer,
    make_user: MakeUser,
) -> None:
    make_user(email="alice@example.com")
    make_user("bob")
    make_user("carol", email="carol@example.com", email_verified=True)
    async with client_factory(mail_settings) as client:
        answers = {}
        for name in ("alice", "bob", "carol"):
            device = Device(client)
            await device.login(name)
            answers[name] = await client.post(
                "/email/verify/request", headers=bearer(device.access)
            )
        client.cookies.clear()
        anonymous = await client.post("/email/verify/request")
        await mail_settled(client)
    assert answers["alice"].status_code == 202
    assert answers["bob"].status_code == 400 and answers["bob"].json()["error"] == "invalid_request"
    assert answers["carol"].status_code == 409 and answers["carol"].json()["error"] == "conflict"
    assert anonymous.status_code == 401
    assert [message["To"] for message in mail.inbox.messages] == ["alice@example.com"]


async def test_a_new_address_takes_the_password_ends_other_sessions_and_kills_old_links(
    client_factory: ClientFactory,
    mail_settings: Settings,
    mail: MailServer,
    make_user: MakeUser,
) -> None:
    make_user(email="alice@example.com")
    make_user("bob", email="bob@example.com")
    async with client_factory(mail_settings) as client:
        laptop, phone = Device(client), Device(client)
        await phone.login(user_agent="phone")
        await laptop.login(user_agent="laptop")
        asked = await client.post("/email/verify/request", headers=bearer(laptop.access))
        assert asked.status_code == 202
        old_link = token_in(mail.inbox.wait_for(1)[0], VERIFY_PAGE)

        async def patch(body: dict[str, object]) -> httpx.Response:
            return await client.patch("/account", json=body, headers=bearer(laptop.access))

        wrong = await patch({"current_password": "not it at all", "email": "new@example.com"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_credentials"
        taken = await patch({"current_password": PASSWORD, "email": "Bob@example.com"})
        assert taken.status_code == 409
        invalid = await patch({"current_password": PASSWORD, "email": "not-an-address"})
        assert invalid.status_code == 400 and "email" in invalid.json()["detail"]
        same = await patch({"current_password": PASSWORD, "email": "ALICE@example.com"})
        assert same.status_code == 200 and same.json()["session"] is None

        changed = await patch({"current_password": PASSWORD, "email": "new@example.com"})

        assert changed.status_code == 200, changed.text
        assert changed.json()["account"]["email"] == "new@example.com"
        assert changed.json()["account"]["email_verified"] is False
        laptop.remember(changed)
        assert (await laptop.get("/session")).status_code == 200
        assert (await phone.get("/session")).json()["error"] == "token_revoked"
        assert (await phone.refresh_now()).status_code == 401
        dead = await verify(client, old_link)
        assert dead.status_code == 400 and dead.json()["error"] == "invalid_link_token"
        [_, fresh] = mail.inbox.wait_for(2)
        assert fresh["To"] == "new@example.com"
        assert (await verify(client, token_in(fresh, VERIFY_PAGE))).status_code == 200
        removed = await client.patch(
            "/account",
            json={"current_password": PASSWORD, "email": None},
            headers=bearer(laptop.access),
        )
        assert removed.status_code == 200
        assert removed.json()["account"]["email"] is None


async def test_login_can_require_a_verified_address_and_says_so_only_to_the_right_password(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    mail: MailServer,
    make_user: MakeUser,
) -> None:
    settings = make_settings(**mail.settings(), require_verified_email=True)
    make_user(email="alice@example.com")
    make_user("bob")
    make_user("carol", email="carol@example.com", email_verified=True)
    async with client_factory(settings) as client:
        wrong = await client.post("/login", json={"username": "alice", "password": "nope-nope"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_credentials"
        refused = await client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert refused.status_code == 403 and refused.json()["error"] == "email_not_verified"
        assert "authsvc_at" not in refused.headers.get("set-cookie", "")
        [message] = mail.inbox.wait_for(1)
        addressless = await client.post("/login", json={"username": "bob", "password": PASSWORD})
        assert addressless.status_code == 403
        assert "has none" in addressless.json()["detail"]
        assert (await verify(client, token_in(message, VERIFY_PAGE))).status_code == 200
        allowed = await client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert allowed.status_code == 200
        verified = await client.post("/login", json={"username": "carol", "password": PASSWORD})
        assert verified.status_code == 200


async def test_operators_give_and_take_addresses_from_the_cli_and_the_admin_api(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str, db_query: DbQuery
) -> None:
    created = cli(
        database_url,
        "users",
        "create",
        "alice",
        "--password-stdin",
        "--email",
        "Alice@Example.com",
        "--email-verified",
        stdin=PASSWORD + "\n",
    )
    assert created.exit_code == 0, created.output
    alice_id = json.loads(created.stdout)["id"]
    assert json.loads(created.stdout)["email"] == "Alice@example.com"
    assert json.loads(created.stdout)["email_verified"] is True
    duplicate = cli(
        database_url,
        "users",
        "create",
        "alicia",
        "--password-stdin",
        "--email",
        "alice@example.com",
        stdin=PASSWORD + "\n",
    )
    assert duplicate.exit_code == 1 and "another account" in duplicate.stderr
    alice = Device(client)
    await alice.login()

    shown = cli(database_url, "users", "email", "alice")
    assert json.loads(shown.stdout)["changed"] is False
    assert (await alice.get("/session")).status_code == 200
    changed = cli(database_url, "users", "email", "--id", alice_id, "--set", "a2@example.com")
    assert changed.exit_code == 0, changed.output
    assert json.loads(changed.stdout)["email_verified"] is False
    # A new address is a change of who the user is: every token and session ends.
    await assert_revoked_by_another_process(alice, database_url)
    vouched = cli(database_url, "users", "email", "alice", "--verified")
    assert json.loads(vouched.stdout)["email_verified"] is True

    make_user("root", roles=["admin"])
    admin = Device(client)
    await admin.login("root")
    path = f"/admin/users/{alice_id}/email"
    cleared = await client.put(path, json={"email": None}, headers=bearer(admin.access))
    assert cleared.status_code == 200 and cleared.json()["email"] is None
    given = await client.put(
        path, json={"email": "a3@example.com", "verified": True}, headers=bearer(admin.access)
    )
    assert given.json()["email"] == "a3@example.com" and given.json()["email_verified"] is True
    bad = await client.put(path, json={"email": "nope"}, headers=bearer(admin.access))
    assert bad.status_code == 400
    events = [
        row.event for row in db_query("SELECT event FROM audit_events WHERE event = 'email_set'")
    ]
    assert len(events) == 4
