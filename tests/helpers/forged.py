"""Tokens the service did not issue: minted with its own key (as an attacker who stole nothing
cannot), or signed by a stranger's key that no JWKS of ours publishes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from authsvc.keys.encryption import KeyEncryptor
from authsvc.keys.ring import KeyRing
from authsvc.storage.engine import make_engine, make_session_factory
from authsvc.tokens.access import SigningMaterial
from tests.helpers.defaults import ISSUER, TEST_SECRET


def access_claims(now: datetime, **overrides: Any) -> dict[str, Any]:
    """Every claim of an access token, valid at `now`, then the overrides."""
    issued = int(now.timestamp())
    payload: dict[str, Any] = {
        "iss": ISSUER,
        "aud": "authsvc",
        "sub": "nobody",
        "sid": "s",
        "tv": 0,
        "iat": issued,
        "nbf": issued,
        "exp": issued + int(timedelta(minutes=15).total_seconds()),
        "jti": "j" * 22,
        "roles": [],
        "sess": {},
    }
    payload.update(overrides)
    return payload


def service_ring(database_url: str) -> KeyRing:
    """The service's key ring as its instances load it, private keys included."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as db:
            return KeyRing.load(db, KeyEncryptor(TEST_SECRET))
    finally:
        engine.dispose()


def service_signer(database_url: str) -> SigningMaterial:
    ring = service_ring(database_url)
    assert ring.signer is not None
    return ring.signer


def mint(
    signer: SigningMaterial,
    *,
    now: datetime,
    header: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    **claims: Any,
) -> str:
    payload = access_claims(now, **claims)
    for name in drop:
        payload.pop(name)
    headers = {"kid": signer.kid, "typ": "at+jwt", **(header or {})}
    # Sign raw JSON through the JWS layer: jwt.encode would refuse some malformed claims.
    body = json.dumps(payload, separators=(",", ":")).encode()
    return jwt.PyJWS().encode(body, signer.key, algorithm=signer.alg, headers=headers)


def foreign_token(*, issuer: str, kid: str = "someone-elses-key") -> str:
    """A well-formed token signed by a key that no JWKS of ours publishes."""
    key = ec.generate_private_key(ec.SECP256R1())
    payload = access_claims(datetime.now(UTC).replace(microsecond=0), iss=issuer)
    return jwt.encode(payload, key, algorithm="ES256", headers={"kid": kid, "typ": "at+jwt"})
