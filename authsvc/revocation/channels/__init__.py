"""The channels that carry announcements: the protocol (`protocol.py`), the listener thread
(`thread.py`), and the PostgreSQL, Redis and SQLite listeners, one module each."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from authsvc.revocation.channels.postgres import PostgresKeyListener
from authsvc.revocation.channels.protocol import KeyChangeListener
from authsvc.revocation.channels.sqlite import SqliteKeyWatcher
from authsvc.revocation.channels.thread import DEFAULT_DEAF_AFTER_SECONDS


def key_change_listener(
    database_url: str,
    *,
    name: str,
    listen_url: str | None = None,
    deaf_after_seconds: float = DEFAULT_DEAF_AFTER_SECONDS,
) -> KeyChangeListener | None:
    """The channel that tells an instance of key changes on this database, if it has one.

    `listen_url` is where a PostgreSQL listener connects when the database's own URL goes
    through a pooler that cannot keep a LISTEN.
    """
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "postgresql":
        return PostgresKeyListener(
            listen_url or database_url,
            application_name=name,
            poll_seconds=0.1,
            deaf_after_seconds=deaf_after_seconds,
        )
    if backend == "sqlite" and url.database not in (None, "", ":memory:"):
        return SqliteKeyWatcher(str(url.database))
    return None
