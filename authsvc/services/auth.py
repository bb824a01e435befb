"""Login, logout and the per-request check of an access token against the user's row."""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from authsvc.config import SingleSession
from authsvc.errors import InvalidCredentials, ServiceUnavailable, TokenRevoked
from authsvc.keys.ring import KeyRing
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.passwords.hashing import PasswordHasher
from authsvc.services import sessions
from authsvc.services.users import bump_token_version, find_by_username
from authsvc.storage.models import Session as SessionRow
from authsvc.storage.models import User
from authsvc.tokens.access import AccessClaims, TokenPolicy, issue_access_token
from authsvc.tokens.refresh import hash_refresh_token, new_refresh_token, well_formed

if TYPE_CHECKING:
    from authsvc.revocation.sources import TokenVersionSource


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
class LoginResult:
    user: User
    session: SessionRow
    access: IssuedToken
    refresh_token: str


@dataclass(frozen=True)
class Identity:
    """What a route may show about a user without reading the row: fixed when the user is made."""

    id: str
    username: str
    roles: tuple[str, ...]


class IdentityMemo:
    """Identities by user id, least recently used out first; safe because they never change.

    Nothing renames a user or changes roles after creation; a feature that does must bump the
    token version and drop the user from this memo.
    """

    def __init__(self, max_users: int):
        self._max_users = max_users
        self._identities: OrderedDict[str, Identity] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user_id: str) -> Identity | None:
        with self._lock:
            identity = self._identities.get(user_id)
            if identity is not None:
                self._identities.move_to_end(user_id)
            return identity

    def put(self, identity: Identity) -> None:
        with self._lock:
            self._identities[identity.id] = identity
            self._identities.move_to_end(identity.id)
            if len(self._identities) > self._max_users:
                self._identities.popitem(last=False)


class Authenticated:
    """A token that passed the checks; the user's row is read only when a route needs it."""

    def __init__(
        self,
        claims: AccessClaims,
        *,
        db: Session,
        user: User | None = None,
        identities: IdentityMemo | None = None,
    ):
        self.claims = claims
        self._db = db
        self._user = user
        self._identities = identities

    @property
    def user(self) -> User:
        if self._user is None:
            self._user = current_user(self._db, self.claims)
        return self._user

    @property
    def identity(self) -> Identity:
        if self._user is None and self._identities is not None:
            known = self._identities.get(self.claims.sub)
            if known is not None:
                return known
        user = self.user
        identity = Identity(id=user.id, username=user.username, roles=tuple(user.roles))
        if self._identities is not None:
            self._identities.put(identity)
        return identity


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
    single_session: SingleSession = SingleSession.off,
    replaces_session: str | None = None,
) -> LoginResult:
    """Check the credentials and open a session; `replaces_session` is the one this browser held."""
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
    # The user's row is locked first (single-session), then sessions: the order logout
    # everywhere takes too, so the two cannot deadlock.
    sessions.apply_single_session(
        db, user, single_session, client=client, now=now, replacing=replaces_session
    )
    if replaces_session is not None:
        # The browser's cookies are about to be overwritten: its old session would linger as a
        # ghost device with a live refresh token.
        db.execute(
            update(SessionRow)
            .where(SessionRow.id == replaces_session, SessionRow.ended_at.is_(None))
            .values(ended_at=now, end_reason="replaced", refresh_hash=None)
            .execution_options(synchronize_session=False)
        )
    absolute_expires_at = now + lifetimes.absolute_for(remember)
    refresh = new_refresh_token()
    session = SessionRow(
        id=str(uuid.uuid4()),
        user_id=user.id,
        created_at=now,
        last_used_at=now,
        idle_expires_at=min(now + lifetimes.idle_for(remember), absolute_expires_at),
        absolute_expires_at=absolute_expires_at,
        refresh_hash=refresh.hash,
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
    return LoginResult(user=user, session=session, access=access, refresh_token=refresh.token)


def authenticate(
    db: Session,
    ring: KeyRing,
    policy: TokenPolicy,
    token: str,
    *,
    now: datetime,
    versions: TokenVersionSource | None = None,
    identities: IdentityMemo | None = None,
) -> Authenticated:
    """Verify the token and compare its `tv` with the user's current one: the revocation check.

    Without `versions` the user's row answers; with the push-invalidated cache, the row is read
    only when the cache cannot answer (a miss, or its channel is down).
    """
    claims = ring.verify(token, policy, now=now)
    if versions is None:
        return Authenticated(claims, db=db, user=current_user(db, claims))
    if versions.current_version(claims.sub, token=token, claimed=claims.tv) != claims.tv:
        raise TokenRevoked()
    return Authenticated(claims, db=db, identities=identities)


def current_user(db: Session, claims: AccessClaims) -> User:
    """The token's user, as long as the token is still theirs (not revoked, not disabled)."""
    user = db.get(User, claims.sub)
    if user is None or user.disabled or user.token_version != claims.tv:
        raise TokenRevoked()
    return user


def logout(
    db: Session,
    authenticated: Authenticated | None,
    *,
    everywhere: bool,
    client: ClientInfo,
    now: datetime,
    refresh_token: str | None = None,
) -> bool:
    """End this session (and with `everywhere`, every token of the user); a no-op when anonymous.

    The session is found from the access token, or from the refresh cookie when the access
    token has already expired. Returns whether anybody was logged out.
    """
    if authenticated is not None:
        user_id, session_id = authenticated.user.id, authenticated.claims.sid
    else:
        found = _session_by_refresh_token(db, refresh_token)
        if found is None:
            return False
        user_id, session_id = found.user_id, found.id
    if everywhere:
        bump_token_version(db, user_id)
        ended = SessionRow.user_id == user_id
    else:
        ended = SessionRow.id == session_id
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
        session_id=session_id,
    )
    return True


def _session_by_refresh_token(db: Session, token: str | None) -> SessionRow | None:
    if token is None or not well_formed(token):
        return None
    return db.scalars(
        select(SessionRow).where(
            SessionRow.refresh_hash == hash_refresh_token(token), SessionRow.ended_at.is_(None)
        )
    ).first()
