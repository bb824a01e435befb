"""Mint tokens with the service's own key (as an attacker who stole nothing cannot)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import jwt

from authsvc.keys.encryption import KeyEncryptor
from authsvc.keys.ring import KeyRing
from authsvc.storage.engine import make_engine, make_session_factory
from authsvc.tokens.access import SigningMaterial
from tests.conftest import TEST_SECRET


def service_signer(database_url: str) -> SigningMaterial:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as db:
            ring = KeyRing.load(db, KeyEncryptor(TEST_SECRET))
    finally:
        engine.dispose()
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
    issued = int(now.timestamp())
    payload: dict[str, Any] = {
        "iss": "http://authsvc.test",
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
    payload.update(claims)
    for name in drop:
        payload.pop(name)
    headers = {"kid": signer.kid, "typ": "at+jwt", **(header or {})}
    # Sign raw JSON through the JWS layer: jwt.encode would refuse some malformed claims.
    body = json.dumps(payload, separators=(",", ":")).encode()
    return jwt.PyJWS().encode(body, signer.key, algorithm=signer.alg, headers=headers)
