"""GET /session: cookie or bearer, every claim checked, and the token version on every call."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from authsvc.config import Settings
from tests.helpers.clock import FakeClock
from tests.helpers.database import execute
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser
from tests.helpers.forged import mint, service_signer
from tests.helpers.login import access_token


async def test_cookie_and_bearer_both_authenticate(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user_id = make_user()
    token = await access_token(client)

    by_cookie = await client.get("/session")
    client.cookies.clear()
    by_bearer = await client.get("/session", headers={"Authorization": f"Bearer {token}"})

    for response in (by_cookie, by_bearer):
        assert response.status_code == 200, response.text
        assert response.json()["user"]["id"] == user_id
        assert response.json()["session"]["state"] == {}


async def test_no_token_is_401_not_authenticated(client: httpx.AsyncClient) -> None:
    response = await client.get("/session")
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.e30.",
        "x" * 70_000,
        "\u00e9\u00e9.\u00e9.\u00e9",
    ],
    ids=["garbage", "three-parts", "alg-none", "huge", "non-ascii"],
)
async def test_garbage_tokens_get_401_invalid_token(client: httpx.AsyncClient, token: str) -> None:
    # Raw bytes, as a hostile client may send them (latin-1 is how HTTP carries octets).
    header = f"Bearer {token}".encode("latin-1")
    response = await client.get("/session", headers={b"Authorization": header})
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"


async def test_expiry_is_enforced_with_a_small_leeway(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user()
    await access_token(client)

    clock.advance(15 * 60 + 29)  # lifetime + less than the 30 s leeway
    assert (await client.get("/session")).status_code == 200
    clock.advance(2)
    response = await client.get("/session")
    assert response.status_code == 401
    assert response.json()["error"] == "token_expired"


def exact_settings(make_settings: MakeSettings, database_url: str) -> Settings:
    """Settings under which a change made by hand in SQL is seen on the next request: the
    default on SQLite; on PostgreSQL the push cache learns only what authsvc announces."""
    if database_url.startswith("postgresql"):
        return make_settings(token_version_cache="off")
    return make_settings()


async def test_token_version_is_compared_with_the_users_row_on_every_call(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    database_url: str,
) -> None:
    user_id = make_user()
    async with client_factory(exact_settings(make_settings, database_url)) as client:
        await access_token(client)
        for path in ("/session", "/verify"):
            assert (await client.get(path)).status_code in (200, 204)

        execute(
            database_url,
            "UPDATE users SET token_version = token_version + 1 WHERE id = :id",
            id=user_id,
        )

        for path in ("/session", "/verify", "/sessions"):
            response = await client.get(path)
            assert response.status_code == 401, path
            assert response.json()["error"] == "token_revoked"


async def test_a_disabled_user_is_refused_at_once(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    database_url: str,
) -> None:
    user_id = make_user()
    async with client_factory(exact_settings(make_settings, database_url)) as client:
        await access_token(client)
        assert (await client.get("/session")).status_code == 200
        execute(database_url, "UPDATE users SET disabled = true WHERE id = :id", id=user_id)
        for path in ("/session", "/verify"):
            assert (await client.get(path)).json()["error"] == "token_revoked"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"iss": "http://evil.test"}, "invalid_token"),
        ({"iss": "http://authsvc.test.evil"}, "invalid_token"),
        ({"iss": ["http://authsvc.test"]}, "invalid_token"),
        ({"aud": "someone-else"}, "invalid_token"),
        ({"header": {"typ": "JWT"}}, "invalid_token"),
        ({"header": {"crit": ["exp"]}}, "invalid_token"),
        ({"nbf_offset": 120}, "invalid_token"),
        ({"exp": "9999999999"}, "invalid_token"),
        ({"tv": "0"}, "invalid_token"),
        ({"tv": True}, "invalid_token"),
        ({"roles": "admin"}, "invalid_token"),
        ({"sess": []}, "invalid_token"),
        ({"drop": ("tv",)}, "invalid_token"),
        ({"drop": ("sid",)}, "invalid_token"),
        ({"drop": ("jti",)}, "invalid_token"),
        ({"drop": ("exp",)}, "invalid_token"),
    ],
    ids=lambda value: str(value),
)
async def test_claims_and_header_are_checked(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    database_url: str,
    clock: FakeClock,
    change: dict[str, Any],
    error: str,
) -> None:
    user_id = make_user()
    await access_token(client)  # makes sure the key exists and the user is real
    client.cookies.clear()
    signer = service_signer(database_url)
    change = dict(change)
    header = change.pop("header", None)
    drop = change.pop("drop", ())
    nbf_offset = change.pop("nbf_offset", 0)
    if nbf_offset:
        change["nbf"] = int(clock.now().timestamp()) + nbf_offset
    token = mint(signer, now=clock.now(), header=header, drop=drop, sub=user_id, **change)

    response = await client.get("/session", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert response.json()["error"] == error


async def test_a_well_formed_token_minted_with_the_service_key_is_accepted(
    client: httpx.AsyncClient, make_user: MakeUser, database_url: str, clock: FakeClock
) -> None:
    """The control for the test above: only the changed claim makes the difference."""
    user_id = make_user()
    await access_token(client)
    client.cookies.clear()
    token = mint(service_signer(database_url), now=clock.now(), sub=user_id)
    response = await client.get("/session", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
