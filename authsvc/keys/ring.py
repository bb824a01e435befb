"""The key ring: an immutable snapshot of the keys that sign, verify and are published."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from jwt.algorithms import get_default_algorithms
from sqlalchemy.orm import Session

from authsvc.errors import KeyRetired, KeyRevoked
from authsvc.keys.encryption import KeyEncryptor
from authsvc.keys.material import (
    HS256,
    PUBLISHED_STATES,
    WITHDRAWN_STATES,
    KeyState,
    all_keys,
    hs256_kid,
)
from authsvc.storage.models import SigningKey
from authsvc.tokens.access import (
    AccessClaims,
    SigningMaterial,
    TokenPolicy,
    UnverifiedToken,
    VerificationKey,
    read_header,
    verify_access_token,
)


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

    def verify(
        self, token: str | UnverifiedToken, policy: TokenPolicy, *, now: datetime
    ) -> AccessClaims:
        """Verify a token against the ring, naming a retired or revoked key when it used one."""
        fate = self.withdrawn.get(read_header(token)["kid"])
        if fate is KeyState.revoked:
            raise KeyRevoked()
        if fate is KeyState.retired:
            raise KeyRetired()
        return verify_access_token(token, self.verification_keys, policy, now=now)
