"""CORS for the allowed origins: credentials only for them, never `*`."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from authsvc.config import Settings
from authsvc.errors import BadRequest, error_response

_STARLETTE_REFUSAL = "Disallowed CORS "

# Added to every answer to a request that names no Origin (a header line of its own, which
# caches combine with any other `Vary`), so a shared cache never hands it to a cross-origin page.
VARY_ORIGIN = (b"vary", b"Origin")


def cross_origin(app: ASGIApp, settings: Settings) -> ASGIApp:
    """`app` behind Starlette's CORS handling, for the requests that name an Origin.

    Without an Origin there is nothing to allow or refuse, and Starlette would still build a
    header map and parse the request's headers; the front door sends those requests around it.
    """
    return _CrossOriginRequests(
        app,
        # An explicit list: never "*", which with credentials would reflect any origin.
        allow_origins=settings.effective_allowed_origins(),
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=["content-type", settings.csrf_header_name],
        max_age=600,
    )


class _CrossOriginRequests(CORSMiddleware):
    """Starlette's CORS handling, with a refused preflight answered as every other error is."""

    def preflight_response(self, request_headers: Headers) -> Response:
        answer = super().preflight_response(request_headers)
        if answer.status_code != 400:
            return answer
        # Starlette names what it refused ("Disallowed CORS origin, method") in plain text.
        refused = bytes(answer.body).decode().removeprefix(_STARLETTE_REFUSAL)
        kept = {
            name: value
            for name, value in answer.headers.items()
            if name not in ("content-type", "content-length")
        }
        error = BadRequest(f"Cross-origin request refused: {refused} not allowed.")
        return error_response(error, headers=kept)
