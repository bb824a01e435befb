"""Login, logout and the per-request check of an access token against the user's row."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from authsvc.errors import InvalidCredentials, ServiceUnavailable, TokenRevoked
from authsvc.keys import KeyRing
from authsvc.models import Session as SessionRow
from authsvc.models import User
from authsvc.passwords import PasswordHasher
from authsvc.services import audit
from authsvc.services.audit import ClientInfo
from authsvc.services.users import bump_token_version, find_by_username
from authsvc.tokens import AccessClaims, TokenPolicy, issue_access_token


@dataclass(frozen=True)
class SessionLifetimes:
    access_token: timedelta
    idle: timedelta
    absolute: timedelta
    remember_absolute: timedelta


@dataclass(frozen=True)
class IssuedToken:
    token: str
    claims: AccessClaims
    expires_at: datetime


@dataclass(frozen=True)
class LoginResult:
    user: User
    session: SessionRow
    access: IssuedToken


@dataclass(frozen=True)
class Authenticated:
    user: User
    claims: AccessClaims


def issue_for_session(
    ring: KeyRing,
    policy: TokenPolicy,
    lifetimes: SessionLifetimes,
    *,
    user: User,
    session_id: str,
    session_state: Mapping[str, Any],
    now: datetime,
) -> IssuedToken:
    if ring.signer is None:
        # Fail closed: without an active key nothing can be signed, and nobody gets in half-way.
        raise ServiceUnavailable("No signing key is active.")
    token, claims = issue_access_token(
        ring.signer,
        policy,
        subject=user.id,
        session_id=session_id,
        token_version=user.token_version,
        roles=list(user.roles),
        session_state=session_state,
        now=now,
        lifetime=lifetimes.access_token,
    )
    return IssuedToken(token=token, claims=claims, expires_at=now + lifetimes.access_token)


def login(
    db: Session,
    hasher: PasswordHasher,
    ring: KeyRing,
    policy: TokenPolicy,
    lifetimes: SessionLifetimes,
    *,
    username: str,
    password: str,
    remember: bool,
    client: ClientInfo,
    now: datetime,
) -> LoginResult:
    user = find_by_username(db, username)
    if user is None:
        hasher.verify_dummy(password)
        audit.record(db, "login_failure", now=now, client=client, reason="unknown_user")
        raise InvalidCredentials()
    verification = hasher.verify(password, user.password_hash)
    if not verification.ok or user.disabled:
        reason = "disabled" if verification.ok else "wrong_password"
        audit.record(db, "login_failure", now=now, user_id=user.id, client=client, reason=reason)
        raise InvalidCredentials()
    if verification.upgraded_hash is not None:
        user.password_hash = verification.upgraded_hash
    absolute = lifetimes.remember_absolute if remember else lifetimes.absolute
    session = SessionRow(
        id=str(uuid.uuid4()),
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        idle_expires_at=now + lifetimes.idle,
        absolute_expires_at=now + absolute,
        remember=remember,
        user_agent=(client.user_agent or "")[:512] or None,
        client_ip=client.ip,
        state={},
    )
    db.add(session)
    access = issue_for_session(
        ring, policy, lifetimes, user=user, session_id=session.id, session_state={}, now=now
    )
    db.flush()
    audit.record(
        db, "login_success", now=now, user_id=user.id, client=client, session_id=session.id
    )
    return LoginResult(user=user, session=session, access=access)


def authenticate(
    db: Session, ring: KeyRing, policy: TokenPolicy, token: str, *, now: datetime
) -> Authenticated:
    """Verify the token and compare its `tv` with the user's row: the revocation check."""
    claims = ring.verify(token, policy, now=now)
    user = db.get(User, claims.sub)
    if user is None or user.disabled or user.token_version != claims.tv:
        raise TokenRevoked()
    return Authenticated(user=user, claims=claims)


def logout(
    db: Session,
    authenticated: Authenticated | None,
    *,
    everywhere: bool,
    client: ClientInfo,
    now: datetime,
) -> None:
    """End this session (and with `everywhere`, every token of the user); a no-op when anonymous."""
    if authenticated is None:
        return
    user_id = authenticated.user.id
    if everywhere:
        bump_token_version(db, user_id)
        ended = SessionRow.user_id == user_id
    else:
        ended = SessionRow.id == authenticated.claims.sid
    db.execute(
        update(SessionRow)
        .where(ended, SessionRow.ended_at.is_(None))
        .values(ended_at=now, end_reason="logout", refresh_hash=None)
    )
    audit.record(
        db,
        "logout_everywhere" if everywhere else "logout",
        now=now,
        user_id=user_id,
        client=client,
        session_id=authenticated.claims.sid,
    )
