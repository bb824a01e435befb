"""The signing key ring: key generation, encryption at rest, the loaded ring and the JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import get_default_algorithms
from sqlalchemy import select
from sqlalchemy.orm import Session

from authsvc.errors import KeyDecryptionError, KeyRetired, KeyRevoked
from authsvc.storage.models import SigningKey
from authsvc.tokens.access import (
    AccessClaims,
    SigningMaterial,
    TokenPolicy,
    VerificationKey,
    read_header,
    verify_access_token,
)

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


class KeyEncryptor:
    """AES-256-GCM with a key derived from the operator's secret; the kid is bound as AAD."""

    _VERSION = b"v1"

    def __init__(self, secret: str):
        derived = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"authsvc/key-encryption/v1",
            info=b"signing-key-at-rest",
        ).derive(secret.encode())
        self._aead = AESGCM(derived)

    def encrypt(self, kid: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(12)
        return self._VERSION + nonce + self._aead.encrypt(nonce, plaintext, kid.encode())

    def decrypt(self, kid: str, blob: bytes) -> bytes:
        if blob[:2] != self._VERSION:
            raise KeyDecryptionError(f"key {kid}: unknown encryption format")
        nonce, ciphertext = blob[2:14], blob[14:]
        try:
            return self._aead.decrypt(nonce, ciphertext, kid.encode())
        except InvalidTag as exc:
            raise KeyDecryptionError(
                f"key {kid}: AUTHSVC_KEY_ENCRYPTION_SECRET does not decrypt it "
                "(wrong secret, or the key was encrypted with another one)"
            ) from exc


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


def decrypt_signer(
    rows: Sequence[SigningKey], encryptor: KeyEncryptor, previous: KeyRing | None = None
) -> SigningMaterial | None:
    """The active key's private part; reused from the previous ring rather than decrypted again.

    Reuse keeps a running instance signing while `authsvc keys reencrypt` changes the secret
    under it; only a key it has never seen needs the secret it was started with.
    """
    active = next((row for row in rows if row.state == KeyState.active), None)
    if active is None:
        return None
    if previous is not None and previous.signer is not None and previous.signer.kid == active.kid:
        return previous.signer
    pem = encryptor.decrypt(active.kid, active.private_key_encrypted)
    private = serialization.load_pem_private_key(pem, password=None)
    return SigningMaterial(kid=active.kid, alg=active.alg, key=private)  # type: ignore[arg-type]


@dataclass(frozen=True)
class KeyRing:
    """An immutable snapshot of the keys; swapped whole when the database changes."""

    signer: SigningMaterial | None
    verification_keys: Mapping[str, VerificationKey] = field(default_factory=dict)
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    # Retired and revoked kids, so that their tokens are refused with a specific code.
    withdrawn: Mapping[str, KeyState] = field(default_factory=dict)

    @classmethod
    def load(cls, db: Session, encryptor: KeyEncryptor, previous: KeyRing | None = None) -> KeyRing:
        rows = all_keys(db)
        return cls.from_rows(rows, decrypt_signer(rows, encryptor, previous))

    @classmethod
    def from_rows(cls, rows: Sequence[SigningKey], signer: SigningMaterial | None) -> KeyRing:
        published = [row for row in rows if row.state in PUBLISHED_STATES]
        algorithms = get_default_algorithms()
        verification = {
            row.kid: VerificationKey(
                kid=row.kid, alg=row.alg, key=algorithms[row.alg].from_jwk(row.public_jwk)
            )
            for row in published
        }
        withdrawn = {row.kid: KeyState(row.state) for row in rows if row.state in WITHDRAWN_STATES}
        return cls(
            signer=signer,
            verification_keys=verification,
            jwks={"keys": [dict(row.public_jwk) for row in published]},
            withdrawn=withdrawn,
        )

    @classmethod
    def from_secrets(cls, secrets: Sequence[str]) -> KeyRing:
        """HS256 mode: the first secret signs, every one verifies, and nothing is published."""
        keys = [(hs256_kid(secret.encode()), secret.encode()) for secret in secrets]
        verification = {kid: VerificationKey(kid=kid, alg=HS256, key=key) for kid, key in keys}
        signer = SigningMaterial(kid=keys[0][0], alg=HS256, key=keys[0][1])
        return cls(signer=signer, verification_keys=verification)

    def verify(self, token: str, policy: TokenPolicy, *, now: datetime) -> AccessClaims:
        """Verify a token against the ring, naming a retired or revoked key when it used one."""
        fate = self.withdrawn.get(read_header(token)["kid"])
        if fate is KeyState.revoked:
            raise KeyRevoked()
        if fate is KeyState.retired:
            raise KeyRetired()
        return verify_access_token(token, self.verification_keys, policy, now=now)
