"""The counters of what the service decided, read from /metrics: logins, token validations,
revocations, refreshes and throttled requests, each under its outcome or error code. Every outcome
series an endpoint can send starts at zero, and refusals answered before the route runs (CSRF, an
oversized body) are counted under their codes as well, with their access lines."""

from __future__ import annotations

import logging

import httpx
import pytest

from authsvc.config import Settings
from authsvc.errors import AuthError
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, MakeUser
from tests.helpers.login import post_login
from tests.helpers.metrics import Page, scrape, value


def outcomes(page: Page, name: str) -> set[str]:
    """The `outcome` labels of every series of `name` on the page."""
    return {dict(labels)["outcome"] for series, labels in page if series == name}


def every_error_code() -> set[str]:
    classes: list[type[AuthError]] = [AuthError]
    for cls in classes:
        classes.extend(cls.__subclasses__())
    return {cls.code for cls in classes}


async def test_metrics_count_logins_validations_and_revocations(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    assert (await post_login(client, password="wrong password!")).status_code == 401
    assert (await post_login(client)).status_code == 200
    assert (await client.get("/session")).status_code == 200
    assert (await client.get("/session")).status_code == 200
    token = client.cookies["authsvc_at"]
    assert (await client.post("/logout", params={"everywhere": "true"})).status_code == 200
    revoked = await client.get("/session", headers={"Authorization": f"Bearer {token}"})
    assert revoked.status_code == 401
    assert (await client.get("/session")).status_code == 401  # cookie cleared: missing
    assert (await client.post("/login", json={"username": "alice"})).status_code == 400

    page = await scrape(client)
    assert value(page, "authsvc_logins_total", outcome="success") == 1
    assert value(page, "authsvc_logins_total", outcome="invalid_credentials") == 1
    assert value(page, "authsvc_logins_total", outcome="invalid_request") == 1
    assert value(page, "authsvc_token_validations_total", result="valid") == 3  # 2 + logout
    assert value(page, "authsvc_token_validations_total", result="token_revoked") == 1
    assert value(page, "authsvc_token_validations_total", result="missing") == 1
    assert value(page, "authsvc_revocations_total", kind="token_version") == 1
    assert value(page, "authsvc_revocations_total", kind="session") == 0
    assert value(page, "authsvc_throttled_requests_total", route="/login") == 0
    assert value(page, "authsvc_refreshes_total", outcome="success") == 0
    histogram = "authsvc_http_request_duration_seconds_count"
    assert value(page, histogram, method="GET", route="/session", status="200") == 2
    assert value(page, histogram, method="GET", route="/session", status="401") == 2
    assert value(page, histogram, method="POST", route="/login", status="200") == 1


# What each endpoint can answer: its body, CSRF and size refusals, its own errors, fail-closed 503.
LOGIN_OUTCOMES = {
    "success",
    "invalid_request",
    "unsupported_media_type",
    "payload_too_large",
    "csrf_failed",
    "invalid_credentials",
    "session_active",
    "too_many_attempts",
    "service_unavailable",
}


REFRESH_OUTCOMES = {
    "success",
    "invalid_refresh_token",
    "session_expired",
    "refresh_token_reused",
    "csrf_failed",
    "service_unavailable",
}


async def test_outcome_series_start_at_zero_for_exactly_the_codes_each_endpoint_sends(
    client: httpx.AsyncClient,
) -> None:
    page = await scrape(client)
    assert outcomes(page, "authsvc_logins_total") == LOGIN_OUTCOMES
    assert outcomes(page, "authsvc_refreshes_total") == REFRESH_OUTCOMES
    assert (LOGIN_OUTCOMES | REFRESH_OUTCOMES) - {"success"} <= every_error_code()
    for outcome in LOGIN_OUTCOMES:
        assert page[("authsvc_logins_total", frozenset({("outcome", outcome)}))] == 0
    for outcome in REFRESH_OUTCOMES:
        assert page[("authsvc_refreshes_total", frozenset({("outcome", outcome)}))] == 0


async def test_a_failed_refresh_is_counted_under_its_error_code(client: httpx.AsyncClient) -> None:
    failed = await client.post("/refresh")
    assert failed.status_code == 401
    assert failed.json()["error"] == "invalid_refresh_token"

    page = await scrape(client)
    assert page[("authsvc_refreshes_total", frozenset({("outcome", "invalid_refresh_token")}))] == 1
    assert outcomes(page, "authsvc_refreshes_total") == REFRESH_OUTCOMES


async def test_a_throttled_login_is_counted_as_too_many_attempts(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    make_user()
    for _ in range(5):
        assert (await post_login(client, password="wrong password!")).status_code == 401
    throttled = await post_login(client)
    assert throttled.status_code == 429
    assert throttled.json()["error"] == "too_many_attempts"

    page = await scrape(client)
    assert page[("authsvc_logins_total", frozenset({("outcome", "too_many_attempts")}))] == 1
    assert page[("authsvc_logins_total", frozenset({("outcome", "invalid_credentials")}))] == 5
    assert page[("authsvc_throttled_requests_total", frozenset({("route", "/login")}))] == 1
    assert outcomes(page, "authsvc_logins_total") == LOGIN_OUTCOMES


async def test_refusals_before_the_route_runs_are_counted_and_logged_under_their_codes(
    client_factory: ClientFactory, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="authsvc.access")
    async with client_factory(settings, browser=False) as client:
        forged = await client.post(
            "/login",
            json={"username": "alice", "password": PASSWORD},
            headers={"Origin": "https://evil.example"},
        )
        assert forged.status_code == 403
        assert forged.json()["error"] == "csrf_failed"
        oversized = await client.post(
            "/login", content=b"x" * 20_000, headers={"content-type": "application/json"}
        )
        assert oversized.status_code == 413
        assert oversized.json()["error"] == "payload_too_large"
        page = await scrape(client)

    assert page[("authsvc_logins_total", frozenset({("outcome", "csrf_failed")}))] == 1
    assert page[("authsvc_logins_total", frozenset({("outcome", "payload_too_large")}))] == 1
    # Answered before the router ran, so no route template is known.
    histogram = "authsvc_http_request_duration_seconds_count"
    for status in ("403", "413"):
        labels = {("method", "POST"), ("route", "unmatched"), ("status", status)}
        assert page[(histogram, frozenset(labels))] == 1
    access = [
        (record.status, record.error)  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "authsvc.access" and record.path == "/login"  # type: ignore[attr-defined]
    ]
    assert access == [(403, "csrf_failed"), (413, "payload_too_large")]
