"""Prometheus metrics: one registry per running app, never the process-global default one."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
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
        self.request_duration = Histogram(
            "authsvc_http_request_duration_seconds",
            "Time from the request's arrival to the end of its response.",
            ["method", "route", "status"],
            registry=self.registry,
        )
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
        # Zero-valued series from the start, so rate() and alerts work before the first event.
        for outcome in LOGIN_OUTCOMES:
            self.logins.labels(outcome)
        for outcome in REFRESH_OUTCOMES:
            self.refreshes.labels(outcome)
        for result in VALIDATION_RESULTS:
            self.token_validations.labels(result)
        for kind in ("session", "token_version"):
            self.revocations.labels(kind)

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
        self.request_duration.labels(label, route, str(status)).observe(seconds)
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
