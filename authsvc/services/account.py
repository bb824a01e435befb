"""What users do to their own account: change the password or the email address, sign up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from sqlalchemy.orm import Session

from authsvc.errors import InvalidCredentials, SessionEnded, TokenRevoked
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.passwords.hashing import PasswordHasher
from authsvc.passwords.policy import PasswordPolicy
from authsvc.services import throttling
from authsvc.services.authentication import Authenticated
from authsvc.services.issuing import IssuedToken, TokenIssuer
from authsvc.services.password_checks import PasswordCheck, check_password, confirm_password
from authsvc.services.sessions import end_sessions, is_alive, live_session, retire_refresh_hash
from authsvc.services.users import (
    NewUser,
    PasswordRules,
    bump_token_version,
    create_user,
    new_password_hash,
    set_email,
    store_password,
)
from authsvc.storage.engine import keep_when_refused
from authsvc.storage.locking import lock_user
from authsvc.storage.models import Session as SessionRow
from authsvc.storage.models import User
from authsvc.throttle.policies import Throttles
from authsvc.tokens.refresh import new_refresh_token


@dataclass(frozen=True)
class Renewed:
    """This session after a change that ended every other one: new tokens for it."""

    session: SessionRow
    access: IssuedToken
    refresh_token: str


@dataclass(frozen=True)
class AccountService:
    """Self-service account changes, with the hashing, the policy and the issuer they need."""

    hasher: PasswordHasher
    policy: PasswordPolicy
    issuer: TokenIssuer
    # Wrong current passwords count with the login's guesses of the same account; sign-up
    # attempts per client address, since "username taken" is an answer worth rationing.
    throttles: Throttles

    def change_password(
        self,
        db: Session,
        authenticated: Authenticated,
        current_password: str,
        new_password: str,
        client: ClientInfo,
        *,
        now: datetime,
    ) -> Renewed:
        """Every other session ends and every old token dies; this one goes on with new tokens."""
        user = authenticated.user
        row = live_session(db, user.id, authenticated.claims.sid, now=now)
        check = self._check_password(db, user, row, current_password, client, now=now)
        rules = PasswordRules(self.hasher, self.policy)
        password_hash = new_password_hash(new_password, rules, username=user.username)
        user, row = self._unchanged(
            db, authenticated, row, check, current_password, client, now=now
        )
        store_password(db, user, password_hash, now=now)
        renewed = self._renew(db, user, row, reason="password_changed", now=now)
        audit.record(
            db, "password_changed", now=now, user_id=user.id, client=client, session_id=row.id
        )
        return renewed

    def change_email(
        self,
        db: Session,
        authenticated: Authenticated,
        current_password: str,
        email: str | None,
        client: ClientInfo,
        *,
        now: datetime,
    ) -> Renewed | None:
        """A new address (or none) takes the password; like a new password, it ends every other
        session and every old token, for password-reset links go to it. None: nothing changed."""
        user = authenticated.user
        row = live_session(db, user.id, authenticated.claims.sid, now=now)
        check = self._check_password(db, user, row, current_password, client, now=now, email=True)
        user, row = self._unchanged(
            db, authenticated, row, check, current_password, client, now=now, email=True
        )
        if not set_email(db, user, email, verified=False, now=now):
            return None
        renewed = self._renew(db, user, row, reason="email_changed", now=now)
        audit.record(
            db,
            "email_changed",
            now=now,
            user_id=user.id,
            client=client,
            session_id=row.id,
            has_email=user.email is not None,
        )
        return renewed

    def _check_password(
        self,
        db: Session,
        user: User,
        row: SessionRow,
        password: str,
        client: ClientInfo,
        *,
        now: datetime,
        email: bool = False,
    ) -> PasswordCheck:
        throttle = self.throttles.email_change if email else self.throttles.password_change
        # Before any hashing: a stolen session must not buy unlimited guesses of the password.
        throttling.enforce(db, throttle, client, now=now, account=user.username)
        check = check_password(self.hasher, user, password)
        if check is None:
            self._refuse_wrong_password(db, user, row, client, now=now, email=email)
        throttle.succeeded(now, client=client.ip, account=user.username)
        return check

    def _unchanged(
        self,
        db: Session,
        authenticated: Authenticated,
        row: SessionRow,
        check: PasswordCheck,
        password: str,
        client: ClientInfo,
        *,
        now: datetime,
        email: bool = False,
    ) -> tuple[User, SessionRow]:
        """Lock the user's row; refuse if the token or the session ended during the hash.

        Logout everywhere, a new password set by someone else, a disable or a revoke that
        committed meanwhile revoked the token this request came with: it is refused as the next
        request with it would be, and its change is not written over theirs.
        """
        user = lock_user(db, authenticated.claims.sub)
        if user is None or user.disabled or user.token_version != authenticated.claims.tv:
            raise TokenRevoked()
        fresh = db.get(SessionRow, row.id, populate_existing=True)
        if fresh is None or not is_alive(fresh, now):
            raise SessionEnded()
        if confirm_password(self.hasher, check, user, password) is None:
            self._refuse_wrong_password(db, user, fresh, client, now=now, email=email)
        return user, fresh

    def _refuse_wrong_password(
        self,
        db: Session,
        user: User,
        row: SessionRow,
        client: ClientInfo,
        *,
        now: datetime,
        email: bool,
    ) -> NoReturn:
        throttle = self.throttles.email_change if email else self.throttles.password_change
        action = "email_change" if email else "password_change"
        throttle.count(now, client=client.ip, account=user.username)
        audit.record(
            db, f"{action}_failure", now=now, user_id=user.id, client=client, session_id=row.id
        )
        keep_when_refused(db)
        raise InvalidCredentials("The current password is wrong.")

    def _renew(
        self, db: Session, user: User, row: SessionRow, *, reason: str, now: datetime
    ) -> Renewed:
        end_sessions(db, user.id, reason=reason, now=now, keep=row.id)
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
        access = self.issuer.issue_for(user, row, row.state, now=now)
        return Renewed(session=row, access=access, refresh_token=refresh.token)

    def registration_throttle_refuses(self, client: ClientInfo, *, now: datetime) -> bool:
        """Whether the throttle would refuse a registration from this client now."""
        return throttling.refuses(self.throttles.register, client, now=now)

    def register(
        self,
        db: Session,
        username: str,
        password: str,
        client: ClientInfo,
        *,
        now: datetime,
        email: str | None = None,
    ) -> User:
        """Create the account; every attempt that reaches the username check counts."""
        throttling.enforce(db, self.throttles.register, client, now=now)
        self.policy.check(password, username=username)
        # Counted before the answer is known, so "taken" and "created" cost the same.
        self.throttles.register.count(now, client=client.ip)
        new = NewUser(username, password, roles=[], email=email)
        user = create_user(db, self.hasher, new, now=now)
        audit.record(db, "user_registered", now=now, user_id=user.id, client=client)
        return user
