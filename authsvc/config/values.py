"""The value types settings take: closed choices, lists written comma-separated, rate limits."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, TypeVar

import limits
from pydantic import BeforeValidator
from pydantic_settings import NoDecode

T = TypeVar("T")


def _split_commas(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


# pydantic-settings would read a list variable as JSON; NoDecode hands the raw string to the
# splitter instead, so operators write `a,b` and blanks around or between commas are dropped.
CommaSeparated = Annotated[list[T], NoDecode, BeforeValidator(_split_commas)]


def parse_limits(text: str) -> list[limits.RateLimitItem]:
    """A rate limit such as "5/minute;20/hour", parsed by the `limits` library; what would
    disable the limit (empty, zero or unreadable) is refused."""
    try:
        items = limits.parse_many(text)
    except ValueError as exc:
        example = "'100/hour' or '5/minute;20/hour'"
        raise ValueError(f"{text!r} is not a rate limit like {example}") from exc
    if not items or any(item.amount < 1 for item in items):
        raise ValueError(f"{text!r} must allow at least one attempt per window")
    return items


class CookieSecure(StrEnum):
    true = "true"
    false = "false"
    # Follow the request scheme (X-Forwarded-Proto only from trusted proxies).
    auto = "auto"


class SameSite(StrEnum):
    lax = "lax"
    strict = "strict"
    none = "none"


class SigningAlgorithm(StrEnum):
    ES256 = "ES256"
    EdDSA = "EdDSA"
    RS256 = "RS256"


class SingleSession(StrEnum):
    off = "off"
    # A new login ends every other session of the user at once (token version bump).
    newest = "newest"
    # A login while another session is alive is refused with 409.
    deny = "deny"


class Registration(StrEnum):
    closed = "closed"
    open = "open"


class TokenVersionCache(StrEnum):
    # The exact cache the database allows: `sqlite` on a SQLite file, `postgres` on PostgreSQL.
    auto = "auto"
    # Remembered until the database's change counter moves (any commit, by any process).
    sqlite = "sqlite"
    # Read the user's row on every request: a revocation is seen by the very next request.
    off = "off"
    # LISTEN/NOTIFY on the PostgreSQL database: sent in the bumping transaction itself.
    postgres = "postgres"
    # Pub/sub on AUTHSVC_REDIS_URL: published right after the bumping transaction commits.
    redis = "redis"


class AccessLog(StrEnum):
    # A line for every request.
    all = "all"
    # A line for every refused or failed request (status 400 and above).
    errors = "errors"
    off = "off"


class LogFormat(StrEnum):
    json = "json"
    text = "text"


LogLevel = Literal["critical", "error", "warning", "info", "debug"]
