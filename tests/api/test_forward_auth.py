"""GET /verify: the gateway's check, with the identity in headers and never a cookie set."""

from __future__ import annotations

import httpx

from tests.helpers.clock import FakeClock
from tests.helpers.cookies import ACCESS
from tests.helpers.fixture_types import MakeUser
from tests.helpers.headers import bearer
from tests.helpers.login import access_token, bearer_token
from tests.helpers.sessions import status_and_error


def identity(response: httpx.Response) -> tuple[str | None, str | None, str | None]:
    headers = response.headers
    return headers.get("x-auth-user"), headers.get("x-auth-session"), headers.get("x-auth-roles")


async def test_a_valid_cookie_gets_204_with_the_identity_and_no_cookie(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user_id = make_user(roles=["admin", "billing"])
    token = await access_token(client)
    session = (await client.get("/session")).json()["session"]["id"]
    # Only the access cookie, as a browser's first request carries it: /session would hand such
    # a browser its CSRF cookie; /verify never sets one.
    client.cookies.clear()
    cookie = {"Cookie": f"{ACCESS}={token}"}

    response = await client.get("/verify", headers=cookie)

    assert response.status_code == 204
    assert response.content == b""
    assert identity(response) == (user_id, session, "admin,billing")
    assert "set-cookie" not in response.headers
    assert response.headers["cache-control"] == "no-store"


async def test_a_bearer_token_is_checked_the_same(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user_id = make_user()
    token = await bearer_token(client)
    response = await client.get("/verify", headers=bearer(token))
    assert response.status_code == 204
    assert identity(response)[0] == user_id
    assert identity(response)[2] == ""


async def test_headers_the_client_forged_are_not_the_answer(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user_id = make_user()
    token = await bearer_token(client)
    forged = {"X-Auth-User": "someone-else", "X-Auth-Roles": "admin", **bearer(token)}
    response = await client.get("/verify", headers=forged)
    assert response.status_code == 204
    assert identity(response)[0] == user_id
    assert identity(response)[2] == ""


async def test_no_token_is_401_not_authenticated_without_a_cookie(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/verify", headers={"X-Auth-User": "forged"})
    assert status_and_error(response) == (401, "not_authenticated")
    assert identity(response) == (None, None, None)
    assert "set-cookie" not in response.headers


async def test_a_revoked_token_is_refused_with_the_usual_code(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    token = await bearer_token(client)
    assert (await client.get("/verify", headers=bearer(token))).status_code == 204
    await client.post("/logout?everywhere=true", headers=bearer(token))
    response = await client.get("/verify", headers=bearer(token))
    assert status_and_error(response) == (401, "token_revoked")
    assert "set-cookie" not in response.headers


async def test_an_expired_token_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FakeClock
) -> None:
    make_user()
    token = await bearer_token(client)
    clock.advance(15 * 60 + 31)
    assert status_and_error(await client.get("/verify", headers=bearer(token))) == (
        401,
        "token_expired",
    )


async def test_a_path_after_verify_is_checked_the_same_as_envoy_sends_it(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    user_id = make_user()
    token = await bearer_token(client)
    response = await client.get("/verify/orders/7?page=2", headers=bearer(token))
    assert response.status_code == 204
    assert identity(response)[0] == user_id
    refused = await client.get("/verify/orders/7", headers=bearer("not-a-token"))
    assert status_and_error(refused) == (401, "invalid_token")
