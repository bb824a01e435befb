"""The per-request check of an access token: signature and claims, then `tv` against the user."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from authsvc.errors import SessionEnded, TokenRevoked
from authsvc.revocation.sources import PushCachedSource, QuickVersionSource
from authsvc.revocation.user_rows import UserRowReader
from authsvc.services.issuing import TokenIssuer
from authsvc.storage.models import Session as SessionRow
from authsvc.storage.models import User
from authsvc.tokens.access import AccessClaims


@dataclass(frozen=True)
class Identity:
    """What a route may show about a user without reading the row, as of one token version."""

    id: str
    username: str
    roles: tuple[str, ...]
    token_version: int


class IdentityMemo:
    """Identities by user id, least recently used out first, each valid for one token version.

    Every change of who a user is or what they may do (roles) bumps the token version, so an
    identity remembered at an older version is never handed out again, on any instance: a token
    of the new version misses it, and a token of the old one is refused before it is asked for.
    The memo therefore needs no news of its own; the bump travels by the token-version push.
    """

    def __init__(self, max_users: int):
        self._max_users = max_users
        self._identities: OrderedDict[str, Identity] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, user_id: str, token_version: int) -> Identity | None:
        with self._lock:
            identity = self._identities.get(user_id)
            if identity is None or identity.token_version != token_version:
                return None
            self._identities.move_to_end(user_id)
            return identity

    def put(self, identity: Identity) -> None:
        with self._lock:
            self._identities[identity.id] = identity
            self._identities.move_to_end(identity.id)
            if len(self._identities) > self._max_users:
                self._identities.popitem(last=False)


class Authenticated:
    """A token that passed the checks; the user's row is read only when a route needs it.

    Without `db` (the check answered from memory) only the claims and a remembered identity are
    at hand; the dependencies that build it that way make sure of the identity first.
    """

    def __init__(
        self,
        claims: AccessClaims,
        *,
        db: Session | None,
        user: User | None = None,
        identities: IdentityMemo | None = None,
        identity: Identity | None = None,
    ):
        self.claims = claims
        self._db = db
        self._user = user
        self._identities = identities
        self._identity: Identity | None = identity

    @property
    def user(self) -> User:
        if self._user is None:
            if self._db is None:
                raise RuntimeError("this check ran without a database session")
            self._user = current_user(self._db, self.claims)
        return self._user

    @property
    def remembered_identity(self) -> Identity | None:
        """The identity without reading the row, if the memo holds it for this token version."""
        if self._identity is None and self._user is None and self._identities is not None:
            self._identity = self._identities.get(self.claims.sub, self.claims.tv)
        return self._identity

    @property
    def identity(self) -> Identity:
        known = self.remembered_identity
        if known is not None:
            return known
        # The row matches the token's version (`current_user` checks), so it is that version's.
        user = self.user
        identity = Identity(
            id=user.id,
            username=user.username,
            roles=tuple(user.roles),
            token_version=user.token_version,
        )
        if self._identities is not None:
            self._identities.put(identity)
        self._identity = identity
        return identity


@dataclass(frozen=True)
class Authenticator:
    """Verifies a token, compares its `tv` with the user's current one and refuses a token of an
    ended session (`session_ended`): the revocation check.

    Without `versions` the user's and the session's rows answer; with the token-version cache,
    the rows are read only when the cache cannot answer (a miss, or its channel is down).
    """

    issuer: TokenIssuer
    versions: QuickVersionSource | None = None
    identities: IdentityMemo | None = None

    def authenticate_quickly(self, token: str, *, now: datetime) -> Authenticated | None:
        """The check without a database session or a wait, when memory can answer it.

        None when it cannot (no cache, or the cache must ask the database): then `authenticate`
        runs, off the event loop. A refusal is raised either way.
        """
        if self.versions is None:
            return None
        return self.answer_from_memory(self.issuer.verify(token, now=now))

    def answer_from_memory(self, claims: AccessClaims) -> Authenticated | None:
        """The version check of verified claims when memory answers it, else None."""
        if self.versions is None:
            return None
        answered, version = self.versions.quick_version(claims.sub, claims.tv)
        if not answered:
            return None
        if version != claims.tv:
            raise TokenRevoked()
        ended = self.versions.quick_session_ended(claims.sid, issued_at=claims.iat)
        if ended is None:
            return None
        if ended:
            raise SessionEnded()
        return Authenticated(claims, db=None, identities=self.identities)

    async def answer_by_read(
        self, claims: AccessClaims, rows: UserRowReader, *, version_missed: bool = True
    ) -> Authenticated:
        """The version and ended-session checks of verified claims by one read of the user's row
        (with the session's end), which also gives the identity; the version cache learns what it
        read as its own database reads teach it. `version_missed` is False when memory answered
        the version and only the identity is missing (the cache's hit is already counted)."""
        cache = self.versions if isinstance(self.versions, PushCachedSource) else None
        mark = cache.read_began(miss=version_missed) if cache is not None else None
        row = await rows.read(claims.sub, claims.sid)
        version = None if row is None or row.disabled else row.token_version
        if cache is not None and mark is not None:
            cache.learned(claims.sub, version, mark)
        if row is None or version != claims.tv:
            raise TokenRevoked()
        # Read with the user's row, so fresher than the ended-session set in memory.
        if row.session_ended:
            raise SessionEnded()
        # The row matches the token's version, so the identity is that version's.
        identity = Identity(
            id=row.id, username=row.username, roles=row.roles, token_version=row.token_version
        )
        if self.identities is not None:
            self.identities.put(identity)
        return Authenticated(claims, db=None, identities=self.identities, identity=identity)

    def authenticate(self, db: Session, token: str, *, now: datetime) -> Authenticated:
        claims = self.issuer.verify(token, now=now)
        if self.versions is None:
            user = current_user(db, claims)
            if session_ended(db, claims.sid):
                raise SessionEnded()
            return Authenticated(claims, db=db, user=user)
        if self.versions.current_version(claims.sub, token=token, claimed=claims.tv) != claims.tv:
            raise TokenRevoked()
        if self.versions.session_ended(claims.sid, issued_at=claims.iat):
            raise SessionEnded()
        return Authenticated(claims, db=db, identities=self.identities)


def current_user(db: Session, claims: AccessClaims) -> User:
    """The token's user, as long as the token is still theirs (not revoked, not disabled)."""
    user = db.get(User, claims.sub)
    if user is None or user.disabled or user.token_version != claims.tv:
        raise TokenRevoked()
    return user


def session_ended(db: Session, session_id: str) -> bool:
    """Whether the token's session has ended (only a recorded end counts, as everywhere)."""
    row = db.execute(select(SessionRow.ended_at).where(SessionRow.id == session_id)).first()
    return row is not None and row.ended_at is not None
