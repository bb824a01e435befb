"""Per-request observation: the request id, the request metrics, and an access-log line for the
requests AUTHSVC_ACCESS_LOG names (by default the refused and failed ones)."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authsvc.config import AccessLog
from authsvc.errors import ERROR_CODE_STATE, AuthError
from authsvc.observability.logs import accept_request_id, request_id_var

access_logger = logging.getLogger("authsvc.access")

REQUEST_ID_HEADER = b"x-request-id"


class RequestObserver:
    """Outermost middleware, so that refused, failed and oversized requests are counted too."""

    def __init__(self, app: ASGIApp, access_log: AccessLog = AccessLog.all):
        self.app = app
        # Statuses from this one on get a line; a JSON log line costs about a tenth of a cheap
        # request, so by default only the answers someone may have to explain get one.
        self.logged_from = {AccessLog.all: 0, AccessLog.errors: 400, AccessLog.off: 1000}[
            access_log
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accept_request_id(_header(scope, REQUEST_ID_HEADER))
        token = request_id_var.set(request_id)
        # Shared with request.state, where every error answer leaves its code.
        scope.setdefault("state", {})
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [
                    (name, value)
                    for name, value in message.get("headers", [])
                    if name.lower() != REQUEST_ID_HEADER
                ]
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # The outermost handler answers it after this middleware is done: a 500 internal_error.
            scope["state"].setdefault(ERROR_CODE_STATE, AuthError.code)
            raise
        finally:
            self._record(scope, status, time.perf_counter() - started)
            request_id_var.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        # Requests answered before routing (CSRF and size refusals, unknown paths) have no route.
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope["method"]
        error_code = scope["state"].get(ERROR_CODE_STATE)
        runtime = getattr(scope["app"].state, "runtime", None) if "app" in scope else None
        if runtime is not None:
            runtime.metrics.observe_request(
                method, route, scope["path"], status, seconds, error_code
            )
        if status < self.logged_from or not access_logger.isEnabledFor(logging.INFO):
            return
        # The path without its query string: a query may carry something secret.
        access_logger.info(
            "request",
            extra={
                "method": method,
                "path": scope["path"],
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 2),
                "error": error_code,
            },
        )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            try:
                return str(value.decode("ascii"))
            except UnicodeDecodeError:
                return None
    return None
