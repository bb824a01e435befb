"""Second factors over HTTP: enrol TOTP on a signed-in client, compute codes, finish logins."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pyotp

from tests.helpers.clock import FakeClock
from tests.helpers.defaults import PASSWORD


@dataclass(frozen=True)
class Enrolled:
    factor_id: str
    secret: str
    recovery_codes: list[str]


def code(secret: str, clock: FakeClock, *, steps: int = 0) -> str:
    """The TOTP code of the clock's step (moved by `steps`), as an authenticator app shows it."""
    return pyotp.TOTP(secret).at(clock.now(), counter_offset=steps)


async def enrol_totp(client: httpx.AsyncClient, clock: FakeClock) -> Enrolled:
    """On a signed-in client: add a TOTP factor and confirm it with its current code."""
    begun = await client.post("/account/mfa/totp", json={"name": "Phone"})
    assert begun.status_code == 200, begun.text
    body = begun.json()
    confirmed = await client.post(
        f"/account/mfa/totp/{body['factor_id']}/confirm",
        json={"code": code(body["secret"], clock)},
    )
    assert confirmed.status_code == 200, confirmed.text
    return Enrolled(body["factor_id"], body["secret"], confirmed.json().get("recovery_codes", []))


async def password_step(
    client: httpx.AsyncClient, username: str = "alice", password: str = PASSWORD
) -> httpx.Response:
    """POST /login on an account with a factor: the 200 that asks for the second step.

    As a page does on load, it asks GET /session first: that hands the browser its CSRF token,
    which the step's POST must echo (the step cookie is a credential).
    """
    await client.get("/session")
    response = await client.post("/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    assert response.json()["mfa_required"] is True, response.text
    return response


async def sign_in_with_code(
    client: httpx.AsyncClient,
    secret: str,
    clock: FakeClock,
    *,
    steps: int = 0,
    username: str = "alice",
) -> httpx.Response:
    """Both steps; the clock moves a step first, so the code was never used before."""
    await password_step(client, username)
    clock.advance(30)
    response = await client.post("/login/mfa", json={"code": code(secret, clock, steps=steps)})
    assert response.status_code == 200, response.text
    return response
