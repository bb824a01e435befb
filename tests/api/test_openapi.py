"""The committed OpenAPI document is what the app serves."""

from __future__ import annotations

import json

from pydantic import SecretStr

from authsvc.api.openapi import THROTTLED_PATHS
from authsvc.app import create_app
from authsvc.config import Registration, Settings
from authsvc.throttle.policies import Throttles
from tests.helpers.paths import REPO_ROOT

COMMITTED = REPO_ROOT / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app() -> None:
    served = create_app(Settings.model_construct()).openapi()
    committed = json.loads(COMMITTED.read_text())
    assert served == committed, "the API changed: run `make openapi` and commit the result"


# Every error status each endpoint can answer: 400 where a query or body is parsed, 413 where a
# body is read, 415 there too (a body of another media type), 401 where a token is required
# (or the credentials are wrong), 403 for CSRF on unsafe methods (and admin), 404 where a thing
# is looked up, 409 single-session, 429 where throttled, 503 where the database is read.
DECLARED_ERRORS = {
    "POST /login": {400, 401, 403, 409, 413, 415, 429, 503},
    "POST /logout": {400, 401, 403, 503},
    "GET /session": {401, 503},
    "GET /verify": {401, 503},
    "PATCH /session": {400, 401, 403, 413, 415, 503},
    "POST /refresh": {401, 403, 503},
    "GET /sessions": {401, 503},
    "DELETE /sessions/{sid}": {401, 403, 404, 503},
    "POST /password": {400, 401, 403, 413, 415, 429, 503},
    "POST /register": {400, 403, 409, 413, 415, 429, 503},
    "GET /account": {401, 503},
    "PATCH /account": {400, 401, 403, 409, 413, 415, 429, 503},
    "POST /password/forgot": {400, 403, 413, 415, 429},
    "POST /password/reset": {400, 403, 413, 415, 503},
    "POST /email/verify/request": {400, 401, 403, 409, 429, 503},
    "POST /email/verify": {400, 403, 413, 415, 503},
    "PUT /admin/users/{user}/email": {400, 401, 403, 404, 409, 413, 415, 503},
    "GET /admin/users": {400, 401, 403, 503},
    "GET /admin/users/{user}": {401, 403, 404, 503},
    "DELETE /admin/users/{user}": {401, 403, 404, 503},
    "POST /admin/users/{user}/password": {400, 401, 403, 404, 413, 415, 503},
    "PUT /admin/users/{user}/roles": {400, 401, 403, 404, 413, 415, 503},
    "POST /admin/users/{user}/disable": {401, 403, 404, 503},
    "POST /admin/users/{user}/enable": {401, 403, 404, 503},
    "POST /admin/users/{user}/revoke": {401, 403, 404, 503},
    "GET /admin/users/{user}/sessions": {401, 403, 404, 503},
    "POST /login/mfa": {400, 401, 403, 409, 413, 415, 429, 503},
    "POST /login/mfa/enrol": {400, 401, 403, 413, 415, 503},
    "GET /account/mfa": {401, 503},
    "POST /account/mfa/totp": {400, 401, 403, 413, 415, 503},
    "POST /account/mfa/totp/{factor_id}/confirm": {400, 401, 403, 404, 413, 415, 429, 503},
    "DELETE /account/mfa/factors/{factor_id}": {401, 403, 404, 503},
    "POST /account/mfa/recovery-codes": {401, 403, 409, 503},
    "POST /admin/users/{user}/mfa/reset": {401, 403, 404, 503},
    "POST /account/passkeys/options": {401, 403, 503},
    "POST /account/passkeys": {400, 401, 403, 409, 413, 415, 503},
    "PATCH /account/mfa/factors/{factor_id}": {400, 401, 403, 404, 413, 415, 503},
    "POST /login/mfa/passkey/options": {401, 403, 503},
    "POST /login/passkey/options": {403, 429, 503},
    "POST /login/passkey": {400, 401, 403, 409, 413, 415, 503},
    "POST /introspect": {400, 401, 403, 413, 415, 503},
    "GET /oauth/providers": {503},
    "GET /oauth/{provider}/authorize": {400, 401, 404, 502, 503},
    "GET /oauth/{provider}/callback": {400, 401, 403, 404, 409, 502, 503},
    "GET /account/identities": {401, 503},
    "DELETE /account/identities/{identity_id}": {401, 403, 404, 409, 503},
    "GET /metrics": {404},
    "GET /readyz": {503},
    "GET /healthz": set(),
    "GET /.well-known/jwks.json": set(),
    "GET /.well-known/openid-configuration": set(),
}
ERROR_BODY = {"$ref": "#/components/schemas/ErrorResponse"}


def test_every_endpoint_declares_exactly_its_error_statuses_with_the_one_error_body() -> None:
    every_feature = Settings.model_construct(
        registration=Registration.open,
        smtp_url=SecretStr("smtp://mail.example.com"),
        mail_from="noreply@example.com",
    )
    document = create_app(every_feature).openapi()
    declared = {
        f"{method.upper()} {path}": {int(status) for status in operation["responses"]}
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    errors = {
        label: {status for status in statuses if status >= 400}
        for label, statuses in declared.items()
    }
    assert errors == DECLARED_ERRORS
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400 and path != "/readyz":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == ERROR_BODY, (method, path, status)
    # The readiness probe answers 503 with its own body, saying which check failed.
    readiness = document["paths"]["/readyz"]["get"]["responses"]["503"]
    assert readiness["content"]["application/json"]["schema"]["$ref"].endswith("/ReadinessResponse")
    assert not {"HTTPValidationError", "ValidationError"} & document["components"]["schemas"].keys()


def test_every_throttled_route_declares_429() -> None:
    throttles = Throttles.from_settings(Settings.model_construct())
    try:
        assert {throttle.route for throttle in throttles.all()} == THROTTLED_PATHS
    finally:
        throttles.close()
