"""Signing access tokens for sessions: the key ring, the token rules and the lifetimes together."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from authsvc.errors import ServiceUnavailable
from authsvc.keys.refresh import KeyRingHolder
from authsvc.storage.models import Session as SessionRow
from authsvc.storage.models import User
from authsvc.tokens.access import (
    AccessClaims,
    Authentication,
    Grant,
    TokenPolicy,
    issue_access_token,
    read_token,
)
from authsvc.tokens.verified import VerifiedTokens


@dataclass(frozen=True)
class SessionLifetimes:
    access_token: timedelta
    idle: timedelta
    absolute: timedelta
    remember_absolute: timedelta
    remember_idle: timedelta = timedelta(days=7)
    # How long a just-rotated refresh token still yields an access token (the two-tabs race).
    refresh_grace: timedelta = timedelta(seconds=10)

    def idle_for(self, remember: bool) -> timedelta:
        return self.remember_idle if remember else self.idle

    def absolute_for(self, remember: bool) -> timedelta:
        return self.remember_absolute if remember else self.absolute


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: AccessClaims
    expires_at: datetime


@dataclass(frozen=True)
class TokenIssuer:
    """What every use case that hands out an access token needs, travelling as one."""

    keys: KeyRingHolder
    policy: TokenPolicy
    lifetimes: SessionLifetimes
    # Tokens verified before skip the signature check (size 0: every token is checked in full).
    verified: VerifiedTokens = field(default_factory=lambda: VerifiedTokens(0))

    def issue(
        self,
        user: User,
        session_id: str,
        state: Mapping[str, Any],
        *,
        now: datetime,
        auth: Authentication | None = None,
    ) -> IssuedToken:
        """An access token for this user's session, carrying the user's current token version."""
        signer = self.keys.ring.signer
        if signer is None:
            # Fail closed: without an active key nothing can be signed, and nobody gets in half-way.
            raise ServiceUnavailable("No signing key is active.")
        grant = Grant(user.id, session_id, user.token_version, tuple(user.roles), state, auth)
        token, claims = issue_access_token(
            signer, self.policy, grant, now=now, lifetime=self.lifetimes.access_token
        )
        return IssuedToken(token=token, claims=claims, expires_at=now + self.lifetimes.access_token)

    def issue_for(
        self, user: User, row: SessionRow, state: Mapping[str, Any], *, now: datetime
    ) -> IssuedToken:
        """`issue` for a session row, carrying how its login signed in."""
        return self.issue(user, row.id, state, now=now, auth=session_authentication(row))

    def verify(self, token: str, *, now: datetime) -> AccessClaims:
        """Signature and claims, with the ring reloaded first for a kid it has not seen yet."""
        ring = self.keys.ring
        known = self.verified.get(
            token, ring.verification_keys, ring.withdrawn, self.policy, now=now
        )
        if known is not None:
            return known
        # Split and decoded once for the kid lookup, the key's fate and the signature check.
        parsed = read_token(token)
        claims = self.keys.ring_for(parsed).verify(parsed, self.policy, now=now)
        self.verified.put(token, claims)
        return claims


def session_authentication(row: SessionRow) -> Authentication | None:
    """How the session's login signed in, as its tokens carry it; None for older sessions."""
    if row.amr is None or row.aal is None or row.auth_time is None:
        return None
    return Authentication(tuple(row.amr), row.aal, int(row.auth_time.timestamp()))
