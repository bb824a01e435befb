"""The /metrics page beyond the outcome counters: the signing-key and connection-pool gauges, a
key age that follows the injected clock, request series whose labels stay bounded whatever
methods and paths a client invents, and the setting that switches the page off."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers.clock import FakeClock
from tests.helpers.fixture_types import ClientFactory, MakeSettings
from tests.helpers.metrics import Page, scrape, value


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
