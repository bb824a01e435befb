"""Signing keys as stored: their states, generation, public JWKs and the queries over them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms
from sqlalchemy import select
from sqlalchemy.orm import Session

from authsvc.keys.encryption import KeyEncryptor
from authsvc.storage.models import SigningKey

PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey


class KeyState(StrEnum):
    pending = "pending"
    active = "active"
    retiring = "retiring"
    retired = "retired"
    revoked = "revoked"


# States whose public key downstream services must be able to find.
PUBLISHED_STATES = (KeyState.pending, KeyState.active, KeyState.retiring)
# States whose tokens are refused by name, so that clients learn why.
WITHDRAWN_STATES = (KeyState.retired, KeyState.revoked)
HS256 = "HS256"


def generate_private_key(alg: str) -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise ValueError(f"unsupported signing algorithm {alg!r}")


def public_jwk(private_key: PrivateKey, alg: str) -> dict[str, Any]:
    """The public JWK with a kid that is its RFC 7638 thumbprint."""
    algorithm = get_default_algorithms()[alg]
    jwk: dict[str, Any] = algorithm.to_jwk(private_key.public_key(), as_dict=True)
    required = {name: jwk[name] for name in ("crv", "e", "kty", "n", "x", "y") if name in jwk}
    digest = hashlib.sha256(json.dumps(required, separators=(",", ":"), sort_keys=True).encode())
    kid = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def new_signing_key(
    alg: str,
    encryptor: KeyEncryptor,
    *,
    state: KeyState,
    now: datetime,
    activate_at: datetime | None = None,
) -> SigningKey:
    private_key = generate_private_key(alg)
    jwk = public_jwk(private_key, alg)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningKey(
        kid=jwk["kid"],
        alg=alg,
        state=state.value,
        public_jwk=jwk,
        private_key_encrypted=encryptor.encrypt(jwk["kid"], pem),
        created_at=now,
        activate_at=now if state is KeyState.active else activate_at,
        activated_at=now if state is KeyState.active else None,
    )


def active_key(db: Session) -> SigningKey | None:
    return db.scalars(select(SigningKey).where(SigningKey.state == KeyState.active)).first()


def all_keys(db: Session) -> Sequence[SigningKey]:
    return db.scalars(select(SigningKey).order_by(SigningKey.created_at)).all()


def hs256_kid(secret: bytes) -> str:
    """A kid that names a shared secret without revealing anything about it."""
    digest = hmac.new(secret, b"authsvc/hs256-kid", hashlib.sha256).digest()
    return "hs256-" + base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()
