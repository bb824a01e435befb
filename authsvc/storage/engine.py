"""Engine and session factory; the request (or CLI command) boundary owns the transaction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from authsvc.config import Settings


def normalise_url(url: str) -> str:
    """Accept the usual postgres:// spellings and pick the psycopg 3 driver for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(database_url: str, *, pool_size: int = 10) -> Engine:
    url = make_url(normalise_url(database_url))
    kwargs: dict[str, Any] = {"pool_pre_ping": True}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # The threadpool hands connections between threads; SQLite must allow it.
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 15}
    else:
        kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_timeout=5)
        kwargs["connect_args"] = {"connect_timeout": 5}
    engine = create_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers go on while a login writes; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def engine_from_settings(settings: Settings) -> Engine:
    return make_engine(settings.database_url, pool_size=settings.database_pool_size)


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception:  # any failure means "not ready"; the caller reports it
        return False
    return True


_KEEP_WHEN_REFUSED = "authsvc_keep_when_refused"


def keep_when_refused(db: Session) -> None:
    """Mark this transaction to be committed although the request ends in a refusal.

    A use case calls it right before refusing when what it wrote must outlive the refusal: the
    audit record of a failed login, the session a reused refresh token ended.
    """
    db.info[_KEEP_WHEN_REFUSED] = True


def kept_when_refused(db: Session) -> bool:
    """Whether the refused request's transaction is to be committed (read once per request)."""
    return bool(db.info.pop(_KEEP_WHEN_REFUSED, False))
