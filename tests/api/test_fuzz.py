"""Property-based fuzzing with schemathesis against the committed OpenAPI document, in-process:
no input may produce a 5xx or an answer the document does not describe."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Result
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import positive_data_acceptance

from authsvc.config import Settings
from tests.helpers.fixture_types import ClientFactory, MakeUser
from tests.helpers.paths import REPO_ROOT

DOCUMENT = REPO_ROOT / "openapi" / "openapi.json"
BASE_URL = "http://authsvc.test"
EXAMPLES_PER_OPERATION = 40
# Not checked: "schema-valid data is accepted". Form bodies are stricter than JSON Schema can
# say (a repeated field is refused with 400), and a 4xx is neither a crash nor a violation.
# What schemathesis's own API hands out (its operations are generic over Any).
Operation = APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Operation]


def operation_of(result: Result[Operation, InvalidSchema]) -> Operation:
    """The operation, or the schema error that made it unusable."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


def generate_cases(operation: Operation) -> list[Case]:
    """Hypothesis draws the cases (bounded, reproducible); the async test then sends them."""
    cases: list[Case] = []

    @hypothesis_settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def collect(case: Case) -> None:
        cases.append(case)

    collect()
    return cases


def as_httpx_kwargs(case: Case) -> dict[str, Any]:
    kwargs = case.as_transport_kwargs(base_url=BASE_URL)
    cookies = kwargs.pop("cookies", None) or {}
    if cookies:
        # httpx takes per-request cookies only as a header.
        header = "; ".join(f"{name}={value}" for name, value in cookies.items())
        kwargs["headers"] = {**(kwargs.get("headers") or {}), "Cookie": header}
    return kwargs


async def test_no_input_breaks_the_api(
    client_factory: ClientFactory,
    settings: Settings,
    make_user: MakeUser,
) -> None:
    make_user()
    schema = schemathesis.openapi.from_path(DOCUMENT)
    operations = [operation_of(result) for result in schema.get_all_operations()]
    assert {operation.path for operation in operations} >= {"/login", "/logout", "/session"}
    sent = 0
    async with client_factory(settings, browser=False) as client:
        for operation in operations:
            for case in generate_cases(operation):
                client.cookies.clear()  # each case stands alone, with only its own cookies
                response = await client.request(**as_httpx_kwargs(case))
                assert response.status_code < 500, (
                    case.method,
                    case.path,
                    case.body,
                    response.text,
                )
                case.validate_response(response, excluded_checks=[positive_data_acceptance])
                sent += 1
    assert sent >= len(operations) * 10
