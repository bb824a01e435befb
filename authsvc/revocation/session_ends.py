"""The ended-session message kind, carried on the token-version channels.

A session ended without a token-version bump (a logout, a device signed out, a replaced or
single-session login) is announced on the token-version channel as `"session:<sid> 0"`: the
shape of a version announcement, so that it takes its number in the Redis sequence like any
other, and a listener from before this kind reads it as the version of a user who does not exist
(user ids are UUIDs), which is harmless. Like every announcement it carries no authority: a
listener believes it only once the database shows the session ended.
"""

from __future__ import annotations

SESSION_PREFIX = "session:"


def encode_session_end(session_id: str) -> str:
    return f"{SESSION_PREFIX}{session_id} 0"


def ended_session_id(announced_user_id: str) -> str | None:
    """The session an announcement names, when it is of this kind."""
    if announced_user_id.startswith(SESSION_PREFIX):
        return announced_user_id[len(SESSION_PREFIX) :] or None
    return None
