"""Logging in, one family for every kind of client: the in-process async client, a synchronous
client (httpx.Client, or the in-process SyncClient the verifier tests use) and a live server.

`post_login` sends the attempt whatever the answer; `log_in` requires a 200; `access_token`
returns the token the login set as its cookie; `bearer_token` also empties the client's cookie
jar, so that later calls present only what the test gives them (a bearer header, a cookie).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from tests.helpers.cookies import ACCESS
from tests.helpers.defaults import PASSWORD


class SyncHttp(Protocol):
    """A synchronous client: httpx.Client or the in-process SyncClient."""

    @property
    def cookies(self) -> httpx.Cookies: ...

    def post(
        self, url: str, *, json: Any = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response: ...


def credentials(
    username: str = "alice", password: str = PASSWORD, remember: bool | None = None
) -> dict[str, object]:
    """The JSON body of POST /login; `remember` is sent only when the test says."""
    body: dict[str, object] = {"username": username, "password": password}
    if remember is not None:
        body["remember"] = remember
    return body


async def post_login(
    client: httpx.AsyncClient,
    username: str = "alice",
    password: str = PASSWORD,
    *,
    remember: bool | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST /login, whatever the answer."""
    return await client.post(
        "/login", json=credentials(username, password, remember), headers=headers
    )


async def log_in(
    client: httpx.AsyncClient,
    username: str = "alice",
    password: str = PASSWORD,
    *,
    remember: bool | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST /login, which must succeed."""
    response = await post_login(client, username, password, remember=remember, headers=headers)
    assert response.status_code == 200, response.text
    return response


async def access_token(client: httpx.AsyncClient, username: str = "alice") -> str:
    """Log in; the access token the login set (the client keeps its cookies)."""
    return (await log_in(client, username)).cookies[ACCESS]


async def bearer_token(client: httpx.AsyncClient, username: str = "alice") -> str:
    """Log in as a scripted client: the access token, and no cookie kept to replay."""
    token = await access_token(client, username)
    client.cookies.clear()
    return token


def log_in_sync(
    http: SyncHttp, username: str = "alice", password: str = PASSWORD, *, at: str = ""
) -> httpx.Response:
    """POST {at}/login, which must succeed; `at` is the server's URL for a client without one."""
    response = http.post(f"{at}/login", json=credentials(username, password))
    assert response.status_code == 200, response.text
    return response


def bearer_token_sync(http: SyncHttp, username: str = "alice", *, at: str = "") -> str:
    """Log in as a scripted client: the access token, and no cookie kept to replay."""
    token = log_in_sync(http, username, at=at).cookies[ACCESS]
    http.cookies.clear()
    return token


def log_in_at(url: str, username: str = "alice", password: str = PASSWORD) -> httpx.Response:
    """POST /login to a live server without a client (so nothing keeps its cookies)."""
    response = httpx.post(f"{url}/login", json=credentials(username, password), timeout=15)
    assert response.status_code == 200, response.text
    return response
