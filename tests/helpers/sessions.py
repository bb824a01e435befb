"""Helpers for the session tests: logging in, reading Set-Cookie headers, presenting tokens."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import httpx

from tests.conftest import PASSWORD

ACCESS = "authsvc_at"
REFRESH = "authsvc_rt"


@dataclass(frozen=True)
class SetCookie:
    name: str
    value: str
    attributes: dict[str, str]

    def has(self, flag: str) -> bool:
        return flag.lower() in self.attributes


def set_cookies(response: httpx.Response) -> list[SetCookie]:
    cookies = []
    for header in response.headers.get_list("set-cookie"):
        first, *rest = (part.strip() for part in header.split(";"))
        name, _, value = first.partition("=")
        attributes = {}
        for part in rest:
            key, _, attr_value = part.partition("=")
            attributes[key.lower()] = attr_value
        cookies.append(SetCookie(name, value.strip('"'), attributes))
    return cookies


def refresh_cookies(response: httpx.Response, name: str = REFRESH) -> list[SetCookie]:
    return [cookie for cookie in set_cookies(response) if cookie.name == name]


def refresh_token_of(response: httpx.Response, name: str = REFRESH) -> str:
    values = {cookie.value for cookie in refresh_cookies(response, name)}
    assert len(values) == 1, values
    return values.pop()


def access_token_of(response: httpx.Response, name: str = ACCESS) -> str:
    values = [cookie.value for cookie in set_cookies(response) if cookie.name == name]
    assert len(values) == 1, values
    return values[0]


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def login(
    client: httpx.AsyncClient,
    username: str = "alice",
    password: str = PASSWORD,
    *,
    remember: bool = False,
    user_agent: str = "test-agent",
) -> httpx.Response:
    response = await client.post(
        "/login",
        json={"username": username, "password": password, "remember": remember},
        headers={"User-Agent": user_agent},
    )
    assert response.status_code == 200, response.text
    return response


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def refresh_with(client: httpx.AsyncClient, token: str) -> httpx.Response:
    """POST /refresh presenting exactly this refresh token (and no other cookie)."""
    return await client.post("/refresh", headers={"Cookie": f"{REFRESH}={token}"})


class Device:
    """One browser: its own cookie jar over the same app, like a second device of the user."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self.access = ""
        self.refresh = ""

    async def login(self, username: str = "alice", **kwargs: object) -> httpx.Response:
        # Devices share the client's cookie jar; a real second device would not send the first
        # one's access cookie (which a login in the same browser ends as replaced).
        self.client.cookies.delete(ACCESS)
        response = await login(self.client, username, **kwargs)  # type: ignore[arg-type]
        self.remember(response)
        return response

    def remember(self, response: httpx.Response) -> None:
        """Keep the tokens a response sets, like a browser (a clearing cookie is not kept)."""
        if response.status_code >= 400:
            return
        if any(cookie.name == ACCESS for cookie in set_cookies(response)):
            self.access = access_token_of(response)
        if refresh_cookies(response):
            self.refresh = refresh_token_of(response)

    async def get(self, path: str) -> httpx.Response:
        return await self.client.get(path, headers=bearer(self.access))

    async def refresh_now(self) -> httpx.Response:
        response = await refresh_with(self.client, self.refresh)
        self.remember(response)
        return response
