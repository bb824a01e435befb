"""Discovery: the JWKS and the OpenID-style configuration document."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from authsvc.api.deps import RuntimeDep
from authsvc.api.schemas import JsonWebKeySet
from authsvc.config import Registration

router = APIRouter(tags=["discovery"])


@router.get(
    "/.well-known/jwks.json",
    response_model=JsonWebKeySet,
    summary="Public keys that verify access tokens (pending, active and retiring ones)",
)
def jwks(runtime: RuntimeDep) -> JSONResponse:
    max_age = runtime.settings.jwks_max_age_seconds
    return JSONResponse(
        runtime.keys.ring.jwks, headers={"Cache-Control": f"public, max-age={max_age}"}
    )


@router.get(
    "/.well-known/openid-configuration",
    summary="Issuer metadata so that standard libraries can discover the JWKS and endpoints",
)
def openid_configuration(runtime: RuntimeDep) -> dict[str, Any]:
    issuer = runtime.settings.issuer
    algorithms = sorted({key.alg for key in runtime.keys.ring.verification_keys.values()})
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "login_endpoint": f"{issuer}/login",
        "logout_endpoint": f"{issuer}/logout",
        "session_endpoint": f"{issuer}/session",
        "refresh_endpoint": f"{issuer}/refresh",
        "sessions_endpoint": f"{issuer}/sessions",
        "password_endpoint": f"{issuer}/password",
        "account_endpoint": f"{issuer}/account",
        "introspection_endpoint": f"{issuer}/introspect",
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
        ],
        "token_signing_alg_values_supported": algorithms,
        "access_token_type": "at+jwt",
        **(
            {"registration_endpoint": f"{issuer}/register"}
            if runtime.settings.registration is Registration.open
            else {}
        ),
        **(
            {
                "password_forgot_endpoint": f"{issuer}/password/forgot",
                "password_reset_endpoint": f"{issuer}/password/reset",
                "email_verification_endpoint": f"{issuer}/email/verify",
                "email_verification_request_endpoint": f"{issuer}/email/verify/request",
            }
            if runtime.settings.mail_enabled
            else {}
        ),
    }
