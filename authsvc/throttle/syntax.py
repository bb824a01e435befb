"""Rate-limit strings such as "5/minute;20/hour", parsed by the `limits` library."""

from __future__ import annotations

import limits


def parse_limits(text: str) -> list[limits.RateLimitItem]:
    """Parse and refuse what would disable the limit (empty, zero or unreadable)."""
    try:
        items = limits.parse_many(text)
    except ValueError as exc:
        example = "'100/hour' or '5/minute;20/hour'"
        raise ValueError(f"{text!r} is not a rate limit like {example}") from exc
    if not items or any(item.amount < 1 for item in items):
        raise ValueError(f"{text!r} must allow at least one attempt per window")
    return items
