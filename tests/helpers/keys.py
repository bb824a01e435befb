"""Signing keys as the outside sees them: a token's kid, the JWKS, and a downstream JWKS client
that caches exactly as long as Cache-Control allows."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import jwt
from jwt import PyJWKClient

from authsvc.tokens.access import AccessClaims, TokenPolicy, VerificationKey, verify_access_token
from tests.helpers.clock import FakeClock
from tests.helpers.defaults import ISSUER

POLICY = TokenPolicy(issuer=ISSUER, audience="authsvc")


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


async def jwks_kids(client: httpx.AsyncClient) -> list[str]:
    """The kids the JWKS publishes, in its order."""
    return [key["kid"] for key in (await client.get("/.well-known/jwks.json")).json()["keys"]]


def jwks_kids_at(http: httpx.Client, url: str) -> set[str]:
    """The kids a live server's JWKS publishes."""
    keys = http.get(f"{url}/.well-known/jwks.json").json()["keys"]
    return {key["kid"] for key in keys}


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
