"""The push protocol: channel names, payload formats, and the listeners.

authsvc announces two kinds of change. PostgreSQL carries each as a NOTIFY inside the changing
transaction, delivered exactly when (and only if) it commits; Redis, when configured, carries it
as a PUBLISH right after the commit.

* Token-version bumps: `"<user_id> <token_version>"` on `authsvc_token_version` (PostgreSQL) and
  `authsvc:token_version` (Redis). On Redis each announcement also carries its place in a
  sequence, `"<user_id> <token_version> <db>:<seq>"`: `seq` comes from the counter
  `authsvc:token_version:seq` in Redis database `db`, incremented by the same script that
  publishes, so a listener that finds a number missing (in the messages, or against the counter
  it reads every `sequence_check_seconds`) knows an announcement was lost. A publisher that
  fails to publish increments the counter alone, so the loss shows as a gap too.
* Signing-key changes (rotation, activation, retirement, revocation): `"<kid> <state>"` on
  `authsvc_signing_keys` and `authsvc:signing_keys`. On SQLite, which has no channel, a watcher
  asks the database's change counter (`PRAGMA data_version`) and reports the keys that changed.

A listener runs in a daemon thread, reports `channel_up` once it is subscribed, each announcement
as it arrives, and `channel_down` the moment the connection fails, then reconnects with
exponential backoff. Anything that caches what is announced must stop trusting itself between a
`channel_down` and the next `channel_up`: announcements made in that gap are lost. A sequence
gap on Redis is reported the same way, as `channel_down` then `channel_up`.

psycopg and redis are imported by the listeners that use them, so the verifier installs without
either (they come with the `postgres` and `redis` extras).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    import redis

PG_CHANNEL = "authsvc_token_version"
REDIS_CHANNEL = "authsvc:token_version"
REDIS_SEQUENCE_KEY = "authsvc:token_version:seq"
PG_KEY_CHANNEL = "authsvc_signing_keys"
REDIS_KEY_CHANNEL = "authsvc:signing_keys"
# A user id is a UUID and a version a small integer; anything longer is not ours.
_MAX_PAYLOAD = 128

logger = logging.getLogger("authsvc.verify.push")


@dataclass(frozen=True)
class Announcement:
    """A token-version bump as announced; `sequence` is (Redis db, number) when it has one."""

    user_id: str
    version: int
    sequence: tuple[int, int] | None = None


def encode_payload(user_id: str, version: int) -> str:
    return f"{user_id} {version}"


def decode_announcement(payload: str | bytes) -> Announcement | None:
    """The announcement in a payload, with or without a sequence; None when it is malformed."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", errors="replace")
    if len(payload) > _MAX_PAYLOAD:
        return None
    parts = payload.split(" ")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1].isdigit():
        return None
    if len(parts) == 2:
        return Announcement(parts[0], int(parts[1]))
    db, _, number = parts[2].partition(":")
    if not db.isdigit() or not number.isdigit():
        return None
    return Announcement(parts[0], int(parts[1]), (int(db), int(number)))


def decode_payload(payload: str | bytes) -> tuple[str, int] | None:
    """The (user id, version) of an announcement, or None when it is malformed."""
    announcement = decode_announcement(payload)
    return None if announcement is None else (announcement.user_id, announcement.version)


def encode_key_change(kid: str, state: str) -> str:
    return f"{kid} {state}"


def decode_key_change(payload: str | bytes) -> tuple[str, str] | None:
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", errors="replace")
    kid, _, state = payload.partition(" ")
    if not kid or not state or len(payload) > _MAX_PAYLOAD:
        return None
    return kid, state


class ChannelHandler(Protocol):
    """Told when a channel comes up and when it is lost; called from the listener's thread."""

    def channel_up(self) -> None: ...

    def channel_down(self) -> None: ...


class PushHandler(ChannelHandler, Protocol):
    """Receives token-version announcements."""

    def version_changed(self, user_id: str, version: int) -> None: ...


class KeyChangeHandler(ChannelHandler, Protocol):
    """Receives signing-key announcements."""

    def keys_changed(self, kid: str, state: str) -> None: ...


class PushListener(Protocol):
    def start(self, handler: PushHandler) -> None: ...

    def stop(self) -> None: ...


class KeyChangeListener(Protocol):
    def start(self, handler: KeyChangeHandler) -> None: ...

    def stop(self) -> None: ...


H = TypeVar("H", bound=ChannelHandler)


class _ListenerThread(Generic[H]):
    """Connect, subscribe, deliver; on any failure report the loss and retry with backoff."""

    name = "listener"

    def __init__(
        self,
        *,
        poll_seconds: float = 0.2,
        heartbeat_seconds: float = 2.0,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
    ):
        self.poll_seconds = poll_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, handler: H) -> None:
        if self._thread is not None:
            raise RuntimeError("a listener is started once")
        self._thread = threading.Thread(
            target=self._run, args=(handler,), name=f"authsvc-{self.name}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def _run(self, handler: H) -> None:
        delay = self.backoff_initial
        while not self._stop.is_set():
            subscribed = False
            try:
                for _ in self._listen(handler):
                    subscribed = True
            except Exception as exc:  # any failure of the channel means the same: lost
                logger.warning("%s lost: %s", self.name, type(exc).__name__)
            finally:
                handler.channel_down()
            if subscribed:
                delay = self.backoff_initial
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self.backoff_max)

    def _listen(self, handler: H) -> Iterator[None]:
        """Subscribe, yield once subscribed (so the backoff resets), deliver until stopped."""
        raise NotImplementedError


class _PostgresListener(_ListenerThread[H]):
    """LISTEN on authsvc's PostgreSQL database with psycopg 3, in a thread."""

    channel = ""

    def __init__(
        self, database_url: str, *, application_name: str = "authsvc-verifier", **timing: float
    ):
        super().__init__(**timing)
        url = make_url(database_url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self.application_name = application_name

    def _deliver(self, handler: H, payload: str) -> None:
        raise NotImplementedError

    def _listen(self, handler: H) -> Iterator[None]:
        import psycopg

        with psycopg.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=5,
            application_name=self.application_name,
            # A peer that vanishes without a FIN is noticed in seconds, not hours.
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
        ) as conn:
            conn.execute(f"LISTEN {self.channel}")
            handler.channel_up()
            yield
            quiet = 0.0
            while not self.stopping:
                received = False
                for notify in conn.notifies(timeout=self.poll_seconds):
                    received = True
                    self._deliver(handler, notify.payload)
                quiet = 0.0 if received else quiet + self.poll_seconds
                if quiet >= self.heartbeat_seconds:
                    # notifies() only waits; a query proves the connection still answers.
                    conn.execute("SELECT 1")
                    quiet = 0.0


class PostgresPushListener(_PostgresListener[PushHandler]):
    """Token-version announcements from PostgreSQL's LISTEN/NOTIFY."""

    name = "token-version postgres-listener"
    channel = PG_CHANNEL

    def _deliver(self, handler: PushHandler, payload: str) -> None:
        decoded = decode_announcement(payload)
        if decoded is None:
            logger.warning("ignored a malformed token-version announcement")
            return
        handler.version_changed(decoded.user_id, decoded.version)


class PostgresKeyListener(_PostgresListener[KeyChangeHandler]):
    """Signing-key announcements from PostgreSQL's LISTEN/NOTIFY."""

    name = "signing-key postgres-listener"
    channel = PG_KEY_CHANNEL

    def _deliver(self, handler: KeyChangeHandler, payload: str) -> None:
        decoded = decode_key_change(payload)
        if decoded is None:
            logger.warning("ignored a malformed signing-key announcement")
            return
        handler.keys_changed(*decoded)


class _Sequence:
    """Which announcements of our Redis database a listener has seen, to notice a lost one."""

    def __init__(self, db: int, counter: int):
        self.db = db
        self.seen = counter
        # What the counter said at the previous check: those messages must have arrived by now.
        self.expected = counter

    def accept(self, sequence: tuple[int, int] | None) -> bool:
        """Note a message's number; False when numbers before it went missing."""
        if sequence is None or sequence[0] != self.db:
            # Unnumbered (an older publisher) or another database's deployment: nothing to track.
            return True
        number = sequence[1]
        if number <= self.seen:
            return True  # published before we read the counter, or repeated by a retry
        complete = number == self.seen + 1
        self.seen = number
        return complete

    def check(self, counter: int) -> bool:
        """Compare with the counter; False when a number it passed never arrived (or it reset)."""
        # A number that the counter had passed at the previous check has had a whole check
        # interval to arrive; a counter below what we saw means the database was emptied.
        complete = self.seen >= self.expected and counter >= self.seen
        self.expected = counter
        return complete


class RedisPushListener(_ListenerThread[PushHandler]):
    """SUBSCRIBE on Redis with redis-py's pubsub, in a thread; notices lost announcements."""

    name = "token-version redis-listener"

    def __init__(
        self,
        redis_url: str,
        *,
        client_name: str = "authsvc-verifier",
        sequence_check_seconds: float = 0.5,
        **timing: float,
    ):
        super().__init__(**timing)
        self._redis_url = redis_url
        self.client_name = client_name
        self.sequence_check_seconds = sequence_check_seconds
        self.gaps = 0

    def _listen(self, handler: PushHandler) -> Iterator[None]:
        import redis

        client = redis.Redis.from_url(
            self._redis_url,
            socket_connect_timeout=5,
            socket_timeout=5,
            socket_keepalive=True,
            # get_message() pings the server this often, so a dead link raises promptly.
            health_check_interval=self.heartbeat_seconds,
            client_name=self.client_name,
        )
        pubsub = client.pubsub()  # type: ignore[no-untyped-call]
        sequence: _Sequence | None = None
        next_check = 0.0
        try:
            pubsub.subscribe(REDIS_CHANNEL)
            while not self.stopping:
                message = pubsub.get_message(timeout=self.poll_seconds)
                if message is not None and message["type"] == "subscribe":
                    # Read after subscribing: every number above it reaches us.
                    sequence = _Sequence(_db_of(client), _counter(client))
                    next_check = time.monotonic() + self.sequence_check_seconds
                    handler.channel_up()
                    yield
                elif message is not None and message["type"] == "message":
                    sequence = self._deliver(handler, client, sequence, message["data"])
                if sequence is not None and time.monotonic() >= next_check:
                    counter = _counter(client)
                    # What has arrived already counts before the comparison, however far behind
                    # this thread has fallen on a busy machine.
                    while (queued := pubsub.get_message(timeout=0)) is not None:
                        if queued["type"] == "message":
                            sequence = self._deliver(handler, client, sequence, queued["data"])
                    if sequence is not None and not sequence.check(counter):
                        sequence = self._gap(handler, client)
                    next_check = time.monotonic() + self.sequence_check_seconds
        finally:
            pubsub.close()
            client.close()

    def _deliver(
        self, handler: PushHandler, client: redis.Redis, sequence: _Sequence | None, data: bytes
    ) -> _Sequence | None:
        decoded = decode_announcement(data)
        if decoded is None:
            logger.warning("ignored a malformed token-version announcement")
            return sequence
        # A gap drops the cache before this version is applied: otherwise, for a moment, this
        # user would be refused while the lost announcement's user was still trusted.
        if sequence is not None and not sequence.accept(decoded.sequence):
            sequence = self._gap(handler, client)
        handler.version_changed(decoded.user_id, decoded.version)
        return sequence

    def _gap(self, handler: PushHandler, client: redis.Redis) -> _Sequence:
        """An announcement was lost: whatever was cached may be stale, so it is dropped."""
        self.gaps += 1
        logger.warning("a token-version announcement was lost; dropping what was cached")
        handler.channel_down()
        sequence = _Sequence(_db_of(client), _counter(client))
        handler.channel_up()
        return sequence


def _db_of(client: redis.Redis) -> int:
    return int(client.connection_pool.connection_kwargs.get("db", 0))


def _counter(client: redis.Redis) -> int:
    value = client.get(REDIS_SEQUENCE_KEY)
    return int(value) if isinstance(value, bytes | str | int) else 0


class SqliteKeyWatcher(_ListenerThread[KeyChangeHandler]):
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


def key_change_listener(database_url: str, *, name: str) -> KeyChangeListener | None:
    """The channel that tells an instance of key changes on this database, if it has one."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "postgresql":
        return PostgresKeyListener(database_url, application_name=name, poll_seconds=0.1)
    if backend == "sqlite" and url.database not in (None, "", ":memory:"):
        return SqliteKeyWatcher(str(url.database))
    return None
