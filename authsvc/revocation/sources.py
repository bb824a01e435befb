"""Where a check learns a user's current token version: the database, or a push-invalidated cache.

Shared by the server (its opt-in cache) and the downstream verifier.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol, runtime_checkable

from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from authsvc.clock import Clock, SystemClock
from authsvc.errors import VerifierUnavailable
from authsvc.revocation.channels.protocol import PushListener
from authsvc.revocation.ended import RecentlyEnded
from authsvc.revocation.session_ends import ended_session_id
from authsvc.storage.models import Session, User

logger = logging.getLogger("authsvc.verify")

_USERS = User.__table__
_SESSIONS = Session.__table__
# What a verifier that is not told authsvc's lifetimes assumes: the default access-token
# lifetime (15 minutes) and twice the default clock leeway (30 seconds).
DEFAULT_SESSION_HORIZON = timedelta(minutes=16)
DEFAULT_CLOCK_SKEW = timedelta(seconds=30)


class TokenVersionSource(Protocol):
    def current_version(self, user_id: str, *, token: str, claimed: int) -> int | None:
        """The user's token version, or None when no token of the user may pass.

        `token` (already verified) and its `claimed` version are hints some sources need.
        """
        ...

    def close(self) -> None: ...


@runtime_checkable
class SessionEndSource(Protocol):
    """A source that also knows which sessions have ended (not every source does)."""

    def session_ended(self, session_id: str, *, issued_at: int) -> bool:
        """Whether the session of a token issued at `issued_at` (epoch seconds) has ended."""
        ...


class QuickVersionSource(TokenVersionSource, SessionEndSource, Protocol):
    """A source that can say, without blocking, whether it knows the answer from memory."""

    def quick_version(self, user_id: str, claimed: int) -> tuple[bool, int | None]:
        """(True, what current_version would return) when it answers at once, else (False,
        None): then current_version must be asked, off the event loop."""
        ...

    def quick_session_ended(self, session_id: str, *, issued_at: int) -> bool | None:
        """`session_ended` when memory answers it at once; None when it must be asked."""
        ...


class DatabaseSource:
    """Reads `users.token_version` and `sessions.ended_at` from authsvc's database, read-only."""

    def __init__(self, database_url: str | None = None, *, engine: Engine | None = None):
        if (database_url is None) == (engine is None):
            raise ValueError("give a database_url or an engine")
        self._owns_engine = engine is None
        self.engine = engine or _read_only_engine(database_url or "")
        self.reads = 0
        self.session_reads = 0
        self._query = select(_USERS.c.token_version, _USERS.c.disabled)

    def current_version(self, user_id: str, *, token: str, claimed: int) -> int | None:
        self.reads += 1
        row = self._first(self._query.where(_USERS.c.id == user_id))
        if row is None or row.disabled:
            return None
        return int(row.token_version)

    def session_ended(self, session_id: str, *, issued_at: int) -> bool:
        return self.session_end(session_id) is not None

    def session_end(self, session_id: str) -> datetime | None:
        self.session_reads += 1
        row = self._first(select(_SESSIONS.c.ended_at).where(_SESSIONS.c.id == session_id))
        # No row: a session this database never had, or purged long after its tokens expired.
        # Only a recorded end ends a session, as in the set of recently ended ones.
        ended_at: datetime | None = None if row is None else row.ended_at
        return ended_at

    def ended_since(self, since: datetime) -> list[tuple[str, datetime]]:
        query = select(_SESSIONS.c.id, _SESSIONS.c.ended_at).where(_SESSIONS.c.ended_at >= since)
        try:
            with self.engine.connect() as connection:
                return [(row.id, row.ended_at) for row in connection.execute(query)]
        except SQLAlchemyError as exc:
            logger.warning("ended-session read failed: %s", type(exc).__name__)
            raise VerifierUnavailable() from exc

    def _first(self, query: Any) -> Any:
        try:
            with self.engine.connect() as connection:
                return connection.execute(query).first()
        except SQLAlchemyError as exc:
            logger.warning("token-version read failed: %s", type(exc).__name__)
            raise VerifierUnavailable() from exc

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


class SharedCounter(Protocol):
    """A number other processes move (the workers' revocation counter)."""

    def value(self) -> int: ...

    def close(self) -> None: ...


class ReadMark(NamedTuple):
    """Where the cache stood when a database read began (see `PushCachedSource.learned`)."""

    generation: int
    announcements: int


class PushCachedSource:
    """Serves versions from memory while a push channel is live; otherwise asks `source`.

    Only `source` says what a version is. An announcement carries no authority, since anyone
    who can reach the channel can send one: it only drops the user's entry, so the next check
    reads the row again. A version read from `source` replaces what was remembered, so one
    above the database's (a forged announcement to an older release, a restored backup, SQL by
    hand) is gone at the next read. Fails closed: on a lost channel the cache is emptied and
    ignored until the listener has subscribed again, because announcements made in between are
    lost. An entry is also re-read after `max_age` seconds, which bounds the damage of an
    announcement lost while the channel stayed up (a Redis PUBLISH that failed at authsvc's
    end) and of a change made by hand without one.
    With `siblings` (the counter the workers of one server share, owned from here on)
    everything is forgotten whenever another worker committed a revocation, checked on every
    call.

    When `source` can read sessions (a DatabaseSource), the same channel keeps the sessions
    ended within `session_horizon` (authsvc's access-token lifetime and twice its clock leeway)
    in memory as well (`revocation.ended`).
    """

    def __init__(
        self,
        source: TokenVersionSource,
        listener: PushListener,
        *,
        max_users: int = 100_000,
        max_age: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        siblings: SharedCounter | None = None,
        session_horizon: timedelta = DEFAULT_SESSION_HORIZON,
        clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
        clock: Clock | None = None,
    ):
        self.source = source
        self.ended = (
            RecentlyEnded(
                source,
                horizon=session_horizon,
                skew=clock_skew,
                clock=clock or SystemClock(),
            )
            if isinstance(source, DatabaseSource)
            else None
        )
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
        # Which users were announced last, numbered: a read begun before its user's latest
        # announcement may have seen the row before the change, so it is not remembered.
        self._announcements = 0
        self._announced: OrderedDict[str, int] = OrderedDict()
        self._forgotten_announcement = 0
        self.hits = 0
        self.misses = 0
        self.losses = 0
        self._siblings = siblings
        self._siblings_seen = 0 if siblings is None else siblings.value()
        self.up = threading.Event()
        listener.start(self)

    @property
    def trusted(self) -> bool:
        return self._trusted

    @property
    def listener(self) -> PushListener:
        return self._listener

    def quick_version(self, user_id: str, claimed: int) -> tuple[bool, int | None]:
        """(True, version) when memory answers; (False, None) when the database must."""
        if self._siblings is not None and self._siblings.value() != self._siblings_seen:
            self._forget_for_siblings()
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
        mark = self.read_began()
        version = self.source.current_version(user_id, token=token, claimed=claimed)
        self.learned(user_id, version, mark)
        return version

    def read_began(self, *, miss: bool = True) -> ReadMark:
        """What to hand `learned` with the version the database then gave; counts a miss unless
        memory did answer (a read for something else, such as the user's identity)."""
        if miss:
            self.misses += 1
        return ReadMark(self._generation, self._announcements)

    def learned(self, user_id: str, version: int | None, mark: ReadMark) -> None:
        """Remember a version read from the database since `read_began` returned `mark`, unless
        the channel was lost (or came back) or the user was announced in between: the read may
        have seen the row before the change. What the database said replaces what was remembered.
        """
        if version is None:
            return
        with self._lock:
            if (
                self._trusted
                and mark.generation == self._generation
                and not self._announced_since(user_id, mark.announcements)
            ):
                self._store(user_id, version)

    def _forget_for_siblings(self) -> None:
        """Another worker of this server revoked something: start again from the database."""
        assert self._siblings is not None
        with self._lock:
            self._siblings_seen = self._siblings.value()
            # A read begun before the revocation must not be cached after it either.
            self._generation += 1
            self._versions.clear()
        if self.ended is not None:
            # Its own sessions' ends too: the next check of one reloads them.
            self.ended.forget()

    def quick_session_ended(self, session_id: str, *, issued_at: int) -> bool | None:
        if self.ended is None:
            return False  # a source that cannot read sessions: the version check is all
        return self.ended.quick_ended(session_id, issued_at=issued_at)

    def session_ended(self, session_id: str, *, issued_at: int) -> bool:
        if self.ended is None:
            return False
        return self.ended.ended(session_id, issued_at=issued_at)

    def channel_up(self) -> None:
        with self._lock:
            self._versions.clear()
            self._generation += 1
            self._trusted = True
        if self.ended is not None:
            self.ended.channel_up()
        self.up.set()

    def channel_down(self) -> None:
        with self._lock:
            if self._trusted:
                self.losses += 1
            self._trusted = False
            self._generation += 1
            self._versions.clear()
        if self.ended is not None:
            self.ended.channel_down()
        self.up.clear()

    def version_changed(self, user_id: str, version: int) -> None:
        """Forget the user's version: the next check reads it (`version` is not trusted)."""
        session_id = ended_session_id(user_id)
        if session_id is not None:
            if self.ended is not None:
                self.ended.announced(session_id)
            return
        with self._lock:
            self._versions.pop(user_id, None)
            self._announcements += 1
            self._announced[user_id] = self._announcements
            self._announced.move_to_end(user_id)
            if len(self._announced) > self._max_users:
                _, self._forgotten_announcement = self._announced.popitem(last=False)

    def _announced_since(self, user_id: str, mark: int) -> bool:
        number = self._announced.get(user_id)
        if number is None:
            # Forgotten to bound memory: it may have been this user, announced after the mark.
            return mark < self._forgotten_announcement
        return number > mark

    def _store(self, user_id: str, version: int) -> None:
        self._versions[user_id] = (version, self._monotonic())
        self._versions.move_to_end(user_id)
        if len(self._versions) > self._max_users:
            self._versions.popitem(last=False)

    def close(self) -> None:
        self._listener.stop()
        self.source.close()
        if self._siblings is not None:
            self._siblings.close()
