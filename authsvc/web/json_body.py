"""JSON request bodies parsed strictly (RFC 8259 and the I-JSON profile, RFC 7493), everywhere.

Python's `json` accepts `NaN`, `Infinity` and numbers that overflow to infinity (`1e400`), keeps
the last of duplicated names, and lets lone surrogates (`"\\ud800"`) through. Any of them could
end up in a token claim other JWT libraries cannot parse, or in a row PostgreSQL refuses. The
middleware refuses such a body with 400 before any route reads it, so every JSON body is held to
the same rules, present and future routes alike; the hand-written parsers call `strict_loads`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authsvc.errors import AuthError, BadRequest, error_response

_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class _Refused(ValueError):
    """Well-formed JSON that the strict profile refuses; the message says why."""


def strict_loads(raw: bytes) -> Any:
    """The parsed body; BadRequest (400) for anything that is not strict, interoperable JSON."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("The request body is not valid UTF-8.") from exc
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            object_pairs_hook=_unique_names,
        )
        _check_strings(value)
    except _Refused as exc:
        raise BadRequest(f"The request body is not acceptable JSON: {exc}.") from exc
    except (ValueError, RecursionError) as exc:
        raise BadRequest("The request body is not valid JSON.") from exc
    return value


def _refuse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _Refused(f"{text[:32]} is too large a number")
    return number


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise _Refused(f"the name {name[:64]!r} appears twice in one object")
        result[name] = value
    return result


def _check_strings(value: Any) -> None:
    """Lone surrogates are valid JSON escapes but no Unicode text: refused wherever they hide."""
    pending: list[Any] = [value]
    while pending:
        item = pending.pop()
        strings: Iterable[Any] = ()
        if isinstance(item, str):
            strings = (item,)
        elif isinstance(item, dict):
            strings = item.keys()
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        for text in strings:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise _Refused("a string holds a lone surrogate") from None


def is_json(media_type: str) -> bool:
    """`application/json` or a `+json` type, as FastAPI reads a body as JSON."""
    kind, _, subtype = media_type.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


def _parses_leniently(raw: bytes) -> bool:
    """Whether Python's (and so Starlette's) own parser would take the body as JSON."""
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return True


class StrictJsonBodies:
    """Reads a JSON body first, refuses it with 400 unless strict, then hands it on unchanged.

    Only what Python's parser would accept and the strict profile refuses is answered here; a
    body that is no JSON at all is left to its route, which refuses it as it always has (400,
    or 413 where the route bounds its body more tightly). It sits inside the body-size limit,
    so what it buffers is bounded.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        media_type = _media_type(scope)
        # FastAPI reads a body as JSON only under a JSON media type (strict_content_type).
        if media_type is None or not is_json(media_type):
            await self.app(scope, receive, send)
            return
        try:
            body, complete = await _read_body(receive)
            if complete and body:
                _refuse_lenient_only(body)
        except AuthError as exc:
            await error_response(exc)(scope, receive, send)
            return
        await self.app(scope, _replay(body, complete, receive), send)


def _refuse_lenient_only(body: bytes) -> None:
    try:
        strict_loads(body)
    except BadRequest:
        if _parses_leniently(body):
            raise


def _media_type(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return str(value.decode("latin-1")).split(";")[0].strip().lower()
    return None


async def _read_body(receive: Receive) -> tuple[bytes, bool]:
    """The whole body; False when the client went away before sending all of it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if complete:
                return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
