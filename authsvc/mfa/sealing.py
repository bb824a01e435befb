"""TOTP secrets at rest: AES-256-GCM under a key derived from the operator's secret.

The same construction as the signing keys (`keys/encryption.py`), with its own HKDF label so
the two never share a key, and the factor's id bound as associated data so a sealed secret
cannot be moved to another factor's row.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authsvc.errors import KeyDecryptionError

_VERSION = b"v1"


class SecretSealer:
    """Seals and opens factor secrets: the first secret seals, every one opens (in HS256 mode the
    list is AUTHSVC_JWT_SECRETS, so putting a new one first keeps the factors readable)."""

    def __init__(self, *secrets: str):
        self._aeads = [
            AESGCM(
                HKDF(
                    algorithm=hashes.SHA256(),
                    length=32,
                    salt=b"authsvc/key-encryption/v1",
                    info=b"mfa-secret-at-rest",
                ).derive(secret.encode())
            )
            for secret in secrets
        ]

    def seal(self, factor_id: str, plaintext: str) -> bytes:
        nonce = os.urandom(12)
        sealed = self._aeads[0].encrypt(nonce, plaintext.encode(), factor_id.encode())
        return _VERSION + nonce + sealed

    def open(self, factor_id: str, blob: bytes) -> str:
        if blob[:2] != _VERSION:
            raise KeyDecryptionError(f"factor {factor_id}: unknown encryption format")
        for aead in self._aeads:
            try:
                return aead.decrypt(blob[2:14], blob[14:], factor_id.encode()).decode()
            except InvalidTag:
                continue
        raise KeyDecryptionError(
            f"factor {factor_id}: AUTHSVC_KEY_ENCRYPTION_SECRET does not decrypt its secret"
        )
