"""SQLite, which has no channel: watching its change counter for signing-key changes."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from authsvc.revocation.channels.protocol import KeyChangeHandler
from authsvc.revocation.channels.thread import ListenerThread


class SqliteKeyWatcher(ListenerThread[KeyChangeHandler]):
    """Signing-key changes on SQLite: polls the change counter, then compares the keys' states."""

    name = "signing-key sqlite-watcher"

    def __init__(self, path: str, **timing: float):
        timing.setdefault("poll_seconds", 0.1)
        super().__init__(**timing)
        self._uri = read_only_uri(path)

    def _listen(self, handler: KeyChangeHandler) -> Iterator[None]:
        connection = sqlite3.connect(
            self._uri, uri=True, timeout=5, isolation_level=None, check_same_thread=False
        )
        try:
            version = data_version(connection)
            states = _key_states(connection)
            handler.channel_up()
            yield
            while not self._stop.wait(self.poll_seconds):
                # data_version moves when another connection commits anything; the keys are
                # compared only then.
                current_version = data_version(connection)
                if current_version == version:
                    continue
                version = current_version
                current = _key_states(connection)
                for kid in sorted(set(states) | set(current)):
                    if states.get(kid) != current.get(kid):
                        handler.keys_changed(kid, current.get(kid, "deleted"))
                states = current
        finally:
            connection.close()


def read_only_uri(path: str) -> str:
    """The URI that opens the SQLite file at `path` read-only."""
    return Path(path).resolve().as_uri() + "?mode=ro"


def data_version(connection: sqlite3.Connection) -> int:
    """Changes whenever another connection (of any process) commits to the database."""
    return int(connection.execute("PRAGMA data_version").fetchone()[0])


def _key_states(connection: sqlite3.Connection) -> dict[str, str]:
    return dict(connection.execute("SELECT kid, state FROM signing_keys").fetchall())
