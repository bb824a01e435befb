"""Private keys at rest: AES-256-GCM under a key derived from the operator's secret."""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from authsvc.errors import KeyDecryptionError


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
