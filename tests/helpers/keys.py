"""Helpers for the signing-key tests: log in for a bearer token, run the CLI, a downstream JWKS
client that caches exactly as long as Cache-Control allows."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import httpx
import jwt
from jwt import PyJWKClient
from typer.testing import CliRunner

from authsvc.cli import app as cli_app
from authsvc.tokens.access import AccessClaims, TokenPolicy, VerificationKey, verify_access_token
from tests.conftest import PASSWORD, TEST_SECRET
from tests.helpers.support import FakeClock

ISSUER = "http://authsvc.test"
POLICY = TokenPolicy(issuer=ISSUER, audience="authsvc")


async def login(client: httpx.AsyncClient, username: str = "alice") -> str:
    response = await client.post("/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def session_status(client: httpx.AsyncClient, token: str) -> tuple[int, str | None]:
    """Status of GET /session with this bearer token, and the error code when refused."""
    response = await client.get("/session", headers={"Authorization": f"Bearer {token}"})
    code = response.json().get("error") if response.status_code != 200 else None
    return response.status_code, code


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def cli(
    database_url: str, *args: str, stdin: str = "", secret: str = TEST_SECRET, **env: str
) -> Any:
    """Run `authsvc ...` in-process; returns the click Result (exit_code, stdout, stderr)."""
    environment = {
        "AUTHSVC_DATABASE_URL": database_url,
        "AUTHSVC_KEY_ENCRYPTION_SECRET": secret,
        **env,
    }
    return CliRunner().invoke(cli_app, list(args), input=stdin, env=environment)


def cli_json(database_url: str, *args: str, **env: str) -> Any:
    result = cli(database_url, *args, **env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


class CachingJwksClient(PyJWKClient):
    """A strict downstream verifier: PyJWKClient fed from a copy of the JWKS that is refetched
    only when its Cache-Control max-age has run out on the fake clock, never on an unknown kid.
    That is the least forgiving cache a rotation has to satisfy."""

    def __init__(self, clock: FakeClock):
        super().__init__(f"{ISSUER}/.well-known/jwks.json", cache_jwk_set=False)
        self.clock = clock
        self.document: dict[str, Any] = {"keys": []}
        self.expires_at = clock.now()
        self.fetches = 0

    async def refresh_if_stale(self, client: httpx.AsyncClient) -> None:
        if self.clock.now() < self.expires_at and self.fetches:
            return
        response = await client.get("/.well-known/jwks.json")
        assert response.status_code == 200
        match = re.search(r"max-age=(\d+)", response.headers["cache-control"])
        assert match is not None
        self.document = response.json()
        self.expires_at = self.clock.now() + timedelta(seconds=int(match.group(1)))
        self.fetches += 1

    def fetch_data(self) -> Any:
        return self.document

    def verify(self, token: str) -> AccessClaims:
        signing_key = self.get_signing_key_from_jwt(token)
        key = VerificationKey(
            kid=kid_of(token), alg=signing_key.algorithm_name, key=signing_key.key
        )
        return verify_access_token(token, {key.kid: key}, POLICY, now=self.clock.now())
