"""CSRF for a downstream service: a cookie-authenticated unsafe request must come from an
allowed origin (OWASP: verify the Origin header; Fetch Metadata where Origin is absent)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def cross_site_refusal(
    method: str, headers: Mapping[str, str], allowed_origins: frozenset[str]
) -> str | None:
    """Why a request that authenticates with the cookie must be refused, or None.

    Allowed: a safe method; an `Origin` on the list or the service's own (same host and port
    as the request's `Host`); without `Origin`, `Sec-Fetch-Site: same-origin`. A request with
    neither header cannot be told apart from a forged one, so it is refused.
    """
    if method.upper() in SAFE_METHODS:
        return None
    origin = headers.get("origin")
    if origin is not None:
        if origin.lower() in allowed_origins or _same_host(origin, headers.get("host")):
            return None
        return "The request's Origin is not allowed."
    site = headers.get("sec-fetch-site")
    if site is not None:
        return None if site.lower() == "same-origin" else "The request comes from another site."
    return "A cookie-authenticated request must carry an Origin header."


def _same_host(origin: str, host: str | None) -> bool:
    if host is None or origin == "null":
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.lower()
