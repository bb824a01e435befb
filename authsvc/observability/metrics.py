"""Prometheus metrics: one registry per running app, never the process-global default one.

With several worker processes (AUTHSVC_WORKERS > 1) prometheus-client's multiprocess mode is on:
`authsvc serve` names a directory in PROMETHEUS_MULTIPROC_DIR before the workers start, counters
and histograms are written there by every worker, and a scrape answered by any worker reads them
all. What a process reads live at scrape time (its connection pool, its token-version cache) is
copied every second into gauges summed over the live workers; what every process sees alike
(the signing keys in the database) is read by the worker that answers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.pool import QueuePool

from authsvc.errors import (
    BadRequest,
    CsrfFailed,
    InvalidCredentials,
    InvalidRefreshToken,
    PayloadTooLarge,
    RefreshTokenReused,
    ServiceUnavailable,
    SessionActive,
    SessionExpired,
    TooManyAttempts,
    UnsupportedMediaType,
)

logger = logging.getLogger("authsvc.metrics")

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
# How often a worker copies its live state into the shared gauges.
MIRROR_INTERVAL_SECONDS = 1.0

# Outcome series that exist from the start: success and every error code the endpoint answers
# (its body's, the CSRF and size refusals, its own, and fail-closed 503).
LOGIN_OUTCOMES = (
    "success",
    BadRequest.code,
    UnsupportedMediaType.code,
    PayloadTooLarge.code,
    CsrfFailed.code,
    InvalidCredentials.code,
    SessionActive.code,
    TooManyAttempts.code,
    ServiceUnavailable.code,
)
REFRESH_OUTCOMES = (
    "success",
    InvalidRefreshToken.code,
    SessionExpired.code,
    RefreshTokenReused.code,
    CsrfFailed.code,
    ServiceUnavailable.code,
)
VALIDATION_RESULTS = (
    "valid",
    "missing",
    "invalid_token",
    "token_expired",
    "token_revoked",
)
# Why an instance reloads its signing keys (authsvc.keys.refresh.KeyRingHolder).
KEY_RELOAD_REASONS = ("scheduled", "announced", "channel_lost", "unknown_kid")
# Methods that get a label of their own; any other a client invents is "other", so that no
# request, authenticated or not, can add series (and memory) to /metrics. Routes are bounded
# already: a request that matches none is labelled "unmatched".
LABELLED_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Endpoints whose outcome is a metric of its own; the label is the error code. Matched on the
# request's path, so that refusals answered before routing (CSRF, body size) count too.
_OUTCOME_PATHS = {("POST", "/login"): "logins", ("POST", "/refresh"): "refreshes"}


class Metrics:
    """The service's counters and histograms, and the collectors that read live state."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = multiprocess_mode()
        self._mirror = ProcessMirror()
        self._shared = CollectorRegistry()
        if self.multiprocess:
            multiprocess.MultiProcessCollector(self._shared)  # type: ignore[no-untyped-call]
        self._watched: list[tuple[CollectorRegistry, Collector]] = []
        self.request_duration = Histogram(
            "authsvc_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        # The series of each (method, route, status) once looked up: `labels()` validates and
        # locks on every call. Bounded like the labels themselves (fixed methods, known routes).
        self._duration_series: dict[tuple[str, str, int], Histogram] = {}
        self.logins = Counter(
            "authsvc_logins", "Login attempts by outcome.", ["outcome"], registry=self.registry
        )
        self.refreshes = Counter(
            "authsvc_refreshes", "Refresh attempts by outcome.", ["outcome"], registry=self.registry
        )
        self.token_validations = Counter(
            "authsvc_token_validations",
            "Access-token checks (signature, claims and token version) by result.",
            ["result"],
            registry=self.registry,
        )
        self.revocations = Counter(
            "authsvc_revocations",
            "Revocations: one session ended, or every token of a user (token-version bump).",
            ["kind"],
            registry=self.registry,
        )
        self.throttled = Counter(
            "authsvc_throttled_requests",
            "Requests refused with 429 by a rate limit.",
            ["route"],
            registry=self.registry,
        )
        self.key_ring_reloads = Counter(
            "authsvc_signing_key_reloads",
            "Reloads of this instance's signing keys from the database, by reason (scheduled, "
            "announced: a key change was announced, channel_lost: none can be, unknown_kid: a "
            "token named a key the ring did not hold) and outcome (ok, failed).",
            ["reason", "outcome"],
            registry=self.registry,
        )
        # Zero-valued series from the start, so rate() and alerts work before the first event.
        for reason in KEY_RELOAD_REASONS:
            for outcome in ("ok", "failed"):
                self.key_ring_reloads.labels(reason, outcome)
        for outcome in LOGIN_OUTCOMES:
            self.logins.labels(outcome)
        for outcome in REFRESH_OUTCOMES:
            self.refreshes.labels(outcome)
        for result in VALIDATION_RESULTS:
            self.token_validations.labels(result)
        for kind in ("session", "token_version"):
            self.revocations.labels(kind)

    def key_ring_reloaded(self, reason: str, succeeded: bool) -> None:
        self.key_ring_reloads.labels(reason, "ok" if succeeded else "failed").inc()

    def observe_request(
        self,
        method: str,
        route: str,
        path: str,
        status: int,
        seconds: float,
        error_code: str | None,
    ) -> None:
        label = method if method in LABELLED_METHODS else "other"
        key = (label, route, status)
        series = self._duration_series.get(key)
        if series is None:
            series = self.request_duration.labels(label, route, str(status))
            self._duration_series[key] = series
        series.observe(seconds)
        counter_name = _OUTCOME_PATHS.get((method, path))
        if counter_name is not None:
            outcome = "success" if status < 400 else (error_code or f"http_{status}")
            counter: Counter = getattr(self, counter_name)
            counter.labels(outcome).inc()
        if status == 429:
            self.throttled.labels(route).inc()

    def expect_throttled(self, route: str) -> None:
        """A zero-valued 429 series for a throttled route, before its first refusal."""
        self.throttled.labels(route)

    def validated(self, result: str) -> None:
        self.token_validations.labels(result).inc()

    def revoked(self, kind: str) -> None:
        self.revocations.labels(kind).inc()

    def watch_process(self, collector: Collector) -> None:
        """Live state of this process: summed over the workers when there are several."""
        if self.multiprocess:
            self._mirror.collectors.append(collector)
        else:
            self._register(self.registry, collector)

    def watch_shared(self, collector: Collector) -> None:
        """State every process sees alike (the database): read by the process that answers."""
        self._register(self._shared if self.multiprocess else self.registry, collector)

    def _register(self, registry: CollectorRegistry, collector: Collector) -> None:
        registry.register(collector)
        self._watched.append((registry, collector))

    def exposition(self) -> bytes:
        """The Prometheus text of this instance: every worker's, when there are several."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        self._mirror.sync()
        return generate_latest(self._shared)

    async def mirror_periodically(self) -> None:
        """Background task (multiprocess mode): keep this worker's share of the gauges fresh."""
        while True:
            try:
                self._mirror.sync()
            except Exception:
                logger.exception("metrics: copying this worker's live state failed")
            await asyncio.sleep(MIRROR_INTERVAL_SECONDS)

    def close(self) -> None:
        for registry, collector in self._watched:
            registry.unregister(collector)
        self._watched.clear()
        self._mirror.collectors.clear()
        if self.multiprocess:
            # This worker's live gauges leave the sums; its counts stay in them.
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class ProcessMirror:
    """Copies live collectors into multiprocess gauges, summed over the live workers."""

    def __init__(self) -> None:
        self.collectors: list[Collector] = []
        self._gauges: dict[str, Gauge] = {}

    def sync(self) -> None:
        for collector in list(self.collectors):
            for family in collector.collect():
                for sample in family.samples:
                    gauge = self._gauge(sample.name, family.documentation, tuple(sample.labels))
                    (gauge.labels(**sample.labels) if sample.labels else gauge).set(sample.value)

    def _gauge(self, name: str, documentation: str, labels: tuple[str, ...]) -> Gauge:
        gauge = self._gauges.get(name)
        if gauge is None:
            # Not registered anywhere: the multiprocess collector reads it from its file.
            gauge = Gauge(name, documentation, labels, registry=None, multiprocess_mode="livesum")
            self._gauges[name] = gauge
        return gauge


def multiprocess_mode() -> bool:
    """Whether metric values live in files shared by the workers; prometheus-client decided it
    when first imported, from PROMETHEUS_MULTIPROC_DIR."""
    return values.ValueClass is not values.MutexValue


@contextmanager
def multiprocess_directory() -> Iterator[Path]:
    """A clean PROMETHEUS_MULTIPROC_DIR for the workers about to start (the given one, emptied
    of earlier runs' files, or a temporary one removed afterwards)."""
    given = os.environ.get(MULTIPROCESS_DIR_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        yield directory
        return
    directory = Path(tempfile.mkdtemp(prefix="authsvc-metrics-"))
    os.environ[MULTIPROCESS_DIR_ENV] = str(directory)
    try:
        yield directory
    finally:
        del os.environ[MULTIPROCESS_DIR_ENV]
        shutil.rmtree(directory, ignore_errors=True)


class PoolCollector(Collector):
    """Reads the connection pool at scrape time."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def describe(self) -> Iterable[GaugeMetricFamily]:
        # The families are the same at every scrape; nothing to announce ahead.
        return []

    def collect(self) -> Iterable[GaugeMetricFamily]:
        pool = self.engine.pool
        if not isinstance(pool, QueuePool):
            return
        size = GaugeMetricFamily("authsvc_db_pool_size", "Configured connection pool size.")
        size.add_metric([], pool.size())
        connections = GaugeMetricFamily(
            "authsvc_db_pool_connections", "Pooled database connections by state.", labels=["state"]
        )
        connections.add_metric(["checked_out"], pool.checkedout())
        connections.add_metric(["idle"], pool.checkedin())
        connections.add_metric(["overflow"], max(pool.overflow(), 0))
        yield size
        yield connections
