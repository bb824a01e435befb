"""Cases schemathesis draws from the committed OpenAPI document, for fuzzing and conformance."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Result
from schemathesis.schemas import APIOperation

from tests.helpers.paths import REPO_ROOT

DOCUMENT = REPO_ROOT / "openapi" / "openapi.json"
# What schemathesis's own API hands out (its operations are generic over Any).
Operation = APIOperation[Any, Any, Any, Any]
Case = schemathesis.Case[Operation]


def operations() -> list[Operation]:
    """Every operation of the committed document; a schema error fails the test."""
    schema = schemathesis.openapi.from_path(DOCUMENT)
    return [operation_of(result) for result in schema.get_all_operations()]


def operation_of(result: Result[Operation, InvalidSchema]) -> Operation:
    """The operation, or the schema error that made it unusable."""
    if isinstance(result, Err):
        raise result.err()
    return result.ok()


def draw_cases(
    operation: Operation, count: int, mode: GenerationMode = GenerationMode.POSITIVE
) -> list[Case]:
    """Hypothesis draws the cases (bounded, reproducible); the test then sends them."""
    cases: list[Case] = []

    @hypothesis_settings(
        max_examples=count,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def collect(case: Case) -> None:
        cases.append(case)

    try:
        collect()
    except Unsatisfiable:
        # Nothing to make invalid: an operation without parameters or body has no negative case.
        if mode is not GenerationMode.NEGATIVE:
            raise
    return cases
