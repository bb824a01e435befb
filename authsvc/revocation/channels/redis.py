"""Redis's token-version channel: SUBSCRIBE, with a sequence that shows a lost announcement."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from authsvc.revocation.channels.protocol import (
    REDIS_CHANNEL,
    REDIS_SEQUENCE_KEY,
    PushHandler,
    decode_announcement,
    logger,
)
from authsvc.revocation.channels.thread import ListenerThread, Proof

if TYPE_CHECKING:
    import redis

# Names the connection that sends a listener its probes, so operators can tell it apart.
PROBE_CLIENT_NAME = "authsvc-channel-probe"


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


class RedisPushListener(ListenerThread[PushHandler]):
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

    def _client(self, client_name: str) -> redis.Redis:
        import redis

        return redis.Redis.from_url(
            self._redis_url,
            socket_connect_timeout=5,
            # A reply that does not come is given up on before the channel's deafness bound.
            socket_timeout=self.deaf_after_seconds,
            socket_keepalive=True,
            socket_keepalive_options=keepalive_options(self.deaf_after_seconds),
            # get_message() pings the server this often, so the link always carries traffic
            # whose missing acknowledgement TCP notices.
            health_check_interval=self.deaf_after_seconds / 4,
            client_name=client_name,
        )

    def _proof(self) -> Proof:
        """Probes published from a connection of their own, as any publisher would."""
        sender = self._client(PROBE_CLIENT_NAME)

        def send(channel: str) -> None:
            sender.publish(channel, b"")

        return Proof(
            Proof.channel_name("authsvc:probe:"),
            send,
            close=sender.close,
            deaf_after_seconds=self.deaf_after_seconds,
            name=self.name.replace(" ", "-"),
        )

    def _listen(self, handler: PushHandler) -> Iterator[None]:
        client = self._client(self.client_name)
        pubsub = client.pubsub()  # type: ignore[no-untyped-call]
        sequence: _Sequence | None = None
        next_check = 0.0
        try:
            with self._proof() as proof:
                pubsub.subscribe(proof.channel, REDIS_CHANNEL)
                while not self.stopping:
                    message = pubsub.get_message(timeout=self.poll_seconds)
                    if message is not None and message["type"] == "subscribe":
                        if _text(message["channel"]) == proof.channel:
                            proof.start()
                    elif message is not None and message["type"] == "message":
                        if _text(message["channel"]) == proof.channel:
                            proof.arrived()
                        else:
                            sequence = self._deliver(handler, client, sequence, message["data"])
                    if proof.proven and sequence is None:
                        # Read once both subscriptions answer: every number above it reaches us.
                        sequence = _Sequence(_db_of(client), _counter(client))
                        next_check = time.monotonic() + self.sequence_check_seconds
                        handler.channel_up()
                        yield
                    if sequence is not None and time.monotonic() >= next_check:
                        counter = _counter(client)
                        # What has arrived already counts before the comparison, however far
                        # behind this thread has fallen on a busy machine.
                        while (queued := pubsub.get_message(timeout=0)) is not None:
                            if queued["type"] != "message":
                                continue
                            if _text(queued["channel"]) == proof.channel:
                                proof.arrived()
                            else:
                                sequence = self._deliver(handler, client, sequence, queued["data"])
                        if sequence is not None and not sequence.check(counter):
                            sequence = self._gap(handler, client)
                        next_check = time.monotonic() + self.sequence_check_seconds
                    proof.check()
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


def keepalive_options(deaf_after_seconds: float) -> dict[int, int]:
    """TCP keepalive while idle, and a bound on unacknowledged data, where the system has them."""
    wanted = {
        "TCP_KEEPIDLE": 2,
        "TCP_KEEPINTVL": 1,
        "TCP_KEEPCNT": 2,
        "TCP_USER_TIMEOUT": int(deaf_after_seconds * 1000),
    }
    return {getattr(socket, name): value for name, value in wanted.items() if hasattr(socket, name)}


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value


def _db_of(client: redis.Redis) -> int:
    return int(client.connection_pool.connection_kwargs.get("db", 0))


def _counter(client: redis.Redis) -> int:
    value = client.get(REDIS_SEQUENCE_KEY)
    return int(value) if isinstance(value, bytes | str | int) else 0
