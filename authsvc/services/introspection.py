"""RFC 7662 token introspection: client authentication and the answer for one token."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from authsvc.errors import InvalidClient, InvalidToken
from authsvc.services.authentication import Authenticator
from authsvc.services.issuing import TokenIssuer

INACTIVE: dict[str, Any] = {"active": False}
# Compared against when the client id is unknown, so the answer takes the same time.
_DUMMY_DIGEST = hashlib.sha256(b"authsvc-unknown-introspection-client").digest()


def secret_digest(secret: str) -> bytes:
    # Client secrets are generated random strings (256 bits), so a fast hash is enough here:
    # there is nothing to brute-force that a slow hash would protect.
    return hashlib.sha256(secret.encode()).digest()


def new_client_secret() -> tuple[str, str]:
    """A fresh secret and the `sha256:<hex>` form to put in AUTHSVC_INTROSPECTION_CLIENTS."""
    secret = secrets.token_urlsafe(32)
    return secret, "sha256:" + secret_digest(secret).hex()


@dataclass(frozen=True)
class IntrospectionClients:
    digests: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def parse(cls, entries: list[str]) -> IntrospectionClients:
        """Entries were validated by Settings: `id:sha256:<hex>`."""
        digests = {}
        for entry in entries:
            client_id, _, digest = entry.partition(":sha256:")
            digests[client_id] = bytes.fromhex(digest)
        return cls(digests)

    def authenticate(self, client_id: str, client_secret: str) -> str:
        expected = self.digests.get(client_id, _DUMMY_DIGEST)
        matches = hmac.compare_digest(secret_digest(client_secret), expected)
        if not matches or client_id not in self.digests:
            raise InvalidClient()
        return client_id


def introspect(db: Session, issuer: TokenIssuer, token: str, *, now: datetime) -> dict[str, Any]:
    """The RFC 7662 answer: `{"active": false}` for anything that would not pass right now."""
    try:
        # Always against the user's row: a caller that asks wants the answer of this instant.
        authenticated = Authenticator(issuer).authenticate(db, token, now=now)
    except InvalidToken:
        return dict(INACTIVE)
    claims, policy = authenticated.claims, issuer.policy
    return {
        "active": True,
        "token_type": "Bearer",
        "iss": policy.issuer,
        "aud": policy.audience,
        "sub": claims.sub,
        "username": authenticated.user.username,
        "iat": claims.iat,
        "nbf": claims.iat,
        "exp": claims.exp,
        "jti": claims.jti,
        # authsvc's own claims, so that a downstream service needs nothing else.
        "sid": claims.sid,
        "tv": claims.tv,
        "roles": list(claims.roles),
        "sess": dict(claims.sess),
    }
