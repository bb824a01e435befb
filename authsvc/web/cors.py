"""CORS for the allowed origins, cheap for the requests that carry no Origin."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message, Receive, Scope, Send

_VARY_ORIGIN = (b"vary", b"Origin")


class CorsForOrigins(CORSMiddleware):
    """Starlette's CORS middleware, short-cut when the request names no Origin.

    Without an Origin there is nothing to allow or refuse; the answer still says that it
    depends on the Origin (a header line of its own, which caches combine with any other
    `Vary`), so a shared cache never hands it to a cross-origin page. Starlette would build a
    header map and parse the request's headers for that on every request.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or any(
            name == b"origin" for name, _ in scope.get("headers", ())
        ):
            await super().__call__(scope, receive, send)
            return

        async def send_varying(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), _VARY_ORIGIN]
            await send(message)

        await self.app(scope, receive, send_varying)
