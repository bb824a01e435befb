"""Per-request observation: the request metrics, and an access-log line for the requests
AUTHSVC_ACCESS_LOG names (by default the refused and failed ones)."""

from __future__ import annotations

import logging

from starlette.types import Scope

from authsvc.config import AccessLog
from authsvc.errors import ERROR_CODE_STATE

access_logger = logging.getLogger("authsvc.access")


class RequestObservation:
    """Records each answered request; the front door calls it, so refused, failed and oversized
    requests are counted too."""

    def __init__(self, access_log: AccessLog = AccessLog.all):
        # Statuses from this one on get a line; a JSON log line costs about a tenth of a cheap
        # request, so by default only the answers someone may have to explain get one.
        self.logged_from = {AccessLog.all: 0, AccessLog.errors: 400, AccessLog.off: 1000}[
            access_log
        ]

    def record(self, scope: Scope, status: int, seconds: float) -> None:
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
