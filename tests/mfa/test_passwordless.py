"""Signing in with a passkey alone over HTTP: a discoverable credential, the user verified."""

from __future__ import annotations

from typing import Any

import httpx
import jwt

from tests.helpers.cli import cli
from tests.helpers.clock import FakeClock
from tests.helpers.cookies import ACCESS
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.login import log_in
from tests.helpers.mail import MailServer
from tests.helpers.passkeys import SoftAuthenticator, register


async def _options(client: httpx.AsyncClient) -> dict[str, Any]:
    await client.get("/session")
    response = await client.post("/login/passkey/options")
    assert response.status_code == 200, response.text
    options: dict[str, Any] = response.json()["publicKey"]
    return options


async def _with_passkey(
    client: httpx.AsyncClient, make_user: MakeUser, key: SoftAuthenticator
) -> None:
    make_user()
    await log_in(client)
    assert (await register(client, key)).status_code == 200
    await client.post("/logout")


async def test_a_passkey_alone_opens_a_session_at_level_two(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    key = SoftAuthenticator()
    await _with_passkey(client, make_user, key)

    options = await _options(client)
    done = await client.post("/login/passkey", json={"credential": key.get(options)})

    assert options["userVerification"] == "required" and options["allowCredentials"] == []
    assert done.status_code == 200, done.text
    assert done.json()["user"]["username"] == "alice"
    claims = jwt.decode(done.cookies[ACCESS], options={"verify_signature": False})
    assert (claims["amr"], claims["aal"]) == (["hwk", "user"], 2)
    assert (await client.get("/session")).status_code == 200


async def test_a_sign_in_challenge_works_once_and_not_late(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    key = SoftAuthenticator()
    await _with_passkey(client, make_user, key)
    options = await _options(client)
    assert (
        await client.post("/login/passkey", json={"credential": key.get(options)})
    ).status_code == 200
    await client.post("/logout")

    replayed = await client.post("/login/passkey", json={"credential": key.get(options)})
    late_options = await _options(client)
    clock.advance(301)
    late = await client.post("/login/passkey", json={"credential": key.get(late_options)})

    assert (replayed.status_code, replayed.json()["error"]) == (400, "passkey_challenge_invalid")
    assert (late.status_code, late.json()["error"]) == (400, "passkey_challenge_invalid")


async def test_without_user_verification_or_from_elsewhere_no_session(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    key = SoftAuthenticator()
    await _with_passkey(client, make_user, key)

    key.user_verified = False
    unverified = await client.post(
        "/login/passkey", json={"credential": key.get(await _options(client))}
    )
    key.user_verified = True
    foreign = await client.post(
        "/login/passkey",
        json={"credential": key.get(await _options(client), origin="https://evil.example")},
    )
    wrong_rp = await client.post(
        "/login/passkey", json={"credential": key.get(await _options(client), rp_id="evil.example")}
    )
    unknown = await client.post(
        "/login/passkey", json={"credential": SoftAuthenticator().get(await _options(client))}
    )

    for refused in (unverified, foreign, wrong_rp, unknown):
        assert (refused.status_code, refused.json()["error"]) == (400, "passkey_rejected")
    assert (await client.get("/session")).json()["error"] == "not_authenticated"


async def test_a_counter_that_goes_backwards_is_refused_without_a_password_too(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    key = SoftAuthenticator()
    await _with_passkey(client, make_user, key)
    first = key.get(await _options(client), count=7)
    assert (await client.post("/login/passkey", json={"credential": first})).status_code == 200
    await client.post("/logout")

    clone = await client.post(
        "/login/passkey", json={"credential": key.get(await _options(client), count=7)}
    )

    assert (clone.status_code, clone.json()["error"]) == (400, "passkey_sign_count_regressed")


async def test_an_unverified_address_is_refused_as_the_password_login_refuses_it(
    client: httpx.AsyncClient,
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    mail: MailServer,
    make_user: MakeUser,
) -> None:
    key = SoftAuthenticator()
    make_user(email="alice@example.com")
    await log_in(client)
    assert (await register(client, key)).status_code == 200
    settings = make_settings(**mail.settings(), require_verified_email=True)
    async with client_factory(settings) as strict:
        refused = await strict.post(
            "/login/passkey", json={"credential": key.get(await _options(strict))}
        )
        assert (refused.status_code, refused.json()["error"]) == (403, "email_not_verified")
        assert "authsvc_at" not in refused.headers.get("set-cookie", "")
        assert (await strict.get("/session")).json()["error"] == "not_authenticated"


async def test_a_disabled_account_gets_no_session_from_its_passkey(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str
) -> None:
    key = SoftAuthenticator()
    await _with_passkey(client, make_user, key)
    assert cli(database_url, "users", "disable", "alice").exit_code == 0

    refused = await client.post(
        "/login/passkey", json={"credential": key.get(await _options(client))}
    )

    assert (refused.status_code, refused.json()["error"]) == (401, "invalid_credentials")
    assert (await client.get("/session")).json()["error"] == "not_authenticated"


async def test_sign_in_options_are_throttled_per_address_before_a_challenge_is_stored(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    clock: FakeClock,
    db_query: DbQuery,
) -> None:
    settings = make_settings(trusted_proxies="127.0.0.1")

    async def from_address(address: str) -> httpx.Response:
        return await client.post("/login/passkey/options", headers={"X-Forwarded-For": address})

    async with client_factory(settings) as client:
        # One address: 20 a minute.
        answers = [await from_address("203.0.113.7") for _ in range(21)]
        assert [answer.status_code for answer in answers] == [200] * 20 + [429]
        throttled = answers[-1]
        assert throttled.json()["error"] == "too_many_attempts"
        assert 0 < int(throttled.headers["Retry-After"]) <= 2 * 3600
        assert (await from_address("198.51.100.1")).status_code == 200
        stored = db_query("SELECT count(*) AS n FROM mfa_challenges WHERE user_id IS NULL")
        assert stored[0].n == 21
        clock.advance(3600)
        assert (await from_address("203.0.113.7")).status_code == 200
