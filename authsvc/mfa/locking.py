"""Taking the user's row for writing before a read-check-write on the account."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from authsvc.storage.models import User


def lock_user(db: Session, user_id: str) -> User | None:
    """Lock the user's row (PostgreSQL row lock, SQLite's write lock) and read it afresh.

    A no-op UPDATE rather than SELECT ... FOR UPDATE: on SQLite it is what takes the write
    lock, so both databases serialise the callers at the same point.
    """
    db.execute(
        update(User)
        .where(User.id == user_id)
        .values(token_version=User.token_version)
        .execution_options(synchronize_session=False)
    )
    return db.get(User, user_id, populate_existing=True)
