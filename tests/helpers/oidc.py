"""A real OpenID Connect provider on loopback (oidc-provider-mock), and driving a sign-in at it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.helpers.processes import free_port, port_open, stop_process
from tests.helpers.waiting import wait_for

CLIENT_ID = "authsvc-test"
CLIENT_SECRET = "not-a-real-secret"


@dataclass(frozen=True)
class MockProvider:
    base_url: str

    @property
    def discovery_url(self) -> str:
        return f"{self.base_url}/.well-known/openid-configuration"

    def provider_setting(self, name: str = "mock", **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "discovery_url": self.discovery_url,
            **extra,
        }

    def set_user(self, sub: str, **claims: object) -> None:
        """What the provider says about `sub` from now on."""
        response = httpx.put(f"{self.base_url}/users/{sub}", json=claims)
        response.raise_for_status()

    def consent(self, authorize_url: str, sub: str, *, deny: bool = False) -> str:
        """The person signs in at the provider as `sub`: the URL it sends the browser back to."""
        assert authorize_url.startswith(self.base_url), authorize_url
        form = {"action": "deny"} if deny else {"sub": sub}
        response = httpx.post(authorize_url, data=form)
        assert response.status_code in (302, 303), response.text
        return response.headers["location"]


@contextmanager
def running_provider() -> Iterator[MockProvider]:
    """The mock in its own process: its Authlib warnings stay out of this test run's filters."""
    port = free_port()
    command = [sys.executable, "-W", "ignore", "-m", "oidc_provider_mock"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--require-nonce", "true"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        # Start-up imports Flask and Authlib: seconds on a loaded machine, so a generous bound.
        wait_for(lambda: port_open(port), timeout=60, what="the OpenID Connect mock to listen")
        yield MockProvider(f"http://127.0.0.1:{port}")
    finally:
        stop_process(process)


def local_path(url: str) -> str:
    """The path and query of a URL on authsvc, as the in-process client requests it."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
