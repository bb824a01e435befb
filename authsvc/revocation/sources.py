"""Where a check learns a user's current token version: the database, or a push-invalidated cache.

Shared by the server (its opt-in cache) and the downstream verifier.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from authsvc.errors import VerifierUnavailable
from authsvc.revocation.push import PushListener
from authsvc.storage.models import User

logger = logging.getLogger("authsvc.verify")

_USERS = User.__table__


class TokenVersionSource(Protocol):
    def current_version(self, user_id: str, *, token: str, claimed: int) -> int | None:
        """The user's token version, or None when no token of the user may pass.

        `token` (already verified) and its `claimed` version are hints some sources need.
        """
        ...

    def close(self) -> None: ...


class QuickVersionSource(TokenVersionSource, Protocol):
    """A source that can say, without blocking, whether it knows the answer from memory."""

    def quick_version(self, user_id: str, claimed: int) -> tuple[bool, int | None]:
        """(True, what current_version would return) when it answers at once, else (False,
        None): then current_version must be asked, off the event loop."""
        ...


class DatabaseSource:
    """Reads `users.token_version` from authsvc's database, read-only, through its table."""

    def __init__(self, database_url: str | None = None, *, engine: Engine | None = None):
        if (database_url is None) == (engine is None):
            raise ValueError("give a database_url or an engine")
        self._owns_engine = engine is None
        self.engine = engine or _read_only_engine(database_url or "")
        self.reads = 0
        self._query = select(_USERS.c.token_version, _USERS.c.disabled)

    def current_version(self, user_id: str, *, token: str, claimed: int) -> int | None:
        self.reads += 1
        try:
            with self.engine.connect() as connection:
                row = connection.execute(self._query.where(_USERS.c.id == user_id)).first()
        except SQLAlchemyError as exc:
            logger.warning("token-version read failed: %s", type(exc).__name__)
            raise VerifierUnavailable() from exc
        if row is None or row.disabled:
            return None
        return int(row.token_version)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()


def _read_only_engine(database_url: str) -> Engine:
    for prefix in ("postgres://", "postgresql://"):
        if database_url.startswith(prefix):
            database_url = "postgresql+psycopg://" + database_url[len(prefix) :]
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 5})
        event.listen(engine, "connect", _sqlite_query_only)
        return engine
    return create_engine(
        url,
        pool_size=2,
        max_overflow=2,
        pool_timeout=5,
        pool_pre_ping=True,
        # The verifier never writes; the server refuses if a bug ever tried to.
        connect_args={"connect_timeout": 5, "options": "-c default_transaction_read_only=on"},
    )


def _sqlite_query_only(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.close()


class PushCachedSource:
    """Serves versions from memory while a push channel is live; otherwise asks `source`.

    Fails closed: on a lost channel the cache is emptied and ignored until the listener has
    subscribed again, because announcements made in between are lost. An entry is also
    re-read after `max_age` seconds, which bounds the damage of an announcement lost while the
    channel stayed up (a Redis PUBLISH that failed at authsvc's end).
    """

    def __init__(
        self,
        source: TokenVersionSource,
        listener: PushListener,
        *,
        max_users: int = 100_000,
        max_age: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.source = source
        self._listener = listener
        self._max_users = max_users
        self._max_age = max_age
        self._monotonic = monotonic
        # user id -> (version, when it was learned)
        self._versions: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._trusted = False
        # Bumped on every change of trust, so a read begun before a loss is never cached after.
        self._generation = 0
        self.hits = 0
        self.misses = 0
        self.losses = 0
        self.up = threading.Event()
        listener.start(self)

    @property
    def trusted(self) -> bool:
        return self._trusted

    def quick_version(self, user_id: str, claimed: int) -> tuple[bool, int | None]:
        """(True, version) when memory answers; (False, None) when the database must."""
        if self._trusted:
            entry = self._versions.get(user_id)
            # A token newer than our entry was issued after a bump whose news is on its way.
            if (
                entry is not None
                and entry[0] >= claimed
                and self._monotonic() - entry[1] <= self._max_age
            ):
                self.hits += 1
                return True, entry[0]
        return False, None

    def current_version(self, user_id: str, *, token: str, claimed: int) -> int | None:
        answered, remembered = self.quick_version(user_id, claimed)
        if answered:
            return remembered
        generation = self.read_began()
        version = self.source.current_version(user_id, token=token, claimed=claimed)
        self.learned(user_id, version, generation)
        return version

    def read_began(self, *, miss: bool = True) -> int:
        """What to hand `learned` with the version the database then gave; counts a miss unless
        memory did answer (a read for something else, such as the user's identity)."""
        if miss:
            self.misses += 1
        return self._generation

    def learned(self, user_id: str, version: int | None, generation: int) -> None:
        """Remember a version read from the database since `read_began` returned `generation`,
        unless the channel was lost (or came back) in between: news may have been missed."""
        if version is None:
            return
        with self._lock:
            if self._trusted and generation == self._generation:
                # Versions only grow: an announcement that raced this read wins.
                self._store(user_id, max(version, self._known(user_id, version)))

    def channel_up(self) -> None:
        with self._lock:
            self._versions.clear()
            self._generation += 1
            self._trusted = True
        self.up.set()

    def channel_down(self) -> None:
        with self._lock:
            if self._trusted:
                self.losses += 1
            self._trusted = False
            self._generation += 1
            self._versions.clear()
        self.up.clear()

    def version_changed(self, user_id: str, version: int) -> None:
        with self._lock:
            self._store(user_id, max(version, self._known(user_id, version)))

    def _known(self, user_id: str, default: int) -> int:
        entry = self._versions.get(user_id)
        return default if entry is None else entry[0]

    def _store(self, user_id: str, version: int) -> None:
        self._versions[user_id] = (version, self._monotonic())
        self._versions.move_to_end(user_id)
        if len(self._versions) > self._max_users:
            self._versions.popitem(last=False)

    def close(self) -> None:
        self._listener.stop()
        self.source.close()
