"""The OpenAPI document's error answers: every error status an endpoint can answer, each with
the one error body (`ErrorResponse`), including those that handlers and middleware add."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from authsvc.web.csrf import SAFE_METHODS

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
# The routes of the throttles in authsvc/throttle/policies.py (a test holds the two together);
# only their unsafe methods are throttled.
THROTTLED_PATHS = frozenset(
    {
        "/login",
        "/login/mfa",
        "/password",
        "/account",
        "/register",
        "/password/forgot",
        "/email/verify/request",
        "/login/passkey/options",
    }
)
# Routes where a token is optional: logging out without a session is a harmless no-op, and
# a login presenting one ends the session that browser held.
OPTIONAL_AUTH_PATHS = frozenset({"/login", "/logout"})
# Routes that read no database, so they cannot fail closed with 503 (readiness declares its own).
STATELESS_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        # Only queues the work: whatever the database says is read in the background.
        "/password/forgot",
        "/metrics",
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
    }
)
# Routes that hash or verify a password: their work is bounded (authsvc/passwords/capacity.py),
# so they may also answer 503 password_work_busy with Retry-After.
PASSWORD_HASHING_ROUTES = frozenset(
    {
        ("POST", "/login"),
        ("POST", "/register"),
        ("POST", "/password"),
        ("POST", "/password/reset"),
        ("PATCH", "/account"),
        ("POST", "/admin/users/{user}/password"),
    }
)
# FastAPI's list-shaped 422 body; malformed input answers 400 with the one error body instead.
_UNUSED_SCHEMAS = ("HTTPValidationError", "ValidationError")

_MALFORMED = "The request is malformed (invalid_request)"
_WRONG_MEDIA_TYPE = (
    "The request body is of a media type this operation does not read (unsupported_media_type)"
)
_TOO_LARGE = "The request body is too large (payload_too_large)"
_NO_TOKEN = "The access token is missing, invalid, expired or revoked"
_CSRF = "Cross-site request refused (csrf_failed)"
_THROTTLED = "Too many attempts (too_many_attempts); see Retry-After"
_UNAVAILABLE = "The database is unavailable, so nobody is authenticated (service_unavailable)"
_BUSY = (
    "Every password-hashing slot is busy and the wait for one ran out (password_work_busy), "
    "or the database is unavailable (service_unavailable); see Retry-After"
)
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer"},
    }
}


def install_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _declare_errors(generate())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_errors(document: dict[str, Any]) -> None:
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            _declare_operation_errors(path, method.upper(), operation)
    schemas = document.get("components", {}).get("schemas", {})
    for name in _UNUSED_SCHEMAS:
        schemas.pop(name, None)


def _declare_operation_errors(path: str, method: str, operation: dict[str, Any]) -> None:
    """The route's own declarations stay (e.g. 401 for a wrong password); these are added."""
    responses = operation.setdefault("responses", {})
    responses.pop("422", None)
    security = operation.get("security")
    if security is not None and path in OPTIONAL_AUTH_PATHS and {} not in security:
        security.append({})
    parses_query = any(parameter["in"] == "query" for parameter in operation.get("parameters", []))
    reads_body = "requestBody" in operation
    needs_token = security is not None and {} not in security
    errors = {
        "400": (parses_query or reads_body, _MALFORMED),
        "401": (needs_token, _NO_TOKEN),
        "403": (method not in SAFE_METHODS, _CSRF),
        "413": (reads_body, _TOO_LARGE),
        "415": (reads_body, _WRONG_MEDIA_TYPE),
        "429": (path in THROTTLED_PATHS and method not in SAFE_METHODS, _THROTTLED),
        "503": (path not in STATELESS_PATHS, _UNAVAILABLE),
    }
    for status, (applies, description) in errors.items():
        if applies:
            responses.setdefault(status, {"description": description, "content": _ERROR})
    if (method, path) in PASSWORD_HASHING_ROUTES:
        busy = responses.setdefault("503", {"content": _ERROR})
        busy.update(description=_BUSY, headers=_RETRY_AFTER)
    # Statuses in ascending order, as a reader expects them.
    operation["responses"] = dict(sorted(responses.items()))
