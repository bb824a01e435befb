"""The committed OpenAPI document against a real server: every answer, to valid and to invalid
input, of a logged-in admin too, has a status and a body the document declares."""

from __future__ import annotations

import httpx
import pytest
from schemathesis import GenerationMode
from schemathesis.errors import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import MakeUser, StartServer
from tests.helpers.openapi_cases import draw_cases, operations
from tests.helpers.processes import LiveServer

# Per operation and generation mode: 18 operations stay under 300 requests in all.
CASES_PER_MODE = 8
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


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
    live_server: StartServer, make_user: MakeUser
) -> None:
    make_user(roles=["admin"])
    # Fuzzed wrong passwords (at /login and /password) are guesses; the next fresh_token must
    # not be throttled by them.
    server = live_server(
        AUTHSVC_LOGIN_LIMIT_CLIENT_ACCOUNT="1000/minute",
        AUTHSVC_LOGIN_LIMIT_CLIENT="1000/hour",
        AUTHSVC_LOGIN_LIMIT_ACCOUNT="1000/hour",
    )
    every = operations()
    assert {operation.path for operation in every} >= {"/session", "/sessions", "/password"}
    failures: dict[tuple[str, str, int, str], str] = {}
    statuses: dict[str, set[int]] = {}
    sent = 0
    for operation in every:
        # Bearer, so the authenticated endpoints answer for real (and CSRF does not apply).
        bearer = f"Bearer {fresh_token(server)}"
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for case in draw_cases(operation, CASES_PER_MODE, mode):
                headers = case.headers if case.headers is not None else {}
                headers["Authorization"] = bearer
                case.headers = headers
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
    assert len(every) * 4 <= sent <= len(every) * 2 * CASES_PER_MODE
    # The authenticated endpoints answered as a logged-in admin, not only with 401.
    assert 200 in statuses["GET /session"]
    assert 200 in statuses["GET /sessions"]
    assert 404 in statuses["POST /admin/users/{user}/disable"]
    assert 400 in statuses["POST /logout"]
