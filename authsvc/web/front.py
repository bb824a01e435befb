"""The front door: the outermost layer, one pass over every request and its answer.

Everything each answer needs is done here at once, on the raw header list of the response's
start message: the request id, the security headers, `Vary: Origin`, the request metrics and
the access log. A layer per concern would wrap `send` once per layer, and on a cheap request
those wrappers cost as much as the route.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authsvc.config import Settings
from authsvc.errors import ERROR_CODE_STATE, AuthError, error_response
from authsvc.observability.logs import accept_request_id, request_id_var
from authsvc.web.cors import VARY_ORIGIN, cross_origin
from authsvc.web.observe import RequestObservation
from authsvc.web.security_headers import SecurityHeaders

REQUEST_ID_HEADER = b"x-request-id"
_ORIGIN = b"origin"


class FrontDoor:
    """Outermost, so that refused, failed and oversized requests are counted and carry the
    headers too; requests that name an Origin go through CORS on their way in."""

    def __init__(self, app: ASGIApp, settings: Settings):
        self.app = app
        self.cross_origin_app = cross_origin(app, settings)
        self.security_headers = SecurityHeaders(settings)
        self.observation = RequestObservation(settings.access_log)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        presented_id, names_origin = _read_request_headers(scope)
        request_id = accept_request_id(presented_id)
        context_token = request_id_var.set(request_id)
        # Shared with request.state, where every error answer leaves its code.
        scope.setdefault("state", {})
        began = time.perf_counter()
        status = 500
        answer_started = False

        async def send_finished(message: Message) -> None:
            nonlocal status, answer_started
            if message["type"] == "http.response.start":
                answer_started = True
                status = message["status"]
                message["headers"] = self._finish_headers(
                    scope, message.get("headers", ()), request_id, names_origin
                )
            await send(message)

        try:
            inner = self.cross_origin_app if names_origin else self.app
            await inner(scope, receive, send_finished)
        except Exception:
            scope["state"].setdefault(ERROR_CODE_STATE, AuthError.code)
            if not answer_started:
                # Answered here rather than by Starlette's outermost handler, so that the 500
                # carries the request id (to find the traceback in the log) and the headers
                # every answer has; re-raised, so the server still logs the traceback.
                await error_response(AuthError())(scope, receive, send_finished)
            raise
        finally:
            self.observation.record(scope, status, time.perf_counter() - began)
            request_id_var.reset(context_token)

    def _finish_headers(
        self,
        scope: Scope,
        raw: list[tuple[bytes, bytes]],
        request_id: str,
        names_origin: bool,
    ) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = []
        present: set[bytes] = set()
        for name, value in raw:
            lowered = name.lower()
            # The request id is ours to set: a route's or a proxied header never replaces it.
            if lowered != REQUEST_ID_HEADER:
                headers.append((name, value))
                present.add(lowered)
        headers.append((REQUEST_ID_HEADER, request_id.encode()))
        if not names_origin:
            # CORS added its own Vary where the request named an Origin.
            headers.append(VARY_ORIGIN)
        return self.security_headers.add(scope, headers, present)


def _read_request_headers(scope: Scope) -> tuple[str | None, bool]:
    """The presented request id (None if absent or not ASCII), and whether an Origin is named."""
    request_id: str | None = None
    seen_id = names_origin = False
    for name, value in scope.get("headers", ()):
        lowered = name.lower()
        if lowered == _ORIGIN:
            names_origin = True
        elif lowered == REQUEST_ID_HEADER and not seen_id:
            # Only the first line counts, as a proxy that appends its own would expect.
            seen_id = True
            try:
                request_id = value.decode("ascii")
            except UnicodeDecodeError:
                request_id = None
    return request_id, names_origin
