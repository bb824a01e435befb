"""Metrics, request ids and logs, seen from outside: /metrics, response headers, log lines."""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from authsvc.app import create_app
from authsvc.config import Settings
from authsvc.errors import AuthError
from tests.helpers.asgi import state_per_request
from tests.helpers.clock import FakeClock
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import ClientFactory, MakeSettings, MakeUser, StartServer
from tests.helpers.headers import spa_headers
from tests.helpers.login import post_login
from tests.helpers.metrics import Page, samples, scrape, value


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


async def test_metrics_report_keys_and_the_connection_pool(
    client: httpx.AsyncClient, database_url: str
) -> None:
    page = await scrape(client)
    assert value(page, "authsvc_database_up") == 1
    assert value(page, "authsvc_signing_keys", state="active") == 1
    assert value(page, "authsvc_signing_keys", state="retired") == 0
    ages = [key for key in page if key[0] == "authsvc_signing_key_age_seconds"]
    assert len(ages) == 1
    assert dict(ages[0][1])["state"] == "active"
    assert page[ages[0]] >= 0
    # AUTHSVC_DATABASE_POOL_SIZE applies to PostgreSQL; SQLite keeps SQLAlchemy's default.
    expected_size = 5 if database_url.startswith("sqlite") else 10
    assert value(page, "authsvc_db_pool_size") == expected_size
    checked_out = value(page, "authsvc_db_pool_connections", state="checked_out")
    # The scrape itself holds at most one connection while it reads the key table.
    assert 0 <= checked_out <= 1


async def test_key_age_follows_the_clock(client: httpx.AsyncClient, clock: FakeClock) -> None:
    before = await scrape(client)
    clock.advance(3600)
    after = await scrape(client)

    def age(page: Page) -> float:
        return next(v for key, v in page.items() if key[0] == "authsvc_signing_key_age_seconds")

    assert age(after) - age(before) == pytest.approx(3600)


async def test_metrics_can_be_switched_off(
    client_factory: ClientFactory, make_settings: MakeSettings
) -> None:
    async with client_factory(make_settings(metrics_enabled=False)) as client:
        response = await client.get("/metrics")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "edge-7f3a.1"})
    assert echoed.headers["x-request-id"] == "edge-7f3a.1"
    generated = await client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", generated.headers["x-request-id"])
    # Every generated id is new, so two requests' log lines never mix.
    ids = {(await client.get("/healthz")).headers["x-request-id"] for _ in range(50)}
    assert len(ids) == 50
    for hostile in (b"a" * 129, b"bad id with spaces", "x\u00e9".encode()):
        replaced = await client.get("/healthz", headers={b"X-Request-ID": hostile})
        assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
    # Errors carry it too, so a client's complaint can be matched with the log.
    missing = await client.get("/nope", headers={"X-Request-ID": "trace-404"})
    assert missing.status_code == 404
    assert missing.headers["x-request-id"] == "trace-404"


@pytest.mark.server
def test_server_logs_json_lines_with_request_ids_and_no_secret(
    live_server: StartServer, make_user: MakeUser
) -> None:
    make_user()
    server = live_server(AUTHSVC_LOG_FORMAT="json", AUTHSVC_ACCESS_LOG="all")
    with httpx.Client(base_url=server.url) as http:
        login = http.post(
            "/login",
            json={"username": "alice", "password": PASSWORD},
            headers={"X-Request-ID": "req-login-1"},
        )
        assert login.status_code == 200
        token = http.cookies["authsvc_at"]
        assert http.get("/session", headers={"X-Request-ID": "req-session-1"}).status_code == 200
        spa = spa_headers(http, server.url)
        out = http.post(
            "/logout", params={"everywhere": "true"}, headers={"X-Request-ID": "req-out-1", **spa}
        )
        assert out.status_code == 200
        assert (
            http.post(
                "/login",
                json={"username": "alice", "password": "a wrong password"},
                headers=spa_headers(http, server.url),
            ).status_code
            == 401
        )
    server.stop()

    log = server.log()
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    assert records, log
    by_request: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys()
        assert "color_message" not in record
        by_request.setdefault(str(record.get("request_id")), []).append(record)
    login_lines = by_request["req-login-1"]
    assert any(line.get("audit_event") == "login_success" for line in login_lines)
    access = next(line for line in login_lines if line["logger"] == "authsvc.access")
    assert access["status"] == 200
    assert access["route"] == "/login"
    assert any(line["logger"] == "authsvc.access" for line in by_request["req-session-1"])
    assert any(line.get("audit_event") == "logout_everywhere" for line in by_request["req-out-1"])
    for secret in (PASSWORD, "a wrong password", token, token.split(".")[2]):
        assert secret not in log


async def test_labels_stay_bounded_whatever_methods_and_paths_a_client_invents(
    client: httpx.AsyncClient,
) -> None:
    """Each invented method or path would be a new series: an unauthenticated memory leak."""
    for index in range(20):
        await client.request(f"BREW{index}", "/session")
        await client.request(f"X-{index}", f"/no/such/path/{index}")
        await client.get(f"/unknown-{index}")
    page = await scrape(client)
    series = [
        dict(labels)
        for name, labels in page
        if name == "authsvc_http_request_duration_seconds_count"
    ]
    methods = {labels["method"] for labels in series}
    routes = {labels["route"] for labels in series}
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
    assert "other" in methods
    assert routes <= {"/session", "unmatched", "/metrics"}
    assert (
        value(
            page,
            "authsvc_http_request_duration_seconds_count",
            method="other",
            route="unmatched",
            status="404",
        )
        == 20
    )
    assert len(series) <= 6
