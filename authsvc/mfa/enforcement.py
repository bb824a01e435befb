"""Ending at once the sessions the MFA policy would no longer renew.

A refresh already ends a session that signed in without a second factor once the policy wants
one of its user (the policy turned on, or a required role granted later), so the policy holds
within one access-token lifetime. An operator who wants it to hold now ends those sessions
here: the same rule, applied to every live session, each end announced like a logout so the
session's access tokens are refused on their next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session

from authsvc.mfa.service import MfaRules
from authsvc.observability import audit
from authsvc.revocation.publish import announce_session_end
from authsvc.services.sessions import (
    SECOND_FACTOR_REQUIRED,
    alive_clause,
    end_session,
    without_second_factor_clause,
)
from authsvc.storage.locking import lock_user
from authsvc.storage.models import Session as SessionRow
from authsvc.storage.models import User


@dataclass(frozen=True)
class Shortfall:
    """How many users, and how many of their sessions, the policy would not renew."""

    users: int = 0
    sessions: int = 0

    def __add__(self, other: Shortfall) -> Shortfall:
        return Shortfall(self.users + other.users, self.sessions + other.sessions)


def _alive_without_second_factor(now: datetime) -> ColumnElement[bool]:
    return and_(alive_clause(now), without_second_factor_clause())


def users_to_check(db: Session, *, now: datetime) -> list[str]:
    """Users with a live session that showed no second factor, whatever their roles."""
    query = (
        select(SessionRow.user_id)
        .where(_alive_without_second_factor(now))
        .distinct()
        .order_by(SessionRow.user_id)
    )
    return list(db.scalars(query))


def end_for_user(
    db: Session, rules: MfaRules, user_id: str, *, actor: str, now: datetime, dry_run: bool
) -> Shortfall:
    """End the user's live sessions without a second factor, if the policy wants one of them.

    Under the user's row lock, as a refresh decides under it: a login or a role change that
    commits first is seen, and no session this ends is renewed by a refresh racing it. The
    caller commits, one user at a time, so that no login waits on the whole run.
    """
    user = db.get(User, user_id) if dry_run else lock_user(db, user_id)
    if user is None or not rules.must_have_factor(user):
        return Shortfall()
    rows = list(
        db.scalars(
            select(SessionRow)
            .where(SessionRow.user_id == user.id)
            .where(_alive_without_second_factor(now))
            .execution_options(populate_existing=True)
        )
    )
    if not rows or dry_run:
        return Shortfall(users=int(bool(rows)), sessions=len(rows))
    for row in rows:
        end_session(row, reason=SECOND_FACTOR_REQUIRED, now=now)
        announce_session_end(db, row.id)
    audit.record(
        db,
        "sessions_ended_by_mfa_policy",
        now=now,
        user_id=user.id,
        actor=actor,
        sessions=[row.id for row in rows],
    )
    return Shortfall(users=1, sessions=len(rows))
