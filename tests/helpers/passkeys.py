"""A software WebAuthn authenticator: a P-256 key, attestation `none`, assertions it signs.

It answers the JSON options authsvc hands out as a browser's navigator.credentials would, so
tests can register and use passkeys over HTTP and tamper with any part of the answer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from tests.helpers.defaults import ISSUER

RP_ID = "authsvc.test"
_UP, _UV, _AT = 0x01, 0x04, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    """One credential on one authenticator; its counter grows with every assertion."""

    origin: str = ISSUER
    rp_id: str = RP_ID
    user_verified: bool = True
    sign_count: int = 0
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    user_handle: bytes | None = None

    def _cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def _auth_data(self, *, attested: bool, rp_id: str | None = None) -> bytes:
        flags = _UP | (_UV if self.user_verified else 0) | (_AT if attested else 0)
        data = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        data += bytes([flags]) + struct.pack(">I", self.sign_count)
        if attested:
            data += bytes(16) + struct.pack(">H", len(self.credential_id)) + self.credential_id
            data += self._cose_key()
        return data

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        ).encode()

    def create(
        self, options: dict[str, Any], *, origin: str | None = None, rp_id: str | None = None
    ) -> dict[str, Any]:
        """What navigator.credentials.create() answers, as JSON (PublicKeyCredential.toJSON)."""
        self.user_handle = unb64url(options["user"]["id"])
        attestation = cbor2.dumps(
            {"fmt": "none", "attStmt": {}, "authData": self._auth_data(attested=True, rp_id=rp_id)}
        )
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(
                    self._client_data("webauthn.create", options["challenge"], origin)
                ),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {"credProps": {"rk": True}},
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        count: int | None = None,
    ) -> dict[str, Any]:
        """What navigator.credentials.get() answers; the counter moves on unless `count` is set."""
        self.sign_count = self.sign_count + 1 if count is None else count
        auth_data = self._auth_data(attested=False, rp_id=rp_id)
        client_data = self._client_data("webauthn.get", options["challenge"], origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.key.sign(signed, ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(self.user_handle or b""),
            },
            "clientExtensionResults": {},
        }


async def register(
    client: httpx.AsyncClient, authenticator: SoftAuthenticator, name: str = "Laptop"
) -> httpx.Response:
    """On a signed-in client: ask for options, let the authenticator answer, send it."""
    options = await client.post("/account/passkeys/options")
    assert options.status_code == 200, options.text
    credential = authenticator.create(options.json()["publicKey"])
    return await client.post("/account/passkeys", json={"name": name, "credential": credential})
