"""Opaque refresh tokens: 256 random bits, kept by the server only as a SHA-256 hash."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

# token_urlsafe(32) is 32 random bytes as 43 base64url characters.
_TOKEN_BYTES = 32
_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class RefreshToken:
    token: str
    hash: str


def hash_refresh_token(token: str) -> str:
    # A fast hash is right here: the token has 256 bits of entropy, so there is nothing to
    # brute-force, and the lookup by hash means no comparison of secrets happens in Python.
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def new_refresh_token() -> RefreshToken:
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    return RefreshToken(token=token, hash=hash_refresh_token(token))


def well_formed(token: str | None) -> bool:
    """Checked before any database work, so junk never reaches a query."""
    return token is not None and _SHAPE.fullmatch(token) is not None
