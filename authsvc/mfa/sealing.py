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
    """Seals and opens factor secrets; built once from the key-encryption secret."""

    def __init__(self, secret: str):
        derived = HKDF(
            algorithm=hashes.SHA256(),
            length=32,
            salt=b"authsvc/key-encryption/v1",
            info=b"mfa-secret-at-rest",
        ).derive(secret.encode())
        self._aead = AESGCM(derived)

    def seal(self, factor_id: str, plaintext: str) -> bytes:
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext.encode(), factor_id.encode())

    def open(self, factor_id: str, blob: bytes) -> str:
        if blob[:2] != _VERSION:
            raise KeyDecryptionError(f"factor {factor_id}: unknown encryption format")
        try:
            plain = self._aead.decrypt(blob[2:14], blob[14:], factor_id.encode())
        except InvalidTag as exc:
            raise KeyDecryptionError(
                f"factor {factor_id}: AUTHSVC_KEY_ENCRYPTION_SECRET does not decrypt its secret"
            ) from exc
        return plain.decode()
