"""Operator actions on other users' accounts, shared by the CLI and the admin HTTP API."""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from sqlalchemy import String, cast, delete, or_, select, update
from sqlalchemy.orm import Session

from authsvc.errors import BadRequest, NotFound
from authsvc.observability import audit
from authsvc.observability.audit import ClientInfo
from authsvc.revocation.publish import announce_token_version
from authsvc.services.sessions import end_sessions
from authsvc.services.users import (
    PasswordRules,
    bump_token_version,
    find_by_username,
    new_password_hash,
    normalise_username,
    set_email,
    store_password,
    validate_roles,
)
from authsvc.storage.locking import lock_user
from authsvc.storage.models import AccountToken, AuditEvent, User
from authsvc.storage.models import Session as SessionRow


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


@dataclass(frozen=True)
class UserRef:
    """How an operator names an account: by its id or by its username, always said which.

    Never "an id, else a username": a user may be named like another user's id.
    """

    by: Literal["id", "username"]
    value: str

    @classmethod
    def by_id(cls, user_id: str) -> UserRef:
        return cls("id", user_id)

    @classmethod
    def by_username(cls, username: str) -> UserRef:
        return cls("username", username)


def find_user(db: Session, reference: UserRef) -> User:
    if reference.by == "username":
        user = find_by_username(db, reference.value)
    # PostgreSQL refuses NUL in text; no id has one, nor more characters than a UUID.
    elif "\x00" in reference.value or len(reference.value) > 36:
        user = None
    else:
        user = db.get(User, reference.value)
    if user is None:
        raise NotFound("No such user.")
    return user


@dataclass(frozen=True)
class UserPage:
    """Users in username order, and the cursor of the page after them (None on the last)."""

    users: list[User]
    next_cursor: str | None


def list_users(
    db: Session,
    *,
    query: str | None = None,
    username: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> UserPage:
    """One page of users, keyset-paginated on the (unique) username: stable under inserts."""
    if "\x00" in f"{query}{username}":
        # No name or address holds one (and PostgreSQL refuses NUL in text): nobody matches.
        return UserPage(users=[], next_cursor=None)
    statement = select(User).order_by(User.username).limit(limit + 1)
    if query:
        # Usernames and address keys are stored folded, so a folded needle finds either.
        needle = normalise_username(query)
        statement = statement.where(
            or_(
                User.username.contains(needle, autoescape=True),
                User.email_key.contains(needle, autoescape=True),
            )
        )
    if username is not None:
        statement = statement.where(User.username == normalise_username(username))
    if cursor is not None:
        statement = statement.where(User.username > _read_cursor(cursor))
    rows = list(db.scalars(statement))
    if len(rows) <= limit:
        return UserPage(users=rows, next_cursor=None)
    return UserPage(users=rows[:limit], next_cursor=_cursor_after(rows[limit - 1]))


def _cursor_after(user: User) -> str:
    return base64.urlsafe_b64encode(user.username.encode()).decode().rstrip("=")


def _read_cursor(cursor: str) -> str:
    try:
        name = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadRequest("cursor: not a cursor this service handed out.") from None
    if "\x00" in name:
        raise BadRequest("cursor: not a cursor this service handed out.")
    return name


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


# How far `revoke_everyone` moves each version. After a restored backup, a token issued since the
# backup was taken carries a version above the restored one (by the revocations made since):
# one step would make some of them match again.
EVERYONE_STEP = 1000


def revoke_everyone(db: Session, *, actor: str, now: datetime) -> int:
    """Every token and session of every user dies, announced; returns how many users.

    What to run after restoring a backup: tokens issued after the backup was taken carry
    versions the restored rows have forgotten, and caches may remember versions above them.
    """
    # Users' rows first, then sessions: the order every other revocation takes its locks in.
    bumped = db.execute(
        update(User)
        .values(token_version=User.token_version + EVERYONE_STEP)
        .returning(User.id, User.token_version)
        .execution_options(synchronize_session=False)
    ).all()
    for user_id, version in bumped:
        announce_token_version(db, user_id, int(version))
    db.execute(
        update(SessionRow)
        .where(SessionRow.ended_at.is_(None))
        .values(ended_at=now, end_reason="revoked", refresh_hash=None)
        .execution_options(synchronize_session=False)
    )
    audit.record(db, "users_revoked", now=now, actor=actor, users=len(bumped))
    return len(bumped)


def change_password(
    db: Session,
    user: User,
    password: str,
    rules: PasswordRules,
    *,
    actor: str,
    client: ClientInfo | None = None,
    now: datetime,
) -> None:
    """The policy applies as to the user's own choice; every token and session of the user ends."""
    password_hash = new_password_hash(password, rules, username=user.username)
    # Hashed first, stored under the user's row lock: a login or a change of the user's own
    # that overlaps the hash sees this password, or comes after it and its revocation.
    locked = lock_user(db, user.id)
    if locked is None:
        raise NotFound("No such user.")
    store_password(db, locked, password_hash, now=now)
    _revoke(db, locked, reason="password_set", now=now)
    audit.record(db, "password_set", now=now, user_id=user.id, client=client, actor=actor)


def set_roles(
    db: Session,
    user: User,
    roles: list[str],
    *,
    actor: str,
    client: ClientInfo | None = None,
    now: datetime,
) -> bool:
    """Give the user exactly these roles; whether that changed anything.

    A change bumps the token version: tokens carrying the old roles are refused on their next
    use, and the user's sessions go on with the new roles at their next refresh.
    """
    new = validate_roles(roles)
    # The roles replaced are read under the user's row lock: read before it, a change that
    # committed meanwhile would be overwritten unaudited, or this one skipped as a no-op.
    locked = lock_user(db, user.id)
    if locked is None:
        raise NotFound("No such user.")
    old = list(locked.roles)
    if new == old:
        return False
    locked.roles = new
    bump_token_version(db, user.id)
    db.expire(user, ["token_version"])
    audit.record(
        db,
        "user_roles_changed",
        now=now,
        user_id=user.id,
        client=client,
        actor=actor,
        added=sorted(set(new) - set(old)),
        removed=sorted(set(old) - set(new)),
    )
    return True


def change_email(
    db: Session,
    user: User,
    email: str | None,
    *,
    verified: bool,
    actor: str,
    client: ClientInfo | None = None,
    now: datetime,
) -> bool:
    """Give the user this address (None: none); whether it changed.

    A new address is where password-reset links go from now on, so it is a change of who the
    user is: every token and session ends. Marking the same address verified ends nothing.
    """
    was_verified = user.email_verified_at is not None
    changed = set_email(db, user, email, verified=verified, now=now)
    if changed:
        _revoke(db, user, reason="email_changed", now=now)
    if changed or (verified and not was_verified):
        audit.record(
            db,
            "email_set",
            now=now,
            user_id=user.id,
            client=client,
            actor=actor,
            has_email=user.email is not None,
            verified=user.email_verified_at is not None,
        )
    return changed


def delete_user(
    db: Session, user: User, *, actor: str, client: ClientInfo | None = None, now: datetime
) -> str:
    """The account, its sessions (and so its refresh tokens) go; the audit trail keeps the events
    under a pseudonym, the one this returns, that no longer leads to the person."""
    # Announced like every bump, so caches of token versions refuse the tokens at once.
    bump_token_version(db, user.id)
    for table in (SessionRow, AccountToken):
        db.execute(
            delete(table)
            .where(table.user_id == user.id)
            .execution_options(synchronize_session=False)
        )
    pseudonym = _pseudonymise_audit_trail(db, user.id)
    db.delete(user)
    db.flush()
    audit.record(
        db,
        "user_deleted",
        now=now,
        user_id=pseudonym,
        client=client,
        actor=pseudonym if actor == user.id else actor,
    )
    return pseudonym


def _pseudonymise_audit_trail(db: Session, user_id: str) -> str:
    """Replace the user's id wherever the audit trail holds it by one random pseudonym."""
    # 36 characters, like an id, and never one: ids are UUIDs.
    pseudonym = f"deleted-{secrets.token_hex(14)}"
    db.execute(
        update(AuditEvent)
        .where(AuditEvent.user_id == user_id)
        .values(user_id=pseudonym)
        .execution_options(synchronize_session=False)
    )
    # What this user did to others (as an admin) names them in the event's detail.
    mentions = db.scalars(
        select(AuditEvent).where(cast(AuditEvent.detail, String).contains(user_id))
    )
    for event in mentions:
        event.detail = {
            name: pseudonym if value == user_id else value for name, value in event.detail.items()
        }
    return pseudonym


def _revoke(db: Session, user: User, *, reason: str, now: datetime) -> None:
    # The user's row before its sessions, the order every revocation locks in: the reverse
    # deadlocks with a logout everywhere or a password change of the same user.
    bump_token_version(db, user.id)
    end_sessions(db, user.id, reason=reason, now=now)
    db.expire(user, ["token_version"])
