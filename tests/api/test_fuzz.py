"""Property-based fuzzing with schemathesis against the committed OpenAPI document, in-process:
no input may produce a 5xx or an answer the document does not describe."""

from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

from authsvc.app import create_app
from authsvc.config import Settings
from tests.helpers.fixture_types import ClientFactory, MakeUser
from tests.helpers.openapi_cases import Case, draw_cases, operation_of, operations

BASE_URL = "http://authsvc.test"
EXAMPLES_PER_OPERATION = 40


# Not checked: "schema-valid data is accepted". Form bodies are stricter than JSON Schema can
# say (a repeated field is refused with 400), and a 4xx is neither a crash nor a violation.
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
    every = operations()
    assert {operation.path for operation in every} >= {"/login", "/logout", "/session"}
    sent = 0
    async with client_factory(settings, browser=False) as client:
        for operation in every:
            for case in draw_cases(operation, EXAMPLES_PER_OPERATION):
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
    assert sent >= len(every) * 10


async def test_no_input_breaks_the_mail_endpoints(
    client_factory: ClientFactory,
    mail_settings: Settings,
    make_user: MakeUser,
) -> None:
    """The endpoints that exist only with a relay are not in the committed document (written for
    the default configuration): fuzz them against the document of an app that has them."""
    make_user(email="alice@example.com")
    app = create_app(mail_settings)
    schema = schemathesis.openapi.from_dict(app.openapi())
    mail_paths = {"/password/forgot", "/password/reset", "/email/verify", "/email/verify/request"}
    every = [
        operation
        for operation in (operation_of(result) for result in schema.get_all_operations())
        if operation.path in mail_paths
    ]
    assert {operation.path for operation in every} == mail_paths
    sent = 0
    async with client_factory(mail_settings, browser=False) as client:
        for operation in every:
            for case in draw_cases(operation, EXAMPLES_PER_OPERATION):
                client.cookies.clear()
                response = await client.request(**as_httpx_kwargs(case))
                assert response.status_code < 500, (case.path, case.body, response.text)
                case.validate_response(response, excluded_checks=[positive_data_acceptance])
                sent += 1
    assert sent >= len(every) * 10
