"""A forgotten password: a link mailed over real SMTP, then a new password through HTTP."""

from __future__ import annotations

import random
import statistics
import time

import httpx

from authsvc.config import Settings
from tests.helpers.clock import FakeClock
from tests.helpers.defaults import ISSUER, PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.headers import comparable_headers
from tests.helpers.mail import SENDER, MailServer, body_html, link_in, mail_settled, token_in
from tests.helpers.sessions import Device, sha256

NEW_PASSWORD = "a brand new passphrase"
RESET_PAGE = "/ui/reset"


async def forgot(client: httpx.AsyncClient, login: str) -> httpx.Response:
    return await client.post("/password/forgot", json={"login": login})


async def reset(client: httpx.AsyncClient, token: str, password: str) -> httpx.Response:
    return await client.post("/password/reset", json={"token": token, "new_password": password})


async def test_a_forgotten_password_is_reset_through_the_mailed_link(
    client_factory: ClientFactory,
    mail_settings: Settings,
    mail: MailServer,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user(email="Alice@Example.com")
    async with client_factory(mail_settings) as client:
        phone = Device(client)
        await phone.login()

        asked = await forgot(client, "alice")

        assert asked.status_code == 202 and asked.json()["status"] == "accepted"
        [message] = mail.inbox.wait_for(1)
        assert message["To"] == "Alice@example.com" and message["From"] == SENDER
        assert message["Subject"] == "Reset your password for authsvc.test"
        assert message["Auto-Submitted"] == "auto-generated"
        link = link_in(message, RESET_PAGE)
        assert link.startswith(f"{ISSUER}{RESET_PAGE}?token=")
        assert link in body_html(message)
        token = token_in(message, RESET_PAGE)
        assert len(token) == 43  # 32 random bytes, base64url
        [stored] = db_query("SELECT token_hash, expires_at FROM account_tokens")
        assert stored.token_hash == sha256(token) and token not in str(stored)

        weak = await reset(client, token, "password123")
        assert weak.status_code == 400 and weak.json()["error"] == "weak_password"
        done = await reset(client, token, NEW_PASSWORD)

        assert done.status_code == 200 and done.json() == {"status": "password_reset"}
        assert (await phone.get("/session")).json()["error"] == "token_revoked"
        assert (await phone.refresh_now()).json()["error"] == "invalid_refresh_token"
        old = await client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert old.status_code == 401
        new = await client.post("/login", json={"username": "alice", "password": NEW_PASSWORD})
        assert new.status_code == 200
        again = await reset(client, token, "yet another passphrase")
        assert again.status_code == 400 and again.json()["error"] == "invalid_link_token"
        # The link proved the mailbox is the user's.
        account = await client.get("/account")
        assert account.json()["email_verified"] is True
    events = [row.event for row in db_query("SELECT event FROM audit_events ORDER BY id")]
    assert "password_reset_requested" in events and "password_reset" in events


async def test_a_link_dies_when_a_newer_one_is_sent_and_when_it_expires(
    client_factory: ClientFactory,
    mail_settings: Settings,
    mail: MailServer,
    make_user: MakeUser,
    clock: FakeClock,
) -> None:
    make_user(email="alice@example.com")
    async with client_factory(mail_settings) as client:
        # By address too, in any case.
        for login in ("ALICE@example.com", "alice"):
            assert (await forgot(client, login)).status_code == 202
            await mail_settled(client)
        first, second = (token_in(message, RESET_PAGE) for message in mail.inbox.wait_for(2))
        superseded = await reset(client, first, NEW_PASSWORD)
        assert superseded.status_code == 400
        assert superseded.json()["error"] == "invalid_link_token"

        assert (await forgot(client, "alice")).status_code == 202
        third = token_in(mail.inbox.wait_for(3)[2], RESET_PAGE)
        assert third != second
        clock.advance(30 * 60 + 1)
        expired = await reset(client, third, NEW_PASSWORD)
        assert expired.status_code == 400 and expired.json() == superseded.json()
        unknown = await reset(client, "x" * 43, NEW_PASSWORD)
        assert unknown.status_code == 400 and unknown.json() == superseded.json()


async def test_no_mail_goes_to_an_account_without_an_address_or_disabled_or_unknown(
    client_factory: ClientFactory,
    mail_settings: Settings,
    mail: MailServer,
    make_user: MakeUser,
    db_query: DbQuery,
) -> None:
    make_user("bob")
    make_user("carol", email="carol@example.com")
    async with client_factory(mail_settings) as client:
        for login in ("bob", "nobody", "nobody@example.com"):
            assert (await forgot(client, login)).status_code == 202
        await mail_settled(client)
        assert mail.inbox.messages == []
    reasons = {
        str(row.detail)
        for row in db_query(
            "SELECT detail FROM audit_events WHERE event = 'password_reset_requested'"
        )
    }
    assert any("no_email" in reason for reason in reasons)
    assert any("unknown_login" in reason for reason in reasons)


async def test_without_a_relay_the_mail_endpoints_are_absent(
    client_factory: ClientFactory, settings: Settings, mail_settings: Settings
) -> None:
    paths = ("/password/forgot", "/password/reset", "/email/verify", "/email/verify/request")
    async with client_factory(settings) as client:
        for path in paths:
            response = await client.post(path, json={"login": "alice"})
            assert response.status_code == 404 and response.json()["error"] == "not_found", path
        document = (await client.get("/.well-known/openid-configuration")).json()
        assert not [
            name for name in document if "password_" in name and name != "password_endpoint"
        ]
        assert "email_verification_endpoint" not in document
    async with client_factory(mail_settings) as client:
        document = (await client.get("/.well-known/openid-configuration")).json()
        assert document["password_forgot_endpoint"] == f"{ISSUER}/password/forgot"
        assert document["password_reset_endpoint"] == f"{ISSUER}/password/reset"
        assert document["email_verification_endpoint"] == f"{ISSUER}/email/verify"
        assert document["email_verification_request_endpoint"] == f"{ISSUER}/email/verify/request"


async def test_forgot_answers_alike_for_existing_addressless_and_unknown_accounts(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    mail: MailServer,
    make_user: MakeUser,
) -> None:
    """Status, body, headers and time: the same, although only one of them gets a mail.

    The relay takes 200 ms to accept a message, so a service that sent (or even prepared) the
    mail before answering would answer an existing account that much later.
    """
    make_user(email="alice@example.com")
    make_user("bob")
    mail.inbox.delay = 0.2
    settings = make_settings(
        **mail.settings(),
        mail_limit_account="1000/hour",
        mail_limit_client_account="1000/hour",
        mail_limit_client="1000/hour",
    )
    async with client_factory(settings) as client:
        await client.get("/session")  # take the CSRF cookie, so no answer sets one
        answers = {login: await forgot(client, login) for login in ("alice", "bob", "nobody")}
        await mail_settled(client)
        timings: dict[str, list[float]] = {"alice": [], "bob": [], "nobody": []}
        order = list(timings) * 8
        random.shuffle(order)
        for login in order:
            started = time.perf_counter()
            response = await forgot(client, login)
            timings[login].append(time.perf_counter() - started)
            assert response.status_code == 202
            await mail_settled(client)
    statuses = {login: answer.status_code for login, answer in answers.items()}
    assert statuses == {"alice": 202, "bob": 202, "nobody": 202}
    assert answers["alice"].content == answers["bob"].content == answers["nobody"].content
    headers = [comparable_headers(answer) for answer in answers.values()]
    assert headers[0] == headers[1] == headers[2]
    assert len(mail.inbox.messages) == 9  # alice's only
    medians = {login: statistics.median(samples) for login, samples in timings.items()}
    # Sending before answering would put the relay's 200 ms between them; noise on a loaded
    # machine stays well below half of that.
    assert max(medians.values()) - min(medians.values()) < 0.1, medians


async def test_forgot_is_throttled_per_account_and_per_address_alike_for_unknown_names(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    mail: MailServer,
    make_user: MakeUser,
    clock: FakeClock,
) -> None:
    make_user(email="alice@example.com")
    settings = make_settings(**mail.settings(), trusted_proxies="127.0.0.1")

    async def from_address(login: str, address: str) -> httpx.Response:
        return await client.post(
            "/password/forgot", json={"login": login}, headers={"X-Forwarded-For": address}
        )

    async with client_factory(settings) as client:
        for login in ("alice", "nobody"):
            # One address, one account: 3 an hour.
            answers = [await from_address(login, "203.0.113.7") for _ in range(4)]
            assert [answer.status_code for answer in answers] == [202, 202, 202, 429]
            throttled = answers[-1]
            assert throttled.json()["error"] == "too_many_attempts"
            assert 0 < int(throttled.headers["Retry-After"]) <= 2 * 3600
            # The same account from other addresses: 5 an hour in all.
            others = [await from_address(login, f"198.51.100.{n}") for n in (1, 2, 3)]
            assert [answer.status_code for answer in others] == [202, 202, 429]
        await mail_settled(client)
        assert len(mail.inbox.messages) == 5
        clock.advance(2 * 3600)
        assert (await from_address("alice", "203.0.113.7")).status_code == 202
