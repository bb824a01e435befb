"""Suites that need something the machine may lack (PostgreSQL, Redis, nginx, root): skipped
with one line in the run's summary, never silently."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

from tests.helpers import parallel

SKIPPED_SUITES: set[str] = set()

POSTGRES_ENV = "AUTHSVC_TEST_POSTGRES_URL"
POSTGRES_HINT = (
    f"PostgreSQL suite skipped: set {POSTGRES_ENV}="
    "postgresql+psycopg://postgres@127.0.0.1:5432/authsvc_test "
    "(make test sets it when a server answers on 127.0.0.1:5432)"
)
REDIS_ENV = "AUTHSVC_TEST_REDIS_URL"
REDIS_HINT = (
    f"Redis suite skipped: set {REDIS_ENV}=redis://127.0.0.1:6379/15 "
    "(make test sets it when a server answers on 127.0.0.1:6379)"
)


def skip_suite(reason: str) -> NoReturn:
    """Skip a test whose suite needs something absent, and name it once in the run's summary."""
    SKIPPED_SUITES.add(reason)
    pytest.skip(reason)


def redis_test_url() -> str:
    """The Redis database of this test run; the test is skipped when none is configured."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        skip_suite(REDIS_HINT)
    parallel.require(parallel.REDIS)
    return url
