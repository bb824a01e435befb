"""Fixtures of the federated sign-in tests: the provider on loopback and authsvc trusting it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.oidc import MockProvider, running_provider


@pytest.fixture(scope="module")
def oidc_provider() -> Iterator[MockProvider]:
    with running_provider() as provider:
        yield provider
