"""A provider stood in by respx, signing the ID tokens a test writes (the mock cannot forge)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import respx
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

ISSUER = "https://idp.example"
CLIENT_ID = "authsvc-stub"


def new_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"})


@dataclass
class StubIdp:
    """Discovery, JWKS and a token endpoint whose answer the test decides."""

    key: RSAKey = field(default_factory=lambda: new_key("idp-1"))
    # Called with the token request before it is answered: a test's gate in the exchange.
    on_exchange: Callable[[httpx.Request], None] | None = None
    id_token: str = ""

    def setting(self, name: str = "stub", **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "client_id": CLIENT_ID,
            "client_secret": "stub-secret",
            "discovery_url": f"{ISSUER}/.well-known/openid-configuration",
            **extra,
        }

    def claims(self, nonce: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": CLIENT_ID,
            "sub": "stub-subject",
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "email": "stub@example.com",
            "email_verified": True,
        }
        claims.update(overrides)
        return claims

    def sign(self, claims: dict[str, Any], key: RSAKey | None = None) -> str:
        signer = key or self.key
        header = {"alg": "RS256", "kid": signer.kid}
        return jwt.encode(header, claims, signer)

    def install(self, router: respx.MockRouter) -> None:
        router.get(f"{ISSUER}/.well-known/openid-configuration").respond(
            json={
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks",
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )
        router.get(f"{ISSUER}/jwks").mock(
            side_effect=lambda _: httpx.Response(200, json=KeySet([self.key]).as_dict())
        )
        router.post(f"{ISSUER}/token").mock(side_effect=self._token)

    def _token(self, request: httpx.Request) -> httpx.Response:
        if self.on_exchange is not None:
            self.on_exchange(request)
        return httpx.Response(
            200, json={"access_token": "at", "token_type": "Bearer", "id_token": self.id_token}
        )
