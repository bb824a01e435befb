"""Announce token-version bumps to downstream caches (the protocol is in authsvc.verify.push).

PostgreSQL: NOTIFY inside the bumping transaction, delivered exactly when it commits.
Redis: PUBLISH after the commit, from a session `after_commit` hook; the bumps of a transaction
that rolls back are dropped unannounced.
"""

from __future__ import annotations

import logging

import redis
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from authsvc.revocation.push import PG_CHANNEL, REDIS_CHANNEL, encode_payload

logger = logging.getLogger("authsvc")

_PENDING = "authsvc_pending_token_versions"


def announce_token_version(db: Session, user_id: str, version: int) -> None:
    """Called in the bumping transaction; every path that changes token_version goes here."""
    payload = encode_payload(user_id, version)
    if db.get_bind().dialect.name == "postgresql":
        db.execute(select(func.pg_notify(PG_CHANNEL, payload)))
    db.info.setdefault(_PENDING, []).append(payload)


class RedisVersionPublisher:
    """Publishes a session's announced bumps on Redis once its transaction has committed."""

    def __init__(self, redis_url: str):
        self._client = redis.Redis.from_url(
            redis_url, socket_connect_timeout=2, socket_timeout=2, retry_on_timeout=True
        )
        self.published = 0

    def attach(self, session_factory: sessionmaker[Session]) -> None:
        event.listen(session_factory, "after_commit", self._after_commit)
        event.listen(session_factory, "after_rollback", self._after_rollback)

    def _after_commit(self, db: Session) -> None:
        for payload in db.info.pop(_PENDING, []):
            try:
                self._client.publish(REDIS_CHANNEL, payload)
                self.published += 1
            except redis.RedisError as exc:
                # The bump stands (it is committed); caches listening on Redis miss it, so an
                # operator must know. PostgreSQL's NOTIFY has no such gap.
                logger.error("could not publish a token-version bump: %s", type(exc).__name__)  # noqa: TRY400

    def _after_rollback(self, db: Session) -> None:
        db.info.pop(_PENDING, None)

    def close(self) -> None:
        self._client.close()


def attach_version_publisher(
    redis_url: str | None, session_factory: sessionmaker[Session]
) -> RedisVersionPublisher | None:
    """Wire Redis publication into a session factory when AUTHSVC_REDIS_URL is set."""
    if redis_url is None:
        return None
    publisher = RedisVersionPublisher(redis_url)
    publisher.attach(session_factory)
    return publisher
