"""The second step of a login over HTTP: the step cookie, codes, replays and recovery codes."""

from __future__ import annotations

import asyncio

import httpx
import jwt

from tests.helpers.clock import FakeClock
from tests.helpers.cookies import ACCESS, set_cookies
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.login import log_in
from tests.helpers.mfa import code, enrol_totp, password_step, sign_in_with_code

STEP = "authsvc_mfa"


async def _enrolled(client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock) -> str:
    """alice with a confirmed TOTP factor, signed out again; her secret."""
    make_user()
    await log_in(client)
    enrolled = await enrol_totp(client, clock)
    await client.post("/logout")
    client.cookies.clear()
    return enrolled.secret


def _claims(response: httpx.Response) -> dict[str, object]:
    token = response.cookies[ACCESS]
    claims: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def test_the_password_alone_gets_a_step_cookie_and_no_session(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    await _enrolled(client, make_user, clock)

    response = await password_step(client)

    assert response.json() == {
        "mfa_required": True,
        "mfa_enrolment_required": False,
        "factors": ["totp", "recovery_code"],
        "expires_in": 300,
    }
    cookies = {cookie.name: cookie for cookie in set_cookies(response)}
    assert ACCESS not in cookies and "authsvc_rt" not in cookies
    step = cookies[STEP]
    assert step.has("httponly") and step.attributes["max-age"] == "300"
    assert step.attributes["samesite"].lower() == "strict"
    assert (await client.get("/session")).json()["error"] == "not_authenticated"


async def test_a_code_completes_the_login_with_two_factors_in_the_token(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    secret = await _enrolled(client, make_user, clock)

    response = await sign_in_with_code(client, secret, clock)

    claims = _claims(response)
    assert claims["amr"] == ["pwd", "otp", "mfa"]
    assert claims["aal"] == 2
    assert claims["auth_time"] == int(clock.now().timestamp())
    assert (await client.get("/session")).status_code == 200
    # The refresh keeps how the session signed in, and its time.
    clock.advance(60)
    refreshed = await client.post("/refresh")
    assert refreshed.status_code == 200, refreshed.text
    again = _claims(refreshed)
    assert (again["amr"], again["aal"], again["auth_time"]) == (
        claims["amr"],
        2,
        claims["auth_time"],
    )


async def test_a_password_login_says_pwd_and_level_one(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user()
    claims = _claims(await log_in(client))
    assert (claims["amr"], claims["aal"]) == (["pwd"], 1)
    assert claims["auth_time"] == int(clock.now().timestamp())


async def test_a_code_is_refused_the_second_time(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    secret = await _enrolled(client, make_user, clock)
    clock.advance(30)
    used = code(secret, clock)
    await password_step(client)
    assert (await client.post("/login/mfa", json={"code": used})).status_code == 200
    await client.post("/logout")

    await password_step(client)
    replayed = await client.post("/login/mfa", json={"code": used})
    # An earlier step's code, still inside the drift window, is a replay too.
    earlier = await client.post("/login/mfa", json={"code": code(secret, clock, steps=-1)})

    assert (replayed.status_code, replayed.json()["error"]) == (401, "mfa_code_reused")
    assert (earlier.status_code, earlier.json()["error"]) == (401, "mfa_code_reused")


async def test_the_step_cookie_works_once(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    secret = await _enrolled(client, make_user, clock)
    await password_step(client)
    step = client.cookies[STEP]
    clock.advance(30)
    assert (await client.post("/login/mfa", json={"code": code(secret, clock)})).status_code == 200
    clock.advance(30)

    client.cookies.set(STEP, step)
    again = await client.post("/login/mfa", json={"code": code(secret, clock)})

    assert (again.status_code, again.json()["error"]) == (401, "mfa_step_used")


async def test_a_step_cookie_from_another_browser_is_refused_and_burnt(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    secret = await _enrolled(client, make_user, clock)
    await password_step(client)
    clock.advance(30)

    stolen = await client.post(
        "/login/mfa", json={"code": code(secret, clock)}, headers={"User-Agent": "Other/1.0"}
    )
    owner = await client.post("/login/mfa", json={"code": code(secret, clock)})

    assert (stolen.status_code, stolen.json()["error"]) == (401, "mfa_step_other_browser")
    assert (owner.status_code, owner.json()["error"]) == (401, "mfa_step_used")


async def test_an_expired_or_missing_step_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    secret = await _enrolled(client, make_user, clock)
    await password_step(client)
    clock.advance(301)

    late = await client.post("/login/mfa", json={"code": code(secret, clock)})
    client.cookies.clear()
    missing = await client.post("/login/mfa", json={"code": code(secret, clock)})

    assert (late.status_code, late.json()["error"]) == (401, "mfa_step_expired")
    assert (missing.status_code, missing.json()["error"]) == (401, "mfa_step_invalid")


async def test_a_logout_everywhere_between_the_steps_leaves_the_step_dead(
    client_factory: ClientFactory,
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_settings: MakeSettings,
    clock: FakeClock,
) -> None:
    secret = await _enrolled(client, make_user, clock)
    await password_step(client)
    async with client_factory(make_settings()) as other:
        await sign_in_with_code(other, secret, clock)
        assert (await other.post("/logout?everywhere=true")).status_code == 200
    clock.advance(30)

    late = await client.post("/login/mfa", json={"code": code(secret, clock)})

    assert (late.status_code, late.json()["error"]) == (401, "mfa_step_stale")
    assert (await client.get("/session")).status_code == 401


async def test_a_recovery_code_signs_in_once(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock, db_query: DbQuery
) -> None:
    make_user()
    await log_in(client)
    enrolled = await enrol_totp(client, clock)
    assert len(enrolled.recovery_codes) == 10
    assert len(set(enrolled.recovery_codes)) == 10
    await client.post("/logout")
    rescue = enrolled.recovery_codes[3]

    await password_step(client)
    first = await client.post("/login/mfa", json={"recovery_code": rescue.upper()})
    status = await client.get("/account/mfa")
    await client.post("/logout")
    await password_step(client)
    second = await client.post("/login/mfa", json={"recovery_code": rescue})

    assert first.status_code == 200, first.text
    assert _claims(first)["aal"] == 2
    assert status.json()["recovery_codes_left"] == 9
    assert (second.status_code, second.json()["error"]) == (401, "invalid_mfa_code")
    stored = [row[0] for row in db_query("SELECT code_hash FROM mfa_recovery_codes")]
    assert len(stored) == 10
    assert not any(rescue in value for value in stored)


async def test_wrong_codes_are_throttled_but_recovery_codes_still_work(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user()
    await log_in(client)
    enrolled = await enrol_totp(client, clock)
    await client.post("/logout")
    await password_step(client)
    right = code(enrolled.secret, clock, steps=1)
    answers = []
    for guess in range(6):
        wrong = f"{(int(right) + 1 + guess) % 1_000_000:06d}"
        answers.append((await client.post("/login/mfa", json={"code": wrong})).status_code)

    throttled = await client.post("/login/mfa", json={"code": right})
    rescued = await client.post("/login/mfa", json={"recovery_code": enrolled.recovery_codes[0]})

    assert answers == [401] * 5 + [429]
    assert (throttled.status_code, throttled.json()["error"]) == (429, "too_many_attempts")
    assert "retry-after" in throttled.headers
    assert rescued.status_code == 200, rescued.text


async def test_the_totp_secret_is_encrypted_at_rest(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock, db_query: DbQuery
) -> None:
    make_user()
    await log_in(client)
    enrolled = await enrol_totp(client, clock)
    [(sealed,)] = db_query("SELECT secret_encrypted FROM mfa_factors")
    assert enrolled.secret.encode() not in bytes(sealed)
    assert PASSWORD  # the same user and password as everywhere else


async def test_two_completions_racing_with_one_step_open_one_session(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock, db_query: DbQuery
) -> None:
    secret = await _enrolled(client, make_user, clock)
    await password_step(client)
    clock.advance(30)
    proof = {"code": code(secret, clock)}

    answers = await asyncio.gather(
        client.post("/login/mfa", json=proof), client.post("/login/mfa", json=proof)
    )

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 401], [answer.text for answer in answers]
    refused = next(answer for answer in answers if answer.status_code == 401)
    assert refused.json()["error"] in {"mfa_code_reused", "mfa_step_used"}
    alive = db_query("SELECT count(*) FROM sessions WHERE ended_at IS NULL AND aal = 2")
    assert alive[0][0] == 1
