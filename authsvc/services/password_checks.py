"""A password check that holds under concurrency: the slow verification with no lock held, then
a cheap confirmation under the user row's lock (the locking rule, docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from authsvc.passwords.hashing import PasswordHasher
from authsvc.storage.models import User


@dataclass(frozen=True)
class PasswordCheck:
    """A right password, and what its verification relied on (read before the slow hash)."""

    password_hash: str
    token_version: int
    # The same password hashed at the current parameters, to store in place of the checked hash.
    upgraded_hash: str | None = None


def check_password(hasher: PasswordHasher, user: User, password: str) -> PasswordCheck | None:
    """Verify the password against the row as read, no lock held; None when it is wrong."""
    checked_hash, token_version = user.password_hash, user.token_version
    verification = hasher.verify(password, checked_hash)
    if not verification.ok:
        return None
    return PasswordCheck(checked_hash, token_version, verification.upgraded_hash)


def confirm_password(
    hasher: PasswordHasher, check: PasswordCheck, locked: User, password: str
) -> PasswordCheck | None:
    """The check, confirmed against the locked row whose token version is the checked one.

    Every new password comes with a token-version bump, which the caller has ruled out, so a
    hash that moved anyway is the same password rehashed (by a concurrent login) or an edit by
    hand: it is verified again, under the lock, which this rare case may hold for one hash.
    None when the password is wrong for the hash there now.
    """
    if locked.password_hash == check.password_hash:
        return check
    return check_password(hasher, locked, password)


def store_upgraded_hash(db: Session, locked: User, check: PasswordCheck) -> None:
    """Replace the checked hash by its rehash at the current parameters, and only that hash.

    The row is locked and was compared already; the condition keeps a newer password safe from
    the old one's rehash even if a caller forgot to lock.
    """
    if check.upgraded_hash is None:
        return
    db.execute(
        update(User)
        .where(User.id == locked.id, User.password_hash == check.password_hash)
        .values(password_hash=check.upgraded_hash)
        .execution_options(synchronize_session=False)
    )
    db.expire(locked, ["password_hash"])
