"""POST /refresh: rotate the refresh token, detect reuse (theft), tolerate the two-tabs race."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from authsvc.errors import (
    InvalidRefreshToken,
    RefreshTokenReused,
    SecondFactorRequired,
    SessionExpired,
)
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.services.issuing import IssuedToken, SessionLifetimes, TokenIssuer
from authsvc.services.sessions import (
    SECOND_FACTOR_REQUIRED,
    alive_clause,
    end_session,
    is_alive,
    retire_refresh_hash,
    showed_second_factor,
)
from authsvc.services.users import bump_token_version
from authsvc.storage.engine import keep_when_refused
from authsvc.storage.locking import lock_user
from authsvc.storage.models import RotatedRefreshToken, User
from authsvc.storage.models import Session as SessionRow
from authsvc.tokens.refresh import hash_refresh_token, new_refresh_token, well_formed


@dataclass(frozen=True)
class RefreshResult:
    user: User
    session: SessionRow
    access: IssuedToken
    # None when the request lost the two-tabs race: the winner's response sets the cookie.
    refresh_token: str | None


# Whether the MFA policy wants this user to sign in with a second factor.
NeedsSecondFactor = Callable[[User], bool]


def _never(user: User) -> bool:
    return False


def refresh(
    db: Session,
    issuer: TokenIssuer,
    token: str | None,
    client: ClientInfo,
    *,
    now: datetime,
    needs_second_factor: NeedsSecondFactor = _never,
) -> RefreshResult:
    """Rotate the refresh token; a refusal that ended a session keeps that end when refused.

    A session that signed in without a second factor, of a user the MFA policy now wants to
    show one (the policy turned on, a role granted), is ended instead of renewed.
    """
    if token is None or not well_formed(token):
        raise InvalidRefreshToken()
    presented = hash_refresh_token(token)
    rotated = new_refresh_token()
    # Claim the rotation with one conditional UPDATE as the transaction's first statement: of
    # two racing requests exactly one matches (the other waits on the row or database lock and
    # then finds the hash gone), on PostgreSQL and SQLite alike.
    claimed = db.execute(
        update(SessionRow)
        .where(SessionRow.refresh_hash == presented, alive_clause(now))
        .values(
            refresh_hash=rotated.hash,
            previous_refresh_hash=presented,
            refreshed_at=now,
            last_used_at=now,
        )
        .returning(SessionRow.id)
        .execution_options(synchronize_session=False)
    ).scalar_one_or_none()
    if claimed is not None:
        # The presented token joins the session's family: from now on it can only be a copy.
        retire_refresh_hash(db, claimed, presented, now=now)
        row = db.get(SessionRow, claimed, populate_existing=True)
        assert row is not None  # the UPDATE just returned it, inside this transaction
        idle = issuer.lifetimes.idle_for(row.remember)
        row.idle_expires_at = min(now + idle, row.absolute_expires_at)
        user, access = _issue(db, issuer, row, needs_second_factor, now=now)
        return RefreshResult(user, row, access, rotated.token)
    return _not_rotated(db, issuer, presented, client, needs_second_factor, now=now)


def _not_rotated(
    db: Session,
    issuer: TokenIssuer,
    presented: str,
    client: ClientInfo,
    needs_second_factor: NeedsSecondFactor,
    *,
    now: datetime,
) -> RefreshResult:
    current = db.scalars(
        select(SessionRow)
        .where(SessionRow.refresh_hash == presented)
        .execution_options(populate_existing=True)
    ).first()
    if current is not None:
        _expire(db, current, client=client, now=now)
        keep_when_refused(db)
        raise SessionExpired()
    earlier = _session_of_earlier_token(db, presented)
    # The user's row locked, the session read again: a logout everywhere, disable or revoke that
    # committed since the read above is seen, and one still to commit waits for this answer, so
    # the grace never hands a valid access token to a session that has just ended.
    row = _locked_again(db, earlier) if earlier is not None else None
    if row is None:
        raise InvalidRefreshToken()
    if (
        row.previous_refresh_hash == presented
        and is_alive(row, now)
        and _within_grace(row, issuer.lifetimes, now)
    ):
        # The other tab's request rotated a moment ago. Answer with an access token for the same
        # session and leave the refresh cookie alone: the winner's response sets the new one.
        row.last_used_at = now
        user, access = _issue(db, issuer, row, needs_second_factor, now=now)
        return RefreshResult(user, row, access, None)
    _reuse_detected(db, row, client=client, now=now)
    keep_when_refused(db)
    raise RefreshTokenReused()


def _session_of_earlier_token(db: Session, presented: str) -> SessionRow | None:
    """The session whose family holds this token, however many rotations ago it was replaced."""
    return db.scalars(
        select(SessionRow)
        .join(RotatedRefreshToken, RotatedRefreshToken.session_id == SessionRow.id)
        .where(RotatedRefreshToken.hash == presented)
        .execution_options(populate_existing=True)
    ).first()


def _locked_again(db: Session, row: SessionRow) -> SessionRow | None:
    if lock_user(db, row.user_id) is None:
        return None
    return db.get(SessionRow, row.id, populate_existing=True)


def _within_grace(row: SessionRow, lifetimes: SessionLifetimes, now: datetime) -> bool:
    return row.refreshed_at is not None and now - row.refreshed_at <= lifetimes.refresh_grace


def _expire(db: Session, row: SessionRow, *, client: ClientInfo, now: datetime) -> None:
    if row.ended_at is not None:
        return
    reason = "absolute_timeout" if row.absolute_expires_at <= now else "idle_timeout"
    end_session(row, reason=reason, now=now)
    audit.record(
        db, "session_expired", now=now, user_id=row.user_id, client=client, session_id=row.id
    )


def _reuse_detected(db: Session, row: SessionRow, *, client: ClientInfo, now: datetime) -> None:
    """A rotated token came back after the grace period: someone else holds a copy."""
    was_alive = row.ended_at is None
    if was_alive:
        end_session(row, reason="refresh_token_reuse", now=now)
        # Bumping the version kills the access tokens the thief may already hold, at once; the
        # user's other devices keep their refresh tokens and simply refresh once.
        bump_token_version(db, row.user_id)
    audit.record(
        db,
        "refresh_token_reuse",
        now=now,
        user_id=row.user_id,
        client=client,
        session_id=row.id,
        session_ended_now=was_alive,
    )


def _issue(
    db: Session,
    issuer: TokenIssuer,
    row: SessionRow,
    needs_second_factor: NeedsSecondFactor,
    *,
    now: datetime,
) -> tuple[User, IssuedToken]:
    user = db.get(User, row.user_id, populate_existing=True)
    if user is None or user.disabled:
        end_session(row, reason="disabled", now=now)
        keep_when_refused(db)
        raise InvalidRefreshToken()
    if not showed_second_factor(row) and needs_second_factor(user):
        end_session(row, reason=SECOND_FACTOR_REQUIRED, now=now)
        keep_when_refused(db)
        raise SecondFactorRequired()
    return user, issuer.issue_for(user, row, row.state, now=now)
