"""Reading the service's /metrics page in tests: every sample by name and label set."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

Page = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Page:
    """Every sample of a Prometheus text page, keyed by name and label set."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(page: Page, name: str, **labels: str) -> float:
    """The sample of exactly this series; a series that does not exist fails the test."""
    key = (name, frozenset(labels.items()))
    assert key in page, f"no series {name}{labels} on the page"
    return page[key]


async def scrape(client: httpx.AsyncClient) -> Page:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)
