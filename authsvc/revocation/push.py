"""The token-version push protocol: channel names, payload format, and the two listeners.

authsvc announces every token-version bump as `"<user_id> <token_version>"`:
* PostgreSQL: `pg_notify('authsvc_token_version', payload)` in the bumping transaction, so it is
  delivered exactly when (and only if) the bump commits;
* Redis: `PUBLISH authsvc:token_version payload` right after the commit.

A listener runs in a daemon thread, reports `channel_up` once it is subscribed, `version_changed`
for every announcement and `channel_down` the moment the connection fails, then reconnects with
exponential backoff. Anything that caches token versions must stop trusting itself between a
`channel_down` and the next `channel_up`: announcements made in that gap are lost.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Protocol

import psycopg
import redis
from sqlalchemy.engine import make_url

PG_CHANNEL = "authsvc_token_version"
REDIS_CHANNEL = "authsvc:token_version"
# A user id is a UUID and a version a small integer; anything longer is not ours.
_MAX_PAYLOAD = 128

logger = logging.getLogger("authsvc.verify.push")


def encode_payload(user_id: str, version: int) -> str:
    return f"{user_id} {version}"


def decode_payload(payload: str | bytes) -> tuple[str, int] | None:
    """The (user id, version) of an announcement, or None when it is malformed."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", errors="replace")
    if len(payload) > _MAX_PAYLOAD:
        return None
    user_id, _, version = payload.partition(" ")
    if not user_id or not version.isdigit():
        return None
    return user_id, int(version)


class PushHandler(Protocol):
    """Receives what a listener hears; called from the listener's thread."""

    def channel_up(self) -> None: ...

    def channel_down(self) -> None: ...

    def version_changed(self, user_id: str, version: int) -> None: ...


class PushListener(Protocol):
    def start(self, handler: PushHandler) -> None: ...

    def stop(self) -> None: ...


class _ListenerThread:
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

    def start(self, handler: PushHandler) -> None:
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

    def _run(self, handler: PushHandler) -> None:
        delay = self.backoff_initial
        while not self._stop.is_set():
            subscribed = False
            try:
                for _ in self._listen(handler):
                    subscribed = True
            except Exception as exc:  # any failure of the channel means the same: lost
                logger.warning("token-version %s lost: %s", self.name, type(exc).__name__)
            finally:
                handler.channel_down()
            if subscribed:
                delay = self.backoff_initial
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self.backoff_max)

    def _listen(self, handler: PushHandler) -> Iterator[None]:
        """Subscribe, yield once subscribed (so the backoff resets), deliver until stopped."""
        raise NotImplementedError


def _deliver(handler: PushHandler, payload: str | bytes) -> None:
    decoded = decode_payload(payload)
    if decoded is None:
        logger.warning("ignored a malformed token-version announcement")
        return
    handler.version_changed(*decoded)


class PostgresPushListener(_ListenerThread):
    """LISTEN on authsvc's PostgreSQL database with psycopg 3, in a thread."""

    name = "postgres-listener"

    def __init__(
        self, database_url: str, *, application_name: str = "authsvc-verifier", **timing: float
    ):
        super().__init__(**timing)
        url = make_url(database_url).set(drivername="postgresql")
        self._conninfo = url.render_as_string(hide_password=False)
        self.application_name = application_name

    def _listen(self, handler: PushHandler) -> Iterator[None]:
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
            conn.execute(f"LISTEN {PG_CHANNEL}")
            handler.channel_up()
            yield
            quiet = 0.0
            while not self.stopping:
                received = False
                for notify in conn.notifies(timeout=self.poll_seconds):
                    received = True
                    _deliver(handler, notify.payload)
                quiet = 0.0 if received else quiet + self.poll_seconds
                if quiet >= self.heartbeat_seconds:
                    # notifies() only waits; a query proves the connection still answers.
                    conn.execute("SELECT 1")
                    quiet = 0.0


class RedisPushListener(_ListenerThread):
    """SUBSCRIBE on Redis with redis-py's pubsub, in a thread."""

    name = "redis-listener"

    def __init__(self, redis_url: str, *, client_name: str = "authsvc-verifier", **timing: float):
        super().__init__(**timing)
        self._redis_url = redis_url
        self.client_name = client_name

    def _listen(self, handler: PushHandler) -> Iterator[None]:
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
        try:
            pubsub.subscribe(REDIS_CHANNEL)
            while not self.stopping:
                message = pubsub.get_message(timeout=self.poll_seconds)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    handler.channel_up()
                    yield
                elif message["type"] == "message":
                    _deliver(handler, message["data"])
        finally:
            pubsub.close()
            client.close()
