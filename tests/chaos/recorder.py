"""Requests made through nginx, each written into the history with its start and end."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import httpx
import jwt

from tests.chaos.history import Call, History
from tests.helpers.cookies import ACCESS, CSRF, REFRESH, set_cookies


def upstream_port(response: httpx.Response) -> int | None:
    """The instance nginx passed the request to last (the fleet's test-only header)."""
    header = response.headers.get("x-authsvc-upstream")
    if not header:
        return None
    last = header.split(",")[-1].strip().rsplit(":", 1)[-1]
    return int(last) if last.isdigit() else None


def error_code(response: httpx.Response | None) -> str | None:
    """The error code of a refusal (a logout everywhere whose token was already refused is one:
    401 `not_authenticated`); "nobody_logged_out" for a success that says it revoked nothing
    (`"everywhere": false`), which the service no longer answers to a logout everywhere, so
    that such a regression is not counted as a revocation."""
    if response is None or not response.headers.get("content-type", "").startswith(
        "application/json"
    ):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if response.status_code < 400:
        revoked_nothing = body.get("logged_out") is False or body.get("everywhere") is False
        return "nobody_logged_out" if revoked_nothing else None
    code = body.get("error")
    return code if isinstance(code, str) else None


def cookie_value(response: httpx.Response, name: str) -> str | None:
    """The value a Set-Cookie of this name carries (an expiring one counts as absent)."""
    values = [cookie.value for cookie in set_cookies(response) if cookie.name == name]
    return values[0] if values and values[0] else None


def access_of(response: httpx.Response) -> str | None:
    return cookie_value(response, ACCESS)


def refresh_of(response: httpx.Response) -> str | None:
    return cookie_value(response, REFRESH)


def csrf_of(response: httpx.Response) -> str | None:
    return cookie_value(response, CSRF)


def refresh_headers(refresh_token: str, csrf: str) -> dict[str, str]:
    """What a page sends to POST /refresh: the cookies, and the CSRF token echoed."""
    return {
        "Cookie": f"{REFRESH}={refresh_token}; {CSRF}={csrf}",
        "X-CSRF-Token": csrf,
        "Sec-Fetch-Site": "same-origin",
    }


def claims(access_token: str) -> dict[str, Any]:
    """The token's claims, read without a check (the service checks them)."""
    payload: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    return payload


def session_id(access_token: str) -> str:
    return str(claims(access_token)["sid"])


def issued_version(response: httpx.Response | None) -> int | None:
    """The token version of the access token an answer hands out, if it hands one out."""
    token = None if response is None or response.status_code != 200 else access_of(response)
    return None if token is None else int(claims(token)["tv"])


class Recorder:
    """One client connection (keep-alive) to nginx; every request lands in the history."""

    def __init__(self, base_url: str, history: History) -> None:
        self.history = history
        self._http = httpx.Client(base_url=base_url, timeout=30)

    def close(self) -> None:
        self._http.close()

    def step_headers(self, step: str) -> dict[str, str]:
        """What a page sends to POST /login/mfa: the step cookie and the CSRF token a GET
        /session handed this client (the same User-Agent as the password step)."""
        try:
            csrf = cookie_value(self._http.get("/session"), CSRF) or ""
        except httpx.TransportError:
            csrf = ""  # the step answers 403 then: a refused login, recorded as such
        self._http.cookies.clear()
        return {
            "Cookie": f"authsvc_mfa={step}; {CSRF}={csrf}",
            "X-CSRF-Token": csrf,
            "Sec-Fetch-Site": "same-origin",
        }

    def call(
        self,
        kind: str,
        user: str,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        **meta: Any,
    ) -> tuple[Call, httpx.Response | None]:
        call_id = self.history.next_id()
        started = time.monotonic()
        response: httpx.Response | None
        try:
            response = self._http.request(method, path, headers=headers, json=json)
        except httpx.TransportError:
            response = None
        ended = time.monotonic()
        # Tokens travel in headers the client sets; nothing is replayed from a cookie jar.
        self._http.cookies.clear()
        call = Call(
            id=call_id,
            kind=kind,
            user=user,
            started=started,
            ended=ended,
            status=None if response is None else response.status_code,
            error=error_code(response),
            port=None if response is None else upstream_port(response),
            issued_version=issued_version(response),
            **meta,
        )
        return self.history.add(call), response
