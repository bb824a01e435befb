"""Where a `?next=` may send a browser: a path on this service or a URL on an allowed origin,
never anywhere else (an open redirect turns a trusted sign-in page into a phishing link)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

_MAX_LENGTH = 2048
# Printable ASCII but space and backslash: browsers drop tabs and newlines anywhere in a URL
# ("/\t/evil.example" is "//evil.example" to them) and read "\" as "/".
_ALLOWED_RAW = frozenset(chr(code) for code in range(0x21, 0x7F)) - {"\\"}
_UNQUOTE_ROUNDS = 3


def safe_next(value: str | None, allowed_origins: Iterable[str]) -> str | None:
    """`value` if it is safe to redirect to, else None."""
    if not value or len(value) > _MAX_LENGTH or not set(value) <= _ALLOWED_RAW:
        return None
    # Every decoded form must be as harmless as the value, or a later decoding step (a proxy,
    # a framework) could turn "/%2F%2Fevil.example" or "/%5Cevil.example" into a foreign URL.
    decoded = value
    for _ in range(_UNQUOTE_ROUNDS):
        decoded, previous = unquote(decoded), decoded
        if "\\" in decoded or decoded.startswith("//") or not decoded.isprintable():
            return None
        if decoded == previous:
            break
    else:
        return None
    if value.startswith("/"):
        return value if _local_path(value) else None
    return value if _on_allowed_origin(value, {o.lower() for o in allowed_origins}) else None


def _local_path(value: str) -> bool:
    parts = urlsplit(value)
    return not parts.scheme and not parts.netloc and parts.path.startswith("/")


def _on_allowed_origin(value: str, allowed: set[str]) -> bool:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
        return False
    # The value must spell its origin out in full, followed by a separator: "https:evil.example"
    # and "https:/evil.example" parse without one, and browsers read them their own way.
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    rest = value[len(origin) :]
    spelled_out = value.lower().startswith(origin) and rest[:1] in ("", "/", "?", "#")
    return spelled_out and origin in allowed
