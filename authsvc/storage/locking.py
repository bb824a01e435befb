"""The user row's lock: what every change of an account takes before it writes.

A use case that reads an account, spends time (a password hash, a network round trip), then
writes, takes this lock after the slow step and compares what it read before with the row
returned here: a change that committed in between (a new password, a token-version bump, a
disabled flag) is seen, and one that has not committed yet waits until this transaction ends.
Nobody holds the lock across the slow step, so logins of one user never queue behind a hash.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from authsvc.storage.models import User


def lock_user(db: Session, user_id: str) -> User | None:
    """Lock the user's row until the transaction ends and re-read it; None when it is gone.

    PostgreSQL: `SELECT ... FOR NO KEY UPDATE`, the row lock every UPDATE of the row takes, so
    it waits for and excludes each of them, yet still lets rows that reference the user (a new
    session) be inserted by a transaction that holds this lock. SQLite has no row locks: an
    UPDATE that changes nothing takes the database's write lock. The engine leaves transactions
    to the driver, which sends a deferred BEGIN before the first write, so that UPDATE is either
    the transaction's first statement (it waits for the lock, then reads the newest commit:
    `BEGIN IMMEDIATE` semantics) or comes after a write of its own that holds the lock already;
    an explicit `BEGIN IMMEDIATE` would fail in the second case.
    """
    if db.get_bind().dialect.name == "sqlite":
        db.execute(
            update(User)
            .where(User.id == user_id)
            .values(token_version=User.token_version)
            .execution_options(synchronize_session=False)
        )
    return db.scalars(
        select(User)
        .where(User.id == user_id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    ).first()
