"""Announce token-version bumps and signing-key changes (the protocol is in revocation.channels).

PostgreSQL: NOTIFY inside the changing transaction, delivered exactly when it commits.
Redis: PUBLISH after the commit, from a session `after_commit` hook; what a transaction that
rolls back announced is dropped unannounced. A token-version announcement is numbered by the
same script that publishes it, and one that cannot be published still takes its number, so
every listener sees the gap and drops what it cached.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol

import redis
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from authsvc.revocation.channels.protocol import (
    PG_CHANNEL,
    PG_KEY_CHANNEL,
    REDIS_CHANNEL,
    REDIS_KEY_CHANNEL,
    REDIS_SEQUENCE_KEY,
    encode_key_change,
    encode_payload,
)
from authsvc.revocation.session_ends import encode_session_end

logger = logging.getLogger("authsvc")

_PENDING = "authsvc_pending_announcements"
# The bumps of a transaction, for this process's own cache once it commits.
_OWN_BUMPS = "authsvc_own_token_version_bumps"

# Numbered and published in one step, so that numbers reach listeners in order and none is
# skipped unless the publisher skips it on purpose.
_PUBLISH_NUMBERED = """
local number = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. ARGV[3] .. ':' .. number)
return number
"""
# A lost announcement is owed to the listeners as a gap for this long at most; after it, every
# cache has re-read what it held (AUTHSVC_TOKEN_VERSION_CACHE_MAX_AGE_SECONDS is at most this).
_GAP_RETRY_SECONDS = 3600.0
_GAP_RETRY_INTERVAL = 0.5
# How long a command or a stopping server keeps trying to settle what it owes, by default.
SETTLE_SECONDS = 10.0


def announce_token_version(db: Session, user_id: str, version: int) -> None:
    """Called in the bumping transaction; every path that changes token_version goes here."""
    payload = encode_payload(user_id, version)
    _announce(db, PG_CHANNEL, REDIS_CHANNEL, payload)
    db.info.setdefault(_OWN_BUMPS, []).append((user_id, version))


def announce_session_end(db: Session, session_id: str) -> None:
    """Called in the transaction that ends a session: its access tokens are refused everywhere.

    On the token-version channels (`revocation.session_ends`), so it is numbered on Redis, and
    handed to this process's own cache at commit like a bump.
    """
    payload = encode_session_end(session_id)
    _announce(db, PG_CHANNEL, REDIS_CHANNEL, payload)
    user_id, version = payload.split(" ")
    db.info.setdefault(_OWN_BUMPS, []).append((user_id, int(version)))


def announce_key_change(db: Session, kid: str, state: str) -> None:
    """Called in the transaction that changes a signing key's state."""
    _announce(db, PG_KEY_CHANNEL, REDIS_KEY_CHANNEL, encode_key_change(kid, state))


def _announce(db: Session, pg_channel: str, redis_channel: str, payload: str) -> None:
    if db.get_bind().dialect.name == "postgresql":
        db.execute(select(func.pg_notify(pg_channel, payload)))
    db.info.setdefault(_PENDING, []).append((redis_channel, payload))


class RedisVersionPublisher:
    """Publishes a session's announcements on Redis once its transaction has committed.

    What cannot be published is owed: a token-version announcement as a gap in the sequence
    (one INCR settles every one owed, since listeners then drop what they cached), a key change
    as itself. A thread keeps trying; a process about to exit calls `settle` to try for a
    bounded time and learn what is still owed.
    """

    def __init__(self, redis_url: str):
        self._client = redis.Redis.from_url(
            redis_url, socket_connect_timeout=2, socket_timeout=2, retry_on_timeout=True
        )
        self._db = int(self._client.connection_pool.connection_kwargs.get("db", 0))
        self._publish_numbered = self._client.register_script(_PUBLISH_NUMBERED)
        self._closed = threading.Event()
        # (channel, payload) of every announcement that neither reached Redis nor was settled.
        self._owed: list[tuple[str, str]] = []
        self._owed_lock = threading.Lock()
        self._retrying = threading.Lock()
        self.published = 0

    def attach(self, session_factory: sessionmaker[Session]) -> None:
        event.listen(session_factory, "after_commit", self._after_commit)
        event.listen(session_factory, "after_rollback", self._after_rollback)

    def _after_commit(self, db: Session) -> None:
        for channel, payload in db.info.pop(_PENDING, []):
            try:
                if channel == REDIS_CHANNEL:
                    self._publish_numbered(
                        keys=[REDIS_SEQUENCE_KEY], args=[channel, payload, self._db]
                    )
                else:
                    self._client.publish(channel, payload)
                self.published += 1
            except redis.RedisError as exc:
                # The change stands (it is committed); listeners on Redis miss it, so an operator
                # must know, and the listeners must be told that they missed something.
                logger.error("could not publish on %s: %s", channel, type(exc).__name__)  # noqa: TRY400
                self._owe(channel, payload)

    def _after_rollback(self, db: Session) -> None:
        db.info.pop(_PENDING, None)

    def _owe(self, channel: str, payload: str) -> None:
        """Settle now if Redis answers, else keep trying in a thread while it cannot be reached."""
        with self._owed_lock:
            self._owed.append((channel, payload))
        if self._settle_once():
            return
        # One retrying thread at a time; it settles whatever is owed when it succeeds.
        if self._retrying.acquire(blocking=False):
            threading.Thread(target=self._retry, name="authsvc-gap", daemon=True).start()

    def _retry(self) -> None:
        try:
            waited = 0.0
            while waited < _GAP_RETRY_SECONDS and not self._closed.wait(_GAP_RETRY_INTERVAL):
                waited += _GAP_RETRY_INTERVAL
                if self._settle_once():
                    return
        finally:
            self._retrying.release()

    def _settle_once(self) -> bool:
        """One attempt at everything owed; True when nothing is owed any more."""
        with self._owed_lock:
            owed = list(self._owed)
            if not owed:
                return True
            try:
                if any(channel == REDIS_CHANNEL for channel, _ in owed):
                    self._client.incr(REDIS_SEQUENCE_KEY)
                    logger.warning(
                        "announced a gap in the token-version sequence after a lost announcement"
                    )
                    owed = [entry for entry in owed if entry[0] != REDIS_CHANNEL]
                while owed:
                    self._client.publish(*owed[0])
                    owed.pop(0)
            except redis.RedisError:
                return False
            finally:
                self._owed = owed
            return True

    def settle(self, timeout: float = SETTLE_SECONDS) -> list[str]:
        """Try for up to `timeout` seconds to settle what is owed; what remains, described."""
        deadline = time.monotonic() + timeout
        while not self._settle_once():
            if time.monotonic() >= deadline:
                break
            time.sleep(min(_GAP_RETRY_INTERVAL, max(0.0, deadline - time.monotonic())))
        with self._owed_lock:
            return [_describe(channel, payload) for channel, payload in self._owed]

    def close(self) -> None:
        self._closed.set()
        self._client.close()


def _describe(channel: str, payload: str) -> str:
    if channel == REDIS_CHANNEL:
        return f"user {payload.partition(' ')[0]} (token version)"
    return f"signing key {payload.partition(' ')[0]}"


class VersionChangeHandler(Protocol):
    def version_changed(self, user_id: str, version: int) -> None: ...


class Bumpable(Protocol):
    def bump(self) -> None: ...


def apply_own_bumps(
    session_factory: sessionmaker[Session],
    cache: VersionChangeHandler,
    siblings: Bumpable | None = None,
) -> None:
    """Hand every committed bump of these sessions to `cache` before the commit returns.

    A push cache would otherwise learn its own instance's revocations only when the announcement
    comes back over the channel; this way the request after a revocation is refused however
    soon it follows. `siblings` (the counter shared by the workers of one server) is moved
    too, so the other workers forget what they cached before this answer is sent.
    """

    def after_commit(db: Session) -> None:
        bumps = db.info.pop(_OWN_BUMPS, [])
        for user_id, version in bumps:
            cache.version_changed(user_id, version)
        if bumps and siblings is not None:
            siblings.bump()

    def after_rollback(db: Session) -> None:
        db.info.pop(_OWN_BUMPS, None)

    event.listen(session_factory, "after_commit", after_commit)
    event.listen(session_factory, "after_rollback", after_rollback)


def attach_version_publisher(
    redis_url: str | None, session_factory: sessionmaker[Session]
) -> RedisVersionPublisher | None:
    """Wire Redis publication into a session factory when AUTHSVC_REDIS_URL is set."""
    if redis_url is None:
        return None
    publisher = RedisVersionPublisher(redis_url)
    publisher.attach(session_factory)
    return publisher
