"""The OpenAPI document's refusals that middleware adds: CSRF (403) and throttling (429)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from authsvc.web.csrf import SAFE_METHODS

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
THROTTLED_PATHS = frozenset({"/login"})
# Routes where a token is optional: logging out without a session is a harmless no-op, and
# a login presenting one ends the session that browser held.
OPTIONAL_AUTH_PATHS = frozenset({"/login", "/logout"})


def install_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _declare_refusals(generate())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_refusals(document: dict[str, Any]) -> None:
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if path in OPTIONAL_AUTH_PATHS and {} not in operation.get("security", [{}]):
                operation["security"].append({})
            if method.upper() not in SAFE_METHODS:
                responses.setdefault(
                    "403", {"description": "Cross-site request refused (CSRF)", "content": _ERROR}
                )
            if path in THROTTLED_PATHS:
                responses.setdefault(
                    "429", {"description": "Too many failed attempts", "content": _ERROR}
                )
