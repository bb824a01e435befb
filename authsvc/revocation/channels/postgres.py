"""PostgreSQL's channels: token-version and signing-key announcements over LISTEN/NOTIFY."""

from __future__ import annotations

from collections.abc import Iterator

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
from authsvc.revocation.channels.thread import H, ListenerThread


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
