"""POST /introspect (RFC 7662), for downstream services that are not written in Python."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated
from urllib.parse import parse_qsl, unquote_plus

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from authsvc.api.deps import DbDep, RuntimeDep
from authsvc.api.schemas import ErrorResponse, IntrospectionResponse
from authsvc.errors import BadRequest, InvalidClient, UnsupportedMediaType
from authsvc.services.introspection import introspect

router = APIRouter(tags=["introspection"])

_FORM = "application/x-www-form-urlencoded"
_FIELDS = frozenset({"token", "token_type_hint", "client_id", "client_secret"})


async def read_introspection_form(request: Request) -> dict[str, str]:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != _FORM:
        raise UnsupportedMediaType("Send application/x-www-form-urlencoded (RFC 7662).")
    try:
        text = (await request.body()).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=8)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("The form body is malformed.") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise BadRequest(f"The form field {name!r} is repeated.")
        if name in _FIELDS:
            form[name] = value
    return form


@router.post(
    "/introspect",
    response_model=IntrospectionResponse,
    response_model_exclude_none=True,
    responses={
        400: {"model": ErrorResponse},
        401: {"model": ErrorResponse},
        415: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                _FORM: {
                    "schema": {
                        "type": "object",
                        "required": ["token"],
                        "properties": {
                            "token": {"type": "string"},
                            "token_type_hint": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
    summary="RFC 7662 token introspection; clients authenticate with HTTP Basic",
)
def introspect_token(
    request: Request,
    form: Annotated[dict[str, str], Depends(read_introspection_form)],
    runtime: RuntimeDep,
    db: DbDep,
) -> JSONResponse:
    client_id, client_secret = _client_credentials(request, form)
    runtime.introspection_clients.authenticate(client_id, client_secret)
    token = form.get("token")
    if not token:
        raise BadRequest("The token parameter is required.")
    answer = introspect(db, runtime.issuer, token, now=runtime.clock.now())
    # RFC 7662 section 4: the answer must not be cached by anyone in between.
    return JSONResponse(answer, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """HTTP Basic (client_secret_basic) or form fields (client_secret_post), never both."""
    authorization = request.headers.get("authorization")
    in_form = "client_id" in form or "client_secret" in form
    if authorization is not None:
        if in_form:
            raise BadRequest("Authenticate the client one way only.")
        return _basic_credentials(authorization)
    if in_form:
        return form.get("client_id", ""), form.get("client_secret", "")
    raise InvalidClient("Client authentication is required.")


def _basic_credentials(authorization: str) -> tuple[str, str]:
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or len(encoded) > 1024:
        raise InvalidClient()
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClient() from None
    client_id, separator, client_secret = decoded.partition(":")
    if not separator:
        raise InvalidClient()
    # RFC 6749 section 2.3.1: both parts are form-encoded before the Basic encoding.
    return unquote_plus(client_id), unquote_plus(client_secret)
