"""The committed OpenAPI document against a real server: every answer, to valid and to invalid
input, of a logged-in admin too, has a status and a body the document declares."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import PASSWORD
from tests.helpers.paths import REPO_ROOT
from tests.helpers.support import LiveServer

DOCUMENT = REPO_ROOT / "openapi" / "openapi.json"
# Per operation and generation mode: 18 operations stay under 300 requests in all.
CASES_PER_MODE = 8
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


def generate_cases(operation: Any, mode: GenerationMode) -> list[schemathesis.Case]:
    """Hypothesis draws the cases (bounded, reproducible); the test then sends them."""
    cases: list[schemathesis.Case] = []

    @hypothesis_settings(
        max_examples=CASES_PER_MODE,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def collect(case: schemathesis.Case) -> None:
        cases.append(case)

    try:
        collect()
    except Unsatisfiable:
        # Nothing to make invalid: an operation without parameters or body has no negative case.
        assert mode is GenerationMode.NEGATIVE
    return cases


def fresh_token(server: LiveServer) -> str:
    """A new session's access token: a fuzzed logout or revocation must not end the next test's."""
    response = httpx.post(
        f"{server.url}/login", json={"username": "alice", "password": PASSWORD}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.cookies["authsvc_at"]


# Argon2 at production cost and a few hundred requests over TCP: SQLite is enough to judge the
# shape of every answer, and PostgreSQL runs the same code paths in the rest of the suite.
@pytest.mark.server
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_answer_of_a_real_server_conforms_to_the_document(
    live_server: Callable[..., LiveServer], make_user: Callable[..., str]
) -> None:
    make_user(roles=["admin"])
    server = live_server()
    schema = schemathesis.openapi.from_path(DOCUMENT)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {operation.path for operation in operations} >= {"/session", "/sessions", "/password"}
    failures: dict[tuple[str, str, int, str], str] = {}
    statuses: dict[str, set[int]] = {}
    sent = 0
    for operation in operations:
        # Bearer, so the authenticated endpoints answer for real (and CSRF does not apply).
        bearer = f"Bearer {fresh_token(server)}"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for case in generate_cases(operation, mode):
                case.headers = {**(case.headers or {}), "Authorization": bearer}
                response = case.call(base_url=server.url, timeout=30)
                statuses.setdefault(operation.label, set()).add(response.status_code)
                sent += 1
                try:
                    case.validate_response(response, checks=CHECKS)
                except FailureGroup as group:
                    for failure in group.exceptions:
                        key = (operation.label, mode.value, response.status_code, failure.title)
                        failures.setdefault(key, f"{failure.message}\n{response.text[:300]}")
    assert not failures, "\n\n".join(
        f"{label} ({mode}) answered {status}: {title}\n{message}"
        for (label, mode, status, title), message in failures.items()
    )
    assert len(operations) * 4 <= sent <= len(operations) * 2 * CASES_PER_MODE
    # The authenticated endpoints answered as a logged-in admin, not only with 401.
    assert 200 in statuses["GET /session"]
    assert 200 in statuses["GET /sessions"]
    assert 404 in statuses["POST /admin/users/{user}/disable"]
    assert 400 in statuses["POST /logout"]
