"""Reading the login body, which may be JSON or an HTML form, without trusting either."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from pydantic import ValidationError

from authsvc.api.schemas import LoginRequest
from authsvc.errors import BadRequest, UnsupportedMediaType
from authsvc.web.json_body import strict_loads

_FORM = "application/x-www-form-urlencoded"
_TRUE_WORDS = frozenset({"1", "true", "on", "yes"})


def login_request_body() -> dict[str, Any]:
    """The OpenAPI description of the two accepted encodings."""
    schema = LoginRequest.model_json_schema()
    return {
        "required": True,
        "content": {"application/json": {"schema": schema}, _FORM: {"schema": schema}},
    }


async def read_login_request(request: Request) -> LoginRequest:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("The request body is not valid UTF-8.") from exc
    if media_type == "application/json":
        data = _parse_json(text)
    elif media_type == _FORM:
        data = _parse_form(text)
    else:
        raise UnsupportedMediaType()
    try:
        return LoginRequest.model_validate(data)
    except ValidationError as exc:
        raise BadRequest(describe_errors(exc)) from exc


def _parse_json(text: str) -> object:
    return strict_loads(text.encode("utf-8"))


def _parse_form(text: str) -> dict[str, Any]:
    form: dict[str, Any] = dict(parse_form_fields(text, max_fields=8))
    if "remember" in form:
        form["remember"] = form["remember"].strip().lower() in _TRUE_WORDS
    return form


def parse_form_fields(text: str, *, max_fields: int) -> dict[str, str]:
    """An urlencoded form, each field at most once; BadRequest for anything else."""
    try:
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            max_num_fields=max_fields,
            errors="strict",
        )
    except ValueError as exc:
        raise BadRequest("The form body is malformed.") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise BadRequest(f"The form field {name!r} is repeated.")
        form[name] = value
    return form


def describe_errors(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)
