"""The listener thread every channel runs in: subscribe, prove, deliver, report a loss, back off.

A subscription is not proof of delivery: LISTEN through a transaction-pooling PgBouncer succeeds
and never hears a notification, and a connection whose packets stop (a half-open TCP link, a
frozen middlebox) keeps looking idle. So a listener sends itself a probe every
`deaf_after_seconds / 4`, on a channel only it subscribes to, from another connection to the
same server, as any announcement would travel; it reports `channel_up` only once a probe has
come back, and drops the channel (`channel_down`, counted in `deaf`, logged) when none has come
back for `deaf_after_seconds`. The loop checks every `poll_seconds`, so a deaf channel is
untrusted within `deaf_after_seconds + poll_seconds` of its last proof.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from authsvc.errors import ChannelDeaf
from authsvc.revocation.channels.protocol import ChannelHandler, logger

DEFAULT_DEAF_AFTER_SECONDS = 4.0

H = TypeVar("H", bound=ChannelHandler)


class ListenerThread(Generic[H]):
    """Connect, subscribe, deliver; on any failure report the loss and retry with backoff."""

    name = "listener"

    def __init__(
        self,
        *,
        poll_seconds: float = 0.2,
        deaf_after_seconds: float = DEFAULT_DEAF_AFTER_SECONDS,
        backoff_initial: float = 0.1,
        backoff_max: float = 5.0,
    ):
        self.poll_seconds = poll_seconds
        self.deaf_after_seconds = deaf_after_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        # Times the channel was found subscribed but not delivering.
        self.deaf = 0
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
            except ChannelDeaf as exc:
                self.deaf += 1
                logger.warning("%s is deaf, untrusted until it proves itself: %s", self.name, exc)
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


class Proof:
    """A listener's probes to itself, sent from their own thread, and when one last came back.

    Sending runs apart from the listener's loop because a connection whose packets stop blocks
    whoever writes to it; the loop only compares times, so it notices the silence in time.
    """

    def __init__(
        self,
        channel: str,
        send: Callable[[str], None],
        *,
        deaf_after_seconds: float,
        name: str,
        close: Callable[[], None] = lambda: None,
    ):
        self.channel = channel
        self.deaf_after_seconds = deaf_after_seconds
        self.proven = False
        self._send = send
        self._close = close
        self._since = time.monotonic()
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._probe, name=f"authsvc-{name}-probe", daemon=True
        )

    @staticmethod
    def channel_name(prefix: str) -> str:
        """A channel no other listener subscribes to."""
        return f"{prefix}{uuid.uuid4().hex}"

    def __enter__(self) -> Proof:
        self._since = time.monotonic()
        return self

    def start(self) -> None:
        """Start probing, once the listener is subscribed to `channel`, so no probe is missed."""
        if not self._thread.is_alive() and not self._done.is_set():
            self._thread.start()

    def __exit__(self, *_exc: object) -> None:
        # Not joined: a probe stuck on a frozen connection must not hold the listener up; the
        # thread ends as soon as its send returns or fails.
        self._done.set()
        if self._thread.ident is None:
            self._close()

    def arrived(self) -> None:
        """One of our probes came back: the channel delivers."""
        self.proven = True
        self._since = time.monotonic()

    def check(self) -> None:
        """Raise ChannelDeaf when no probe came back for `deaf_after_seconds`."""
        silent = time.monotonic() - self._since
        if silent > self.deaf_after_seconds:
            raise ChannelDeaf(
                f"no probe came back for {silent:.1f} s (bound {self.deaf_after_seconds:g} s)"
            )

    def _probe(self) -> None:
        interval = self.deaf_after_seconds / 4
        try:
            while not self._done.is_set():
                try:
                    self._send(self.channel)
                except Exception as exc:  # the listener's loop notices the silence
                    logger.debug("a channel probe failed: %s", type(exc).__name__)
                if self._done.wait(interval):
                    break
        finally:
            self._close()
