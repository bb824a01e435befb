"""The outbox: mail is prepared and sent by a background thread, off the request path.

A request hands over a `Prepare` callable and returns at once, so the requester neither waits
for the relay nor learns anything from how it answered. The thread runs it (it reads and writes
the database in its own transaction and returns the message, or None when there is nothing to
send), then sends; a send the relay refuses for now (a connection failure, a 4xx answer) is
retried with a doubling delay, a permanent refusal (5xx) is not. Every outcome is logged,
without the message, its recipient or its link.

Mail waiting in memory is lost when the process stops: a user asks again for a new link, which
makes the lost one worthless anyway.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import smtplib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from authsvc.mail.smtp import SmtpRelay

logger = logging.getLogger("authsvc.mail")

Prepare = Callable[[], EmailMessage | None]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    first_delay: float = 5.0
    max_delay: float = 600.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failed attempt."""
        return float(min(self.first_delay * 2 ** (failures - 1), self.max_delay))


@dataclass(order=True)
class _Delivery:
    due: float
    sequence: int
    kind: str = field(compare=False)
    prepare: Prepare = field(compare=False)
    message: EmailMessage | None = field(default=None, compare=False)
    failures: int = field(default=0, compare=False)


def _permanent(error: Exception) -> bool:
    """A refusal that a retry cannot change: a 5xx answer, or no STARTTLS on offer."""
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return True
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):
        return error.smtp_code >= 500
    return False


class Outbox:
    """One background thread that prepares and sends the mail handed to it, retrying sends."""

    def __init__(
        self,
        relay: SmtpRelay,
        retry: RetryPolicy | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.relay = relay
        self.retry = retry or RetryPolicy()
        self._monotonic = monotonic
        self._queue: list[_Delivery] = []
        self._sequence = itertools.count()
        self._condition = threading.Condition()
        self._busy = 0
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="authsvc-mail", daemon=True)
        self.sent = 0
        self.retried = 0
        self.failed = 0

    def start(self) -> None:
        self._thread.start()

    def submit(self, kind: str, prepare: Prepare) -> None:
        """Queue a mail; returns at once, whatever becomes of it."""
        with self._condition:
            if self._closing:
                logger.error("mail %s not sent: the service is stopping", kind)
                return
            delivery = _Delivery(self._monotonic(), next(self._sequence), kind, prepare)
            heapq.heappush(self._queue, delivery)
            self._condition.notify_all()

    @property
    def pending(self) -> int:
        with self._condition:
            return len(self._queue) + self._busy

    def wait_idle(self, timeout: float) -> bool:
        """Whether everything handed over was sent or given up within `timeout` seconds."""
        with self._condition:
            return self._condition.wait_for(lambda: not self._queue and not self._busy, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Send what is due now (for at most `timeout` seconds); waiting retries are given up."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._condition:
            left = len(self._queue) + self._busy
        if left:
            logger.error("%d mails not sent: the service stopped before they could be", left)

    def _run(self) -> None:
        while (delivery := self._next()) is not None:
            try:
                self._deliver(delivery)
            finally:
                with self._condition:
                    self._busy -= 1
                    self._condition.notify_all()

    def _next(self) -> _Delivery | None:
        with self._condition:
            while True:
                now = self._monotonic()
                if self._queue and self._queue[0].due <= now:
                    self._busy += 1
                    return heapq.heappop(self._queue)
                if self._closing:
                    return None
                wait = self._queue[0].due - now if self._queue else None
                self._condition.wait(wait)

    def _deliver(self, delivery: _Delivery) -> None:
        try:
            if delivery.message is None:
                delivery.message = delivery.prepare()
                if delivery.message is None:
                    return
            self.relay.send(delivery.message)
        except Exception as exc:  # any failure is this mail's alone: log it, retry or give up
            self._failed(delivery, exc)
            return
        self.sent += 1
        logger.info(
            "mail %s sent via %s", delivery.kind, self.relay.name, extra=_ids(delivery.message)
        )

    def _failed(self, delivery: _Delivery, error: Exception) -> None:
        delivery.failures += 1
        reason = f"{type(error).__name__}: {_describe(error)}"
        # A relay's or the network's refusal is routine; anything else is a bug worth a trace.
        trace = None if isinstance(error, smtplib.SMTPException | OSError) else error
        if _permanent(error) or delivery.failures >= self.retry.attempts:
            self.failed += 1
            logger.error(
                "mail %s not sent after %d attempts via %s: %s",
                delivery.kind,
                delivery.failures,
                self.relay.name,
                reason,
                extra=_ids(delivery.message),
                exc_info=trace,
            )
            return
        delay = self.retry.delay(delivery.failures)
        self.retried += 1
        logger.warning(
            "mail %s not sent (attempt %d of %d) via %s, retrying in %.1f s: %s",
            delivery.kind,
            delivery.failures,
            self.retry.attempts,
            self.relay.name,
            delay,
            reason,
            extra=_ids(delivery.message),
            exc_info=trace,
        )
        with self._condition:
            delivery.due = self._monotonic() + delay
            heapq.heappush(self._queue, delivery)


def _ids(message: EmailMessage | None) -> dict[str, str]:
    """What ties a log line to the relay's own log: the Message-ID, never the recipient."""
    if message is None or message["Message-ID"] is None:
        return {}
    return {"message_id": str(message["Message-ID"])}


def _describe(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return f"{error.smtp_code} {text[:200]}"
    return str(error)[:200]


class OutboxCollector(Collector):
    """What the outbox did, at scrape time."""

    def __init__(self, outbox: Outbox):
        self.outbox = outbox

    def describe(self) -> Iterable[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterable[GaugeMetricFamily | CounterMetricFamily]:
        mails = CounterMetricFamily(
            "authsvc_mails",
            "Mail sends: sent, retried (a failed attempt that will be tried again), failed "
            "(given up).",
            labels=["outcome"],
        )
        mails.add_metric(["sent"], self.outbox.sent)
        mails.add_metric(["retried"], self.outbox.retried)
        mails.add_metric(["failed"], self.outbox.failed)
        yield mails
        pending = GaugeMetricFamily(
            "authsvc_mail_pending", "Mail waiting to be sent or retried in this process."
        )
        pending.add_metric([], self.outbox.pending)
        yield pending
