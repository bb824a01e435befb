"""The listener thread every channel runs in: subscribe, deliver, report a loss, back off."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

from authsvc.revocation.channels.protocol import ChannelHandler, logger

H = TypeVar("H", bound=ChannelHandler)


class ListenerThread(Generic[H]):
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
