"""Passkeys as a second factor over HTTP, with a software authenticator: register, sign in,
and every way an answer must be refused (replayed challenge, origin, RP id, counter)."""

from __future__ import annotations

from typing import Any

import httpx
import jwt

from tests.helpers.clock import FakeClock
from tests.helpers.cookies import ACCESS
from tests.helpers.fixture_types import DbQuery, MakeUser
from tests.helpers.login import log_in
from tests.helpers.mfa import enrol_totp, password_step
from tests.helpers.passkeys import SoftAuthenticator, register


def _claims(response: httpx.Response) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        response.cookies[ACCESS], options={"verify_signature": False}
    )
    return claims


async def _registered(
    client: httpx.AsyncClient, make_user: MakeUser, key: SoftAuthenticator
) -> dict[str, Any]:
    make_user()
    await log_in(client)
    added = await register(client, key)
    assert added.status_code == 200, added.text
    body: dict[str, Any] = added.json()
    await client.post("/logout")
    return body


async def _step_options(client: httpx.AsyncClient) -> dict[str, Any]:
    await password_step(client)
    options = await client.post("/login/mfa/passkey/options")
    assert options.status_code == 200, options.text
    public_key: dict[str, Any] = options.json()["publicKey"]
    return public_key


async def test_a_registered_passkey_completes_the_login_with_two_factors(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    key = SoftAuthenticator()
    added = await _registered(client, make_user, key)

    assert added["factor"]["kind"] == "webauthn" and added["factor"]["name"] == "Laptop"
    assert len(added["recovery_codes"]) == 10
    row = db_query("SELECT credential_id, sign_count, discoverable FROM mfa_factors")[0]
    assert (row[1], bool(row[2])) == (0, True)

    step = await password_step(client)
    assert step.json()["factors"] == ["webauthn", "recovery_code"]
    options = await client.post("/login/mfa/passkey/options")
    public_key = options.json()["publicKey"]
    assert public_key["rpId"] == "authsvc.test"
    assert [c["id"] for c in public_key["allowCredentials"]] == [row[0]]
    done = await client.post("/login/mfa", json={"webauthn": key.get(public_key)})

    assert done.status_code == 200, done.text
    claims = _claims(done)
    assert (claims["amr"], claims["aal"]) == (["pwd", "hwk", "user", "mfa"], 2)
    assert db_query("SELECT sign_count FROM mfa_factors")[0][0] == 1


async def test_without_user_verification_amr_says_only_hwk(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    key = SoftAuthenticator(user_verified=False)
    await _registered(client, make_user, key)

    done = await client.post("/login/mfa", json={"webauthn": key.get(await _step_options(client))})

    assert done.status_code == 200, done.text
    assert _claims(done)["amr"] == ["pwd", "hwk", "mfa"]


async def test_a_registration_challenge_works_once_and_not_late(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user()
    await log_in(client)
    options = (await client.post("/account/passkeys/options")).json()["publicKey"]
    key = SoftAuthenticator()

    foreign = await client.post(
        "/account/passkeys",
        json={"credential": key.create(options, origin="https://evil.example")},
    )
    replayed = await client.post("/account/passkeys", json={"credential": key.create(options)})
    late_options = (await client.post("/account/passkeys/options")).json()["publicKey"]
    clock.advance(301)
    late = await client.post("/account/passkeys", json={"credential": key.create(late_options)})

    assert (foreign.status_code, foreign.json()["error"]) == (400, "passkey_rejected")
    assert (replayed.status_code, replayed.json()["error"]) == (400, "passkey_challenge_invalid")
    assert (late.status_code, late.json()["error"]) == (400, "passkey_challenge_invalid")
    assert (await client.get("/account/mfa")).json()["factors"] == []


async def test_a_registration_for_another_relying_party_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    await log_in(client)
    options = (await client.post("/account/passkeys/options")).json()["publicKey"]

    wrong = await client.post(
        "/account/passkeys",
        json={"credential": SoftAuthenticator().create(options, rp_id="evil.example")},
    )

    assert (wrong.status_code, wrong.json()["error"]) == (400, "passkey_rejected")


async def test_assertions_with_wrong_origin_or_rp_id_or_old_challenge_are_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    key = SoftAuthenticator()
    await _registered(client, make_user, key)
    first = await _step_options(client)
    captured = key.get(first)

    wrong_origin = await client.post(
        "/login/mfa", json={"webauthn": key.get(first, origin="https://evil.example")}
    )
    wrong_rp = await client.post("/login/mfa", json={"webauthn": key.get(first, rp_id="evil.ex")})
    # A new login: an assertion made for the earlier step answers another challenge.
    await _step_options(client)
    replayed = await client.post("/login/mfa", json={"webauthn": captured})

    assert (wrong_origin.status_code, wrong_origin.json()["error"]) == (400, "passkey_rejected")
    assert (wrong_rp.status_code, wrong_rp.json()["error"]) == (400, "passkey_rejected")
    assert (replayed.status_code, replayed.json()["error"]) == (400, "passkey_challenge_invalid")
    assert (await client.get("/session")).json()["error"] == "not_authenticated"


async def test_a_counter_that_goes_backwards_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    key = SoftAuthenticator()
    await _registered(client, make_user, key)
    assert (
        await client.post(
            "/login/mfa", json={"webauthn": key.get(await _step_options(client), count=5)}
        )
    ).status_code == 200
    await client.post("/logout")

    clone = await client.post(
        "/login/mfa", json={"webauthn": key.get(await _step_options(client), count=3)}
    )

    assert (clone.status_code, clone.json()["error"]) == (400, "passkey_sign_count_regressed")


async def test_adding_a_passkey_needs_step_up_when_the_user_has_a_factor(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user()
    await log_in(client)
    await enrol_totp(client, clock)

    refused = await client.post("/account/passkeys/options")

    assert (refused.status_code, refused.json()["error"]) == (403, "step_up_required")


async def _signed_in_with_a_passkey(client: httpx.AsyncClient, make_user: MakeUser) -> str:
    """A user with a passkey, signed in with it as the second step; the passkey's factor id."""
    key = SoftAuthenticator()
    added = await _registered(client, make_user, key)
    done = await client.post("/login/mfa", json={"webauthn": key.get(await _step_options(client))})
    assert done.status_code == 200, done.text
    factor_id: str = added["factor"]["id"]
    return factor_id


async def test_a_passkey_is_renamed_and_removed(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    factor_id = await _signed_in_with_a_passkey(client, make_user)

    renamed = await client.patch(f"/account/mfa/factors/{factor_id}", json={"name": "Yubikey"})
    removed = await client.delete(f"/account/mfa/factors/{factor_id}")

    assert renamed.status_code == 200 and renamed.json()["name"] == "Yubikey"
    assert removed.status_code == 200, removed.text
    assert db_query("SELECT count(*) FROM mfa_factors")[0][0] == 0
    await client.post("/logout")
    assert (await log_in(client)).status_code == 200


async def test_a_factor_name_is_trimmed_and_a_blank_or_multi_line_one_refused(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    factor_id = await _signed_in_with_a_passkey(client, make_user)
    path = f"/account/mfa/factors/{factor_id}"

    trimmed = await client.patch(path, json={"name": "  Work laptop \t"})
    refusals = {
        name: await client.patch(path, json={"name": name})
        for name in ("   ", "\t\n", "Work\nlaptop", "bell\x07", "x" * 65, " " + "y" * 65)
    }

    assert trimmed.status_code == 200 and trimmed.json()["name"] == "Work laptop"
    for name, refused in refusals.items():
        assert (refused.status_code, refused.json()["error"]) == (400, "invalid_request"), name
    assert db_query("SELECT name FROM mfa_factors")[0][0] == "Work laptop"


async def test_a_name_given_at_enrolment_is_trimmed_too(
    client: httpx.AsyncClient, make_user: MakeUser, db_query: DbQuery
) -> None:
    make_user()
    await log_in(client)

    blank = await client.post("/account/mfa/totp", json={"name": "  "})
    begun = await client.post("/account/mfa/totp", json={"name": " Phone "})

    assert (blank.status_code, blank.json()["error"]) == (400, "invalid_request")
    assert begun.status_code == 200, begun.text
    assert db_query("SELECT name FROM mfa_factors")[0][0] == "Phone"
