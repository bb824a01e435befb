"""Operator actions on other users' accounts, shared by the CLI and the admin HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from authsvc.errors import NotFound
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.services.sessions import end_sessions
from authsvc.services.users import bump_token_version, find_by_username
from authsvc.storage.models import User


class UserAction(Protocol):
    """An operator's action on one account, the same from the CLI and the admin API."""

    def __call__(
        self,
        db: Session,
        user: User,
        *,
        actor: str,
        client: ClientInfo | None = None,
        now: datetime,
    ) -> None: ...


def find_user(db: Session, reference: str) -> User:
    """A user by id or by username."""
    user = db.get(User, reference) if len(reference) == 36 else None
    user = user or find_by_username(db, reference)
    if user is None:
        raise NotFound("No such user.")
    return user


def disable(
    db: Session, user: User, *, actor: str, client: ClientInfo | None = None, now: datetime
) -> None:
    """Disabled users cannot log in or refresh; the version bump logs them out everywhere now."""
    user.disabled = True
    _revoke(db, user, reason="disabled", now=now)
    audit.record(db, "user_disabled", now=now, user_id=user.id, client=client, actor=actor)


def enable(
    db: Session, user: User, *, actor: str, client: ClientInfo | None = None, now: datetime
) -> None:
    user.disabled = False
    audit.record(db, "user_enabled", now=now, user_id=user.id, client=client, actor=actor)


def revoke(
    db: Session, user: User, *, actor: str, client: ClientInfo | None = None, now: datetime
) -> None:
    """Every token and session of the user dies; the account stays usable for a new login."""
    _revoke(db, user, reason="revoked", now=now)
    audit.record(db, "user_revoked", now=now, user_id=user.id, client=client, actor=actor)


def _revoke(db: Session, user: User, *, reason: str, now: datetime) -> None:
    end_sessions(db, user.id, reason=reason, now=now)
    bump_token_version(db, user.id)
    db.expire(user, ["token_version"])
