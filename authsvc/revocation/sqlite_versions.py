"""Token versions (and ended sessions) on SQLite, remembered until anyone commits anything.

SQLite tells a connection, through `PRAGMA data_version`, whether any other connection (of this
process or another: a second worker, the CLI's `users revoke`) has committed since it last
asked; asking reads no page and takes microseconds. Every check asks first and forgets what it
remembered when the answer moved, so a change committed before a request began is seen by that
request: the same guarantee as reading the row, without the row read on every call.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

from authsvc.errors import VerifierUnavailable
from authsvc.revocation.channels.sqlite import data_version, read_only_uri

logger = logging.getLogger("authsvc")

_QUERY = "SELECT token_version, disabled FROM users WHERE id = ?"
_SESSION_QUERY = "SELECT ended_at FROM sessions WHERE id = ?"


class SqliteVersionCache:
    """A TokenVersionSource that always answers at once: from memory, or by a primary-key read
    on its own read-only connection (no pool, no session, no thread hop)."""

    trusted = True

    def __init__(self, path: str, *, max_users: int = 100_000):
        self._connection = sqlite3.connect(
            read_only_uri(path), uri=True, timeout=5, isolation_level=None, check_same_thread=False
        )
        self._max_users = max_users
        # user id -> token version, or None when no token of theirs may pass (disabled, deleted)
        self._versions: dict[str, int | None] = {}
        # session id -> whether it has ended (only a recorded end counts)
        self._ended: dict[str, bool] = {}
        self._data_version: int | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.losses = 0

    def quick_version(self, user_id: str, claimed: int) -> tuple[bool, int | None]:
        return True, self.current_version(user_id, token="", claimed=claimed)

    def quick_session_ended(self, session_id: str, *, issued_at: int) -> bool | None:
        return self.session_ended(session_id, issued_at=issued_at)

    def session_ended(self, session_id: str, *, issued_at: int) -> bool:
        """Remembered like versions, until anything commits: the same guarantee as the row."""
        try:
            with self._lock:
                self._forget_if_changed()
                ended = self._ended.get(session_id)
                if ended is None:
                    row = self._connection.execute(_SESSION_QUERY, (session_id,)).fetchone()
                    ended = row is not None and row[0] is not None
                    if len(self._ended) >= self._max_users:
                        self._ended.clear()
                    self._ended[session_id] = ended
                return ended
        except sqlite3.Error as exc:
            logger.warning("ended-session read failed: %s", type(exc).__name__)
            raise VerifierUnavailable() from exc

    def _forget_if_changed(self) -> None:
        current = data_version(self._connection)
        if current != self._data_version:
            self._versions.clear()
            self._ended.clear()
            self._data_version = current

    def current_version(self, user_id: str, *, token: str, claimed: int) -> int | None:
        try:
            with self._lock:
                self._forget_if_changed()
                if user_id in self._versions:
                    self.hits += 1
                    return self._versions[user_id]
                self.misses += 1
                row = self._connection.execute(_QUERY, (user_id,)).fetchone()
                version = None if row is None or row[1] else int(row[0])
                if len(self._versions) >= self._max_users:
                    self._versions.clear()
                self._versions[user_id] = version
                return version
        except sqlite3.Error as exc:
            # Fail closed: without an answer, nobody is authenticated.
            logger.warning("token-version read failed: %s", type(exc).__name__)
            raise VerifierUnavailable() from exc

    def close(self) -> None:
        self._connection.close()
