"""Using a session once logged in: its status, refresh, logout everywhere, and devices that each
keep their own tokens, like several browsers of one user."""

from __future__ import annotations

import asyncio
import hashlib
import time

import httpx

from tests.helpers.cookies import (
    ACCESS,
    REFRESH,
    access_token_of,
    refresh_cookies,
    refresh_token_of,
    set_cookies,
)
from tests.helpers.headers import bearer
from tests.helpers.login import SyncHttp, log_in


def sha256(token: str) -> str:
    """How the service stores a refresh token."""
    return hashlib.sha256(token.encode()).hexdigest()


def status_and_error(response: httpx.Response) -> tuple[int, str | None]:
    """The status, and the error code when the answer is an error."""
    return response.status_code, (
        response.json().get("error") if response.status_code >= 400 else None
    )


async def session_status(client: httpx.AsyncClient, token: str) -> tuple[int, str | None]:
    """GET /session with this bearer token: the status, and the error code when refused."""
    return status_and_error(await client.get("/session", headers=bearer(token)))


def session_status_at(http: httpx.Client, url: str, token: str) -> tuple[int, str | None]:
    """The same against a live server at `url`."""
    return status_and_error(http.get(f"{url}/session", headers=bearer(token)))


async def refresh_with(client: httpx.AsyncClient, token: str) -> httpx.Response:
    """POST /refresh presenting exactly this refresh token (and no other cookie)."""
    return await client.post("/refresh", headers={"Cookie": f"{REFRESH}={token}"})


def logout_everywhere(authsvc: SyncHttp, token: str) -> None:
    """POST /logout?everywhere=true as a scripted client (bearer token), which must succeed."""
    response = authsvc.post("/logout?everywhere=true", headers=bearer(token))
    assert response.json() == {"logged_out": True, "everywhere": True}


class Device:
    """One browser: its own cookie jar over the same app, like a second device of the user."""

    def __init__(self, client: httpx.AsyncClient):
        self.client = client
        self.access = ""
        self.refresh = ""

    async def login(
        self, username: str = "alice", *, remember: bool = False, user_agent: str = "test-agent"
    ) -> httpx.Response:
        # Devices share the client's cookie jar; a real second device would not send the first
        # one's access cookie (which a login in the same browser ends as replaced).
        self.client.cookies.delete(ACCESS)
        response = await log_in(
            self.client, username, remember=remember, headers={"User-Agent": user_agent}
        )
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


# How long an announcement (a revocation, a key change) may take to reach another process or
# instance: the push delay (milliseconds, docs/sessions.md), with room for a loaded 2-core machine.
# Every test that waits for a push polls within this one bound.
PUSH_BOUND_SECONDS = 3.0


async def assert_revoked_by_another_process(
    device: Device | httpx.AsyncClient, database_url: str, code: str = "token_revoked"
) -> None:
    """A change committed by another process (the CLI) or instance: on SQLite the very next
    request is refused; on PostgreSQL the instance learns it by push, so within the push delay.
    `device` is a Device, or a client whose cookies carry the token."""
    response = await device.get("/session")
    if not database_url.startswith("sqlite"):
        deadline = time.monotonic() + PUSH_BOUND_SECONDS
        while response.status_code == 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
            response = await device.get("/session")
    assert response.status_code == 401, response.text
    assert response.json()["error"] == code
