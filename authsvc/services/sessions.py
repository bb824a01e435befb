"""A user's sessions (devices): which are alive, listing them, ending them, their state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from authsvc.config import SingleSession
from authsvc.errors import (
    NotFound,
    SessionActive,
    SessionEnded,
    SessionStateTooLarge,
    TokenRevoked,
)
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.revocation.publish import announce_session_end
from authsvc.services.authentication import Authenticated
from authsvc.services.issuing import IssuedToken, TokenIssuer
from authsvc.services.users import bump_token_version
from authsvc.storage.locking import lock_user
from authsvc.storage.models import RotatedRefreshToken, User
from authsvc.storage.models import Session as SessionRow
from authsvc.tokens.access import claim_size


def alive_clause(now: datetime) -> ColumnElement[bool]:
    return and_(
        SessionRow.ended_at.is_(None),
        SessionRow.idle_expires_at > now,
        SessionRow.absolute_expires_at > now,
    )


def is_alive(row: SessionRow, now: datetime) -> bool:
    return row.ended_at is None and row.idle_expires_at > now and row.absolute_expires_at > now


# What a refresh refused by the MFA policy, or the operator enforcing it, records as the end.
SECOND_FACTOR_REQUIRED = "second_factor_required"


def showed_second_factor(row: SessionRow) -> bool:
    # Sessions older than the recorded assurance level count as a password alone.
    return (row.aal or 1) >= 2


def without_second_factor_clause() -> ColumnElement[bool]:
    """The SQL of `not showed_second_factor(row)`."""
    return or_(SessionRow.aal.is_(None), SessionRow.aal < 2)


def expires_at(row: SessionRow) -> datetime:
    return min(row.idle_expires_at, row.absolute_expires_at)


def end_sessions(
    db: Session,
    user_id: str,
    *,
    reason: str,
    now: datetime,
    keep: str | None = None,
) -> int:
    """End every unended session of the user (but `keep`); their refresh tokens die with them."""
    condition = and_(SessionRow.user_id == user_id, SessionRow.ended_at.is_(None))
    if keep is not None:
        condition = and_(condition, SessionRow.id != keep)
    result = db.execute(
        update(SessionRow)
        .where(condition)
        .values(ended_at=now, end_reason=reason, refresh_hash=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def retire_refresh_hash(db: Session, session_id: str, token_hash: str, *, now: datetime) -> None:
    """Keep a replaced refresh token in its session's family: only a copy can present it now."""
    db.add(RotatedRefreshToken(hash=token_hash, session_id=session_id, rotated_at=now))


def end_session(row: SessionRow, *, reason: str, now: datetime) -> None:
    row.ended_at = now
    row.end_reason = reason
    row.refresh_hash = None


@dataclass(frozen=True)
class Device:
    """A session as its owner (or an operator) sees it in a list of devices."""

    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str | None
    client_ip: str | None
    remember: bool
    current: bool


def describe(row: SessionRow, current_sid: str | None = None) -> Device:
    return Device(
        id=row.id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        expires_at=expires_at(row),
        user_agent=row.user_agent,
        client_ip=row.client_ip,
        remember=row.remember,
        current=row.id == current_sid,
    )


def list_alive(db: Session, user_id: str, *, now: datetime) -> list[SessionRow]:
    return list(
        db.scalars(
            select(SessionRow)
            .where(SessionRow.user_id == user_id, alive_clause(now))
            .order_by(SessionRow.last_used_at.desc(), SessionRow.id)
        )
    )


def end_own_session(
    db: Session, user_id: str, session_id: str, *, client: ClientInfo, now: datetime
) -> None:
    """End one session of this user; another user's session is as absent as a missing one."""
    row = db.get(SessionRow, session_id)
    if row is None or row.user_id != user_id or row.ended_at is not None:
        raise NotFound("No such session.")
    end_session(row, reason="ended_by_user", now=now)
    # The device's access tokens are refused on their next request, not when they expire.
    announce_session_end(db, row.id)
    audit.record(db, "session_ended", now=now, user_id=user_id, client=client, session_id=row.id)


def live_session(db: Session, user_id: str, session_id: str, *, now: datetime) -> SessionRow:
    """The row behind an access token, for changes that must be stored with the session."""
    row = db.get(SessionRow, session_id)
    if row is None or row.user_id != user_id or not is_alive(row, now):
        raise SessionEnded()
    return row


def merge_state(state: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7396 JSON merge patch: objects merge recursively, null removes a member."""
    merged = dict(state)
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        elif isinstance(value, Mapping):
            current = merged.get(name)
            merged[name] = merge_state(current if isinstance(current, Mapping) else {}, value)
        else:
            merged[name] = value
    return merged


@dataclass(frozen=True)
class StateUpdated:
    session: SessionRow
    access: IssuedToken


def update_state(
    db: Session,
    issuer: TokenIssuer,
    authenticated: Authenticated,
    patch: Mapping[str, Any],
    *,
    max_bytes: int,
    now: datetime,
) -> StateUpdated:
    """Merge the patch into the session's state and sign an access token that carries it.

    The user's row is locked before the state is read: two patches of one session at once (two
    tabs) each merge into what the other stored instead of writing over it. Under the lock the
    token is checked again: a revocation that committed since the request's check must not get
    a fresh token signed with the version it set.
    """
    user = lock_user(db, authenticated.claims.sub)
    if user is None or user.disabled or user.token_version != authenticated.claims.tv:
        raise TokenRevoked()
    row = db.get(SessionRow, authenticated.claims.sid, populate_existing=True)
    if row is None or row.user_id != user.id or not is_alive(row, now):
        raise SessionEnded()
    state = _merged_within_limit(row, patch, max_bytes=max_bytes, now=now)
    return StateUpdated(session=row, access=issuer.issue_for(user, row, state, now=now))


def _merged_within_limit(
    row: SessionRow, patch: Mapping[str, Any], *, max_bytes: int, now: datetime
) -> dict[str, Any]:
    merged = merge_state(row.state or {}, patch)
    size = claim_size(merged)
    if size > max_bytes:
        raise SessionStateTooLarge(
            f"The session state would take {size} bytes; the limit is {max_bytes} bytes "
            "(it travels in the access-token cookie, which must stay under 4 KB)."
        )
    # A new dict, so that the JSON column sees the change.
    row.state = merged
    row.last_used_at = now
    return merged


def apply_single_session(
    db: Session,
    user: User,
    mode: SingleSession,
    *,
    client: ClientInfo,
    now: datetime,
    replacing: str | None = None,
) -> None:
    """Enforce the one-device policy at login, under the user's row lock, before the new session.

    `replacing` is the session this very browser held: it never blocks its own re-login.
    """
    if mode is SingleSession.off:
        return
    if mode is SingleSession.deny:
        # The login holds the user's row lock (`lock_user`) since its password check: two
        # logins racing check one after the other, and only one of them gets in.
        others = and_(SessionRow.user_id == user.id, alive_clause(now))
        if replacing is not None:
            others = and_(others, SessionRow.id != replacing)
        other = db.scalars(select(SessionRow.id).where(others).limit(1)).first()
        if other is not None:
            audit.record(
                db,
                "login_failure",
                now=now,
                user_id=user.id,
                client=client,
                reason="session_active",
            )
            raise SessionActive()
        return
    ended = end_sessions(db, user.id, reason="single_session", now=now)
    # The bump makes every other device's next call fail, not just its next refresh; the new
    # session's token is issued with the new version.
    bump_token_version(db, user.id)
    db.expire(user, ["token_version"])
    if ended:
        audit.record(
            db, "sessions_ended", now=now, user_id=user.id, client=client, reason="single_session"
        )
