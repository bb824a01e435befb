"""Tokens already verified, so that a token seen before skips its signature check.

An entry is keyed by the token's exact text, so only the very token that was verified hits it.
A hit still passes every check that can change after the first verification: the token's times
against the clock (its entry goes when it expires), and its key against the current ring (a key
retired, revoked or dropped since then takes its tokens with it; a kid names one key only).
Entries are bounded by bytes, the session state kept as text (`authsvc.tokens.memo`).
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from datetime import datetime

from authsvc.tokens.access import AccessClaims, TokenPolicy, VerificationKey
from authsvc.tokens.memo import TokenMemo, TokenState, footprint, remembered, with_state


class VerifiedTokens:
    """Verified tokens within `max_bytes` (and `max_entries`); the earliest verified goes first."""

    def __init__(self, max_entries: int, max_bytes: int = 8 * 1024 * 1024):
        self._memo: TokenMemo[AccessClaims] = TokenMemo(max_bytes, max_entries)
        self._lookup = self._memo.get

    def get(
        self,
        token: str,
        keys: Mapping[str, VerificationKey],
        withdrawn: Container[str],
        policy: TokenPolicy,
        *,
        now: datetime,
    ) -> AccessClaims | None:
        """The token's claims if it was verified and would still pass with `keys` (the ring's
        published keys, minus the `withdrawn` ones); None means verify it in full."""
        claims = self._lookup(token)
        if claims is None:
            return None
        current = now.timestamp()
        leeway = policy.leeway.total_seconds()
        if claims.exp <= current - leeway:
            self._memo.discard(token)
            return None
        if max(claims.nbf, claims.iat) > current + leeway:
            return None  # not valid yet by this clock: the full check says why
        if claims.kid not in keys or claims.kid in withdrawn:
            self._memo.discard(token)
            return None
        # Only a token with state needs a copy of its own (the common empty one skips the call).
        return with_state(claims) if type(claims.sess) is TokenState else claims

    def session_id(self, token: str) -> str | None:
        """The `sid` of a token verified before, whatever has happened since; None when unknown.

        For what `unverified_session_id` is for (which session a CSRF token must belong to),
        where it spares parsing the token again."""
        claims = self._memo.get(token)
        return None if claims is None else claims.sid

    def put(self, token: str, claims: AccessClaims) -> None:
        if self._memo.max_entries == 0 or self._memo.max_bytes == 0:
            return
        kept = remembered(claims)
        self._memo.put(token, kept, footprint(token, kept))

    @property
    def bytes(self) -> int:
        """What the remembered tokens take, by the memo's accounting."""
        return self._memo.bytes

    def __len__(self) -> int:
        return len(self._memo)
