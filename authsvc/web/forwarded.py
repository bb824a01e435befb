"""What the client really is behind our proxies: its address and the scheme it used.

Forwarded headers are believed only from the proxies named in AUTHSVC_TRUSTED_PROXIES;
anyone else could write them.
"""

from __future__ import annotations

from starlette.requests import Request


def client_is_trusted_proxy(request: Request, trusted_proxies: frozenset[str]) -> bool:
    return request.client is not None and request.client.host in trusted_proxies


def request_is_secure(request: Request, trusted_proxies: frozenset[str]) -> bool:
    """The scheme the browser used; X-Forwarded-Proto counts only from a trusted proxy."""
    if client_is_trusted_proxy(request, trusted_proxies):
        forwarded = request.headers.get("x-forwarded-proto", "")
        if forwarded:
            return forwarded.split(",")[0].strip().lower() == "https"
    return request.url.scheme == "https"


def client_address(request: Request, trusted_proxies: frozenset[str]) -> str | None:
    """The client's address: the peer, or the right-most untrusted hop a trusted proxy saw."""
    ip = request.client.host if request.client else None
    if client_is_trusted_proxy(request, trusted_proxies):
        # Walk X-Forwarded-For from the right: the first address that is not one of our own
        # proxies is the client; anything left of it may be forged by that client.
        hops = [hop.strip() for hop in request.headers.get("x-forwarded-for", "").split(",")]
        for hop in reversed([hop for hop in hops if hop]):
            ip = hop
            if hop not in trusted_proxies:
                break
    return ip
