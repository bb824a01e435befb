"""What users do to their own account: change the password, sign up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from authsvc.errors import InvalidCredentials
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.passwords.hashing import PasswordHasher
from authsvc.passwords.policy import PasswordPolicy
from authsvc.services import throttling
from authsvc.services.authentication import Authenticated
from authsvc.services.issuing import IssuedToken, TokenIssuer
from authsvc.services.sessions import end_sessions, live_session, retire_refresh_hash
from authsvc.services.users import bump_token_version, create_user
from authsvc.storage.engine import keep_when_refused
from authsvc.storage.models import Session as SessionRow
from authsvc.storage.models import User
from authsvc.throttle.endpoint import Throttle
from authsvc.tokens.refresh import new_refresh_token


@dataclass(frozen=True)
class PasswordChanged:
    session: SessionRow
    access: IssuedToken
    refresh_token: str


@dataclass(frozen=True)
class AccountService:
    """Self-service account changes, with the hashing, the policy and the issuer they need."""

    hasher: PasswordHasher
    policy: PasswordPolicy
    issuer: TokenIssuer
    # Wrong current passwords, counted with the login's guesses of the same account.
    password_throttle: Throttle
    # Sign-up attempts per client address: "username taken" is an answer worth rationing.
    register_throttle: Throttle

    def change_password(
        self,
        db: Session,
        authenticated: Authenticated,
        current_password: str,
        new_password: str,
        client: ClientInfo,
        *,
        now: datetime,
    ) -> PasswordChanged:
        """Every other session ends and every old token dies; this one goes on with new tokens."""
        user = authenticated.user
        row = live_session(db, user.id, authenticated.claims.sid, now=now)
        # Before any hashing: a stolen session must not buy unlimited guesses of the password.
        throttling.enforce(db, self.password_throttle, client, now=now, account=user.username)
        if not self.hasher.verify(current_password, user.password_hash).ok:
            self.password_throttle.count(now, client=client.ip, account=user.username)
            audit.record(
                db,
                "password_change_failure",
                now=now,
                user_id=user.id,
                client=client,
                session_id=row.id,
            )
            keep_when_refused(db)
            raise InvalidCredentials("The current password is wrong.")
        self.password_throttle.succeeded(now, client=client.ip, account=user.username)
        self.policy.check(new_password, username=user.username)
        user.password_hash = self.hasher.hash(new_password)
        user.password_changed_at = now
        end_sessions(db, user.id, reason="password_changed", now=now, keep=row.id)
        bump_token_version(db, user.id)
        db.expire(user, ["token_version"])
        refresh = new_refresh_token()
        if row.refresh_hash is not None:
            retire_refresh_hash(db, row.id, row.refresh_hash, now=now)
        row.refresh_hash = refresh.hash
        # The old refresh token of this session is not a racing tab's: it must not get the grace,
        # so a copy of it presented later is reuse.
        row.previous_refresh_hash = None
        row.refreshed_at = now
        row.last_used_at = now
        access = self.issuer.issue(user, row.id, row.state, now=now)
        audit.record(
            db, "password_changed", now=now, user_id=user.id, client=client, session_id=row.id
        )
        return PasswordChanged(session=row, access=access, refresh_token=refresh.token)

    def register(
        self, db: Session, username: str, password: str, client: ClientInfo, *, now: datetime
    ) -> User:
        """Create the account; every attempt that reaches the username check counts."""
        throttling.enforce(db, self.register_throttle, client, now=now)
        self.policy.check(password, username=username)
        # Counted before the answer is known, so "taken" and "created" cost the same.
        self.register_throttle.count(now, client=client.ip)
        user = create_user(db, self.hasher, username=username, password=password, roles=[], now=now)
        audit.record(db, "user_registered", now=now, user_id=user.id, client=client)
        return user
