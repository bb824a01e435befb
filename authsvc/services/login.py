"""Logging in: throttling, the password check, the single-session policy and a new session."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import NoReturn

from sqlalchemy import update
from sqlalchemy.orm import Session

from authsvc.config import SingleSession
from authsvc.errors import EmailNotVerified, InvalidCredentials, SessionActive
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.passwords.hashing import PasswordHasher
from authsvc.revocation.publish import announce_session_end
from authsvc.services import sessions, throttling
from authsvc.services.issuing import IssuedToken, TokenIssuer
from authsvc.services.password_checks import (
    PasswordCheck,
    check_password,
    confirm_password,
    store_upgraded_hash,
)
from authsvc.services.users import find_by_username, normalise_username
from authsvc.storage.engine import keep_when_refused
from authsvc.storage.locking import lock_user
from authsvc.storage.models import Session as SessionRow
from authsvc.storage.models import User
from authsvc.throttle.endpoint import Throttle
from authsvc.tokens.refresh import new_refresh_token

# A login whose password was right, refused because the account's tokens were revoked while the
# password was being checked.
SIGNED_OUT_MEANWHILE = (
    "The account was signed out everywhere while this sign-in was checked; sign in again."
)


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    remember: bool = False


@dataclass(frozen=True)
class LoginResult:
    user: User
    session: SessionRow
    access: IssuedToken
    refresh_token: str


@dataclass(frozen=True)
class LoginService:
    """The login use case with what it needs, built once per running service."""

    hasher: PasswordHasher
    issuer: TokenIssuer
    throttle: Throttle
    single_session: SingleSession = SingleSession.off
    # AUTHSVC_REQUIRE_VERIFIED_EMAIL, and what sends a new confirmation link to a refused user.
    require_verified_email: bool = False
    send_confirmation: Callable[[str, ClientInfo, datetime], None] | None = None
    # Asked once the password proved right: raises `SecondStepDue` when the account must still
    # show a second factor (or enrol one) before it gets a session.
    second_step: Callable[[Session, User, ClientInfo, bool, datetime], None] | None = None

    def throttle_refuses(self, client: ClientInfo, username: str, *, now: datetime) -> bool:
        """Whether the throttle would refuse this login now; asked without counting anything."""
        return throttling.refuses(
            self.throttle, client, now=now, account=normalise_username(username)
        )

    def login(
        self,
        db: Session,
        credentials: Credentials,
        client: ClientInfo,
        *,
        now: datetime,
        replaces_session: str | None = None,
    ) -> LoginResult:
        """Check the credentials and open a session; `replaces_session` is this browser's old one.

        Refusals keep their audit record: the caller commits the transaction when it refuses.
        """
        account = normalise_username(credentials.username)
        # Before any hashing, so a throttled attacker costs us nothing.
        throttling.enforce(db, self.throttle, client, now=now, account=account)
        try:
            user = self._verified_user(db, credentials, client, now=now)
            if self.second_step is not None:
                self.second_step(db, user, client, credentials.remember, now)
            # The password was right from here on: a refusal is not a guess to count.
            sessions.apply_single_session(
                db, user, self.single_session, client=client, now=now, replacing=replaces_session
            )
        except InvalidCredentials:
            self.throttle.count(now, client=client.ip, account=account)
            keep_when_refused(db)
            raise
        except (SessionActive, EmailNotVerified):
            keep_when_refused(db)
            raise
        # The user's row was locked first (after the password check), then sessions: the order
        # logout everywhere takes too, so the two cannot deadlock.
        if replaces_session is not None:
            _end_replaced_session(db, replaces_session, now=now)
        result = self._open_session(db, user, credentials.remember, client, now=now)
        self.throttle.succeeded(now, client=client.ip, account=account)
        return result

    def _verified_user(
        self, db: Session, credentials: Credentials, client: ClientInfo, *, now: datetime
    ) -> User:
        user = find_by_username(db, credentials.username)
        if user is None:
            self.hasher.verify_dummy(credentials.password)
            _refuse(db, None, client, "unknown_user", now=now)
        check = check_password(self.hasher, user, credentials.password)
        if check is None or user.disabled:
            reason = "disabled" if check is not None else "wrong_password"
            _refuse(db, user.id, client, reason, now=now)
        user = self._still_signing_in(db, user.id, check, credentials.password, client, now=now)
        self.refuse_unverified_email(db, user, client, now=now)
        return user

    def _still_signing_in(
        self,
        db: Session,
        user_id: str,
        check: PasswordCheck,
        password: str,
        client: ClientInfo,
        *,
        now: datetime,
    ) -> User:
        """Lock the user's row and refuse the login if the account changed during the hash.

        A new password, a disabled account or a token-version bump (logout everywhere, a revoke)
        that committed meanwhile would otherwise miss the session this login is about to write.
        """
        # A due key-ring refresh may rotate the keys, which on SQLite needs the write lock this
        # transaction is about to hold until it commits: let it run first, not wait behind us.
        _ = self.issuer.keys.ring
        user = lock_user(db, user_id)
        if user is None:
            _refuse(db, None, client, "unknown_user", now=now)
        if user.disabled:
            _refuse(db, user.id, client, "disabled", now=now)
        if user.token_version != check.token_version:
            if user.password_hash != check.password_hash:
                # A new password: the one given may be the old one, and its holder learns
                # nothing from the answer to a wrong password.
                _refuse(db, user.id, client, "password_changed", now=now)
            # Only the right, current password gets here: saying why tells nobody else anything.
            _refuse(db, user.id, client, "revoked", now=now, detail=SIGNED_OUT_MEANWHILE)
        confirmed = confirm_password(self.hasher, check, user, password)
        if confirmed is None:
            _refuse(db, user.id, client, "wrong_password", now=now)
        store_upgraded_hash(db, user, confirmed)
        return user

    def refuse_unverified_email(
        self, db: Session, user: User, client: ClientInfo, *, now: datetime
    ) -> None:
        """Raise `EmailNotVerified` when the settings require a verified address and it has none.

        Only a proven first factor (the right password, a verified passkey) gets here, so saying
        why tells nobody else anything.
        """
        if not self.require_verified_email or user.email_verified_at is not None:
            return
        audit.record(
            db,
            "login_failure",
            now=now,
            user_id=user.id,
            client=client,
            reason="email_not_verified",
        )
        if user.email is None:
            raise EmailNotVerified(
                "Signing in needs a verified email address and this account has none; ask an "
                "operator to add one."
            )
        if self.send_confirmation is not None:
            self.send_confirmation(user.id, client, now)
        raise EmailNotVerified(
            "Confirm your email address first: a link to do so is on its way to it."
        )

    def complete(
        self,
        db: Session,
        user: User,
        remember: bool,
        client: ClientInfo,
        *,
        now: datetime,
        amr: tuple[str, ...],
        aal: int,
        replaces_session: str | None = None,
    ) -> LoginResult:
        """Open the session of a login whose second step passed, under the user's lock."""
        try:
            sessions.apply_single_session(
                db, user, self.single_session, client=client, now=now, replacing=replaces_session
            )
        except SessionActive:
            keep_when_refused(db)
            raise
        if replaces_session is not None:
            _end_replaced_session(db, replaces_session, now=now)
        result = self._open_session(db, user, remember, client, now=now, amr=amr, aal=aal)
        self.throttle.succeeded(now, client=client.ip, account=user.username)
        return result

    def _open_session(
        self,
        db: Session,
        user: User,
        remember: bool,
        client: ClientInfo,
        *,
        now: datetime,
        amr: tuple[str, ...] = ("pwd",),
        aal: int = 1,
    ) -> LoginResult:
        lifetimes = self.issuer.lifetimes
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
            amr=list(amr),
            aal=aal,
            auth_time=now,
        )
        db.add(session)
        access = self.issuer.issue_for(user, session, {}, now=now)
        db.flush()
        audit.record(
            db, "login_success", now=now, user_id=user.id, client=client, session_id=session.id
        )
        return LoginResult(user=user, session=session, access=access, refresh_token=refresh.token)


def _refuse(
    db: Session,
    user_id: str | None,
    client: ClientInfo,
    reason: str,
    *,
    now: datetime,
    detail: str | None = None,
) -> NoReturn:
    audit.record(db, "login_failure", now=now, user_id=user_id, client=client, reason=reason)
    raise InvalidCredentials(detail)


def _end_replaced_session(db: Session, session_id: str, *, now: datetime) -> None:
    # The browser's cookies are about to be overwritten: its old session would linger as a
    # ghost device with a live refresh token.
    result = db.execute(
        update(SessionRow)
        .where(SessionRow.id == session_id, SessionRow.ended_at.is_(None))
        .values(ended_at=now, end_reason="replaced", refresh_hash=None)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(result, "rowcount", 0) or 0):
        announce_session_end(db, session_id)
