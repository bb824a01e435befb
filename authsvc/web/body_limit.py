"""Refuse request bodies over a size limit before anything parses them."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from authsvc.errors import PayloadTooLarge, error_response


class BodySizeLimit:
    """Checks Content-Length first and counts streamed bytes, so chunked bodies are bounded."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _framing(scope)
        if declared is None and not chunked:
            # Neither Content-Length nor Transfer-Encoding: HTTP/1.1 says there is no body.
            await self.app(scope, receive, send)
            return
        if declared is not None and declared > self.max_bytes:
            # Closing the connection spares reading a body nobody wants.
            refusal = error_response(self._too_large(), headers={"Connection": "close"})
            await refusal(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    # Raised inside the route's body read, so the app's handler answers 413.
                    raise self._too_large()
            return message

        await self.app(scope, counting_receive, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(f"The request body exceeds {self.max_bytes} bytes.")


def _framing(scope: Scope) -> tuple[int | None, bool]:
    """The declared Content-Length (None if absent or unreadable), and whether a
    Transfer-Encoding streams the body."""
    declared: int | None = None
    chunked = False
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                # Counted as it arrives instead, like a streamed body.
                chunked = True
        elif name == b"transfer-encoding":
            chunked = True
    return declared, chunked
