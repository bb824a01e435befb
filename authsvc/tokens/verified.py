"""Tokens already verified, so that a token seen before skips its signature check.

An entry is keyed by the token's exact text, so only the very token that was verified hits it.
A hit still passes every check that can change after the first verification: the token's times
against the clock (its entry goes when it expires), and its key against the current ring (a key
retired, revoked or dropped since then takes its tokens with it; a kid names one key only).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Container, Mapping
from datetime import datetime

from authsvc.tokens.access import AccessClaims, TokenPolicy, VerificationKey


class VerifiedTokens:
    """At most `max_entries` verified tokens; when full, the earliest verified goes first."""

    def __init__(self, max_entries: int):
        self._max_entries = max_entries
        # Ordered for the eviction: `del d[next(iter(d))]` on a plain dict walks over every slot
        # deleted before it, which made a put cost tens of µs once tokens rotate through it.
        self._claims: OrderedDict[str, AccessClaims] = OrderedDict()
        self._lock = threading.Lock()

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
        claims = self._claims.get(token)
        if claims is None:
            return None
        current = now.timestamp()
        leeway = policy.leeway.total_seconds()
        if claims.exp <= current - leeway:
            self._claims.pop(token, None)
            return None
        if max(claims.nbf, claims.iat) > current + leeway:
            return None  # not valid yet by this clock: the full check says why
        if claims.kid not in keys or claims.kid in withdrawn:
            self._claims.pop(token, None)
            return None
        return claims

    def session_id(self, token: str) -> str | None:
        """The `sid` of a token verified before, whatever has happened since; None when unknown.

        For what `unverified_session_id` is for (which session a CSRF token must belong to),
        where it spares parsing the token again."""
        claims = self._claims.get(token)
        return None if claims is None else claims.sid

    def put(self, token: str, claims: AccessClaims) -> None:
        if self._max_entries <= 0:
            return
        with self._lock:
            while len(self._claims) >= self._max_entries:
                self._claims.popitem(last=False)
            self._claims[token] = claims

    def __len__(self) -> int:
        return len(self._claims)
