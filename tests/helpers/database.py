"""Set-up straight in the test database; what the service does is asserted over HTTP."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import inspect, text

from authsvc.clock import SystemClock
from authsvc.passwords.hashing import Argon2Hasher, PasswordHasher
from authsvc.services.users import NewUser, create_user
from authsvc.storage.engine import make_engine, make_session_factory


def cheap_hasher() -> Argon2Hasher:
    """Still argon2id, at parameters cheap enough for hundreds of logins in a test run (the hash
    records them, so servers verify it as usual)."""
    return Argon2Hasher(memory_cost=1024, time_cost=1, parallelism=1)


def add_user(
    database_url: str,
    username: str,
    password: str,
    *,
    roles: Sequence[str] = (),
    now: datetime | None = None,
    hasher: PasswordHasher | None = None,
    email: str | None = None,
    email_verified: bool = False,
) -> str:
    """Create a user row; its id."""
    engine = make_engine(database_url, pool_size=1)
    new = NewUser(username, password, list(roles), email=email, email_verified=email_verified)
    try:
        with make_session_factory(engine)() as db:
            user = create_user(db, hasher or cheap_hasher(), new, now=now or SystemClock().now())
            db.commit()
            return user.id
    finally:
        engine.dispose()


def execute(database_url: str, statement: str, **params: object) -> list[tuple[object, ...]]:
    """Run one statement in its own transaction; the rows it returned, if any."""
    engine = make_engine(database_url, pool_size=1)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def truncate_all(database_url: str) -> None:
    """Empty every table but the migrations' bookkeeping (PostgreSQL)."""
    engine = make_engine(database_url)
    tables = [name for name in inspect(engine).get_table_names() if name != "alembic_version"]
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    engine.dispose()
