"""The access log: by default a line for refused requests only, every request or none as the
setting says, a duration that lies within what the caller waited (as does the latency series),
and an unexpected failure answered as internal_error with its request id, counted and logged."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from authsvc.app import create_app
from authsvc.config import Settings
from tests.helpers.asgi import state_per_request
from tests.helpers.clock import FakeClock
from tests.helpers.fixture_types import ClientFactory, MakeSettings
from tests.helpers.login import post_login
from tests.helpers.metrics import samples, scrape


async def test_by_default_only_refused_requests_get_an_access_line(
    client_factory: ClientFactory, make_settings: MakeSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="authsvc.access")
    async with client_factory(make_settings()) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/session")).status_code == 401
        page = await scrape(client)

    access = [
        (record.path, record.status, record.error)  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "authsvc.access"
    ]
    assert access == [("/session", 401, "not_authenticated")]
    # Counted all the same.
    histogram = "authsvc_http_request_duration_seconds_count"
    labels = {("method", "GET"), ("route", "/healthz"), ("status", "200")}
    assert page[(histogram, frozenset(labels))] == 1


@pytest.mark.parametrize(("setting", "logged"), [("all", ["/healthz", "/session"]), ("off", [])])
async def test_the_access_log_covers_what_the_setting_says(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    caplog: pytest.LogCaptureFixture,
    setting: str,
    logged: list[str],
) -> None:
    caplog.set_level(logging.INFO, logger="authsvc.access")
    async with client_factory(make_settings(access_log=setting)) as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/session")).status_code == 401

    paths = [record.path for record in caplog.records if record.name == "authsvc.access"]  # type: ignore[attr-defined]
    assert paths == logged


async def test_the_access_log_and_the_latency_series_time_the_request_itself(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What a request is said to have taken lies within what the caller waited for it."""
    caplog.set_level(logging.INFO, logger="authsvc.access")
    async with client_factory(make_settings(access_log="all")) as client:
        began = time.perf_counter()
        assert (await client.get("/session")).status_code == 401
        waited_ms = (time.perf_counter() - began) * 1000
        page = (await client.get("/metrics")).text

    [line] = [
        record
        for record in caplog.records
        if record.name == "authsvc.access" and record.path == "/session"  # type: ignore[attr-defined]
    ]
    assert 0 <= line.duration_ms <= waited_ms  # type: ignore[attr-defined]
    sums = [
        value
        for (name, labels), value in samples(page).items()
        if name.endswith("_seconds_sum") and ("route", "/session") in labels
    ]
    assert sums, "no latency series for GET /session"
    assert 0 <= sum(sums) <= waited_ms / 1000


class BrokenHasher:
    """A password hasher with a bug: every call raises."""

    def hash(self, password: str) -> str:
        raise RuntimeError("hasher bug")

    def verify(self, password: str, stored_hash: str) -> Any:
        raise RuntimeError("hasher bug")

    def verify_dummy(self, password: str) -> None:
        raise RuntimeError("hasher bug")


async def test_an_unexpected_failure_answers_internal_error_and_is_logged_so(
    settings: Settings, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="authsvc.access")
    app = create_app(settings, clock=clock, hasher=BrokenHasher())
    async with LifespanManager(state_per_request(app)) as manager:
        # As a server would: the exception is logged, the client gets an answer.
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://authsvc.test") as client:
            response = await post_login(client, headers={"X-Request-ID": "crash-1"})
            page = await scrape(client)

    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "detail": "Internal error."}
    # Like every other answer: the request id to match the logged traceback, the fixed headers.
    assert response.headers["x-request-id"] == "crash-1"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert page[("authsvc_logins_total", frozenset({("outcome", "internal_error")}))] == 1
    access = [
        (record.status, record.error)  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "authsvc.access" and record.path == "/login"  # type: ignore[attr-defined]
    ]
    assert access == [(500, "internal_error")]
