"""PostgreSQL's channels: token-version and signing-key announcements over LISTEN/NOTIFY."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from authsvc.revocation.channels.protocol import (
    PG_CHANNEL,
    PG_KEY_CHANNEL,
    KeyChangeHandler,
    PushHandler,
    decode_announcement,
    decode_key_change,
    logger,
)
from authsvc.revocation.channels.thread import H, ListenerThread, Proof

if TYPE_CHECKING:
    import psycopg

# Names the connection that sends a listener its probes, so operators can tell it apart.
PROBE_APPLICATION_NAME = "authsvc-channel-probe"


class _PostgresListener(ListenerThread[H]):
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

    def _connect(self, application_name: str) -> psycopg.Connection[tuple[object, ...]]:
        import psycopg

        return psycopg.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=5,
            application_name=application_name,
            # A peer that vanishes without a FIN is noticed in seconds, not hours: keepalives
            # while idle, and a bound on data left unacknowledged (milliseconds).
            keepalives=1,
            keepalives_idle=2,
            keepalives_interval=1,
            keepalives_count=2,
            tcp_user_timeout=int(self.deaf_after_seconds * 1000),
        )

    def _proof(self) -> Proof:
        """Probes sent with pg_notify from a second connection, as another instance would.

        Not from the listening connection itself: through a pooler its NOTIFY may run on the
        very server connection that holds the LISTEN, and come back although nothing else would.
        """
        held: list[psycopg.Connection[tuple[object, ...]]] = []

        def send(channel: str) -> None:
            if not held:
                held.append(self._connect(PROBE_APPLICATION_NAME))
            try:
                held[0].execute("SELECT pg_notify(%s, '')", (channel,))
            except Exception:
                held.pop().close()
                raise

        def close() -> None:
            for connection in held:
                connection.close()

        return Proof(
            Proof.channel_name("authsvc_probe_"),
            send,
            close=close,
            deaf_after_seconds=self.deaf_after_seconds,
            name=self.name.replace(" ", "-"),
        )

    def _listen(self, handler: H) -> Iterator[None]:
        with self._connect(self.application_name) as conn, self._proof() as proof:
            conn.execute(f"LISTEN {self.channel}")
            conn.execute(f"LISTEN {proof.channel}")
            proof.start()
            up = False
            while not self.stopping:
                for notify in conn.notifies(timeout=self.poll_seconds):
                    if notify.channel == proof.channel:
                        proof.arrived()
                    else:
                        self._deliver(handler, notify.payload)
                if proof.proven and not up:
                    up = True
                    handler.channel_up()
                    yield
                proof.check()


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
