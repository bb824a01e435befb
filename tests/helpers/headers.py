"""Headers: what a request carries to authenticate (a bearer token, or cookies with a page's CSRF
echo of Origin and X-CSRF-Token on unsafe requests), and what two answers may not differ in."""

from __future__ import annotations

import httpx

from authsvc.config import Settings
from tests.helpers.cookies import CSRF

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf_token(client: httpx.Client | httpx.AsyncClient, cookie_name: str = CSRF) -> str:
    """The CSRF token the client holds as a cookie (with or without the __Host- prefix)."""
    return next(
        cookie.value
        for cookie in client.cookies.jar
        if cookie.name.removeprefix("__Host-") == cookie_name and cookie.value is not None
    )


def spa_headers(client: httpx.Client, origin: str) -> dict[str, str]:
    """What a page of `origin` sends with an unsafe request: Origin and the CSRF cookie echoed."""
    return {"Origin": origin, "X-CSRF-Token": csrf_token(client)}


def behave_like_spa(client: httpx.AsyncClient, settings: Settings, origin: str) -> None:
    """Once the client holds the CSRF cookie, send Origin and echo the token, as an SPA does."""

    async def add_csrf_headers(request: httpx.Request) -> None:
        if request.method not in UNSAFE_METHODS:
            return
        csrf = next(
            (
                cookie
                for cookie in client.cookies.jar
                if cookie.name.removeprefix("__Host-") == settings.csrf_cookie_name
            ),
            None,
        )
        if csrf is None or csrf.value is None:
            return
        request.headers.setdefault("origin", origin)
        request.headers.setdefault(settings.csrf_header_name, csrf.value)
        # A test presenting chosen cookies by hand replaces the jar's; a browser would still
        # send its CSRF cookie along with them.
        sent = request.headers.get("cookie")
        if sent is not None and f"{csrf.name}=" not in sent:
            request.headers["cookie"] = f"{sent}; {csrf.name}={csrf.value}"

    client.event_hooks["request"].append(add_csrf_headers)


def comparable_headers(response: httpx.Response) -> list[tuple[str, str]]:
    """All headers but the per-request id: what may not differ between two answers."""
    return sorted((k, v) for k, v in response.headers.items() if k != "x-request-id")
