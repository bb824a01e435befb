"""The push protocol: channel names, payload formats, and what listeners and handlers offer.

authsvc announces two kinds of change. PostgreSQL carries each as a NOTIFY inside the changing
transaction, delivered exactly when (and only if) it commits; Redis, when configured, carries it
as a PUBLISH right after the commit.

* Token-version bumps: `"<user_id> <token_version>"` on `authsvc_token_version` (PostgreSQL) and
  `authsvc:token_version` (Redis). On Redis each announcement also carries its place in a
  sequence, `"<user_id> <token_version> <db>:<seq>"`: `seq` comes from the counter
  `authsvc:token_version:seq` in Redis database `db`, incremented by the same script that
  publishes, so a listener that finds a number missing (in the messages, or against the counter
  it reads every `sequence_check_seconds`) knows an announcement was lost. A publisher that
  fails to publish increments the counter alone, so the loss shows as a gap too.
* Signing-key changes (rotation, activation, retirement, revocation): `"<kid> <state>"` on
  `authsvc_signing_keys` and `authsvc:signing_keys`. On SQLite, which has no channel, a watcher
  asks the database's change counter (`PRAGMA data_version`) and reports the keys that changed.

A listener runs in a daemon thread, reports `channel_up` once it is subscribed and a probe of its
own has come back (`thread.py`), each announcement as it arrives, and `channel_down` the moment
the connection fails or its probes stop coming back, then reconnects with exponential backoff.
Anything that caches what is announced must stop trusting itself between a `channel_down` and
the next `channel_up`: announcements made in that gap are lost. A sequence gap on Redis is
reported the same way, as `channel_down` then `channel_up`.

psycopg and redis are imported by the listeners that use them, so the verifier installs without
either (they come with the `postgres` and `redis` extras).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

PG_CHANNEL = "authsvc_token_version"
REDIS_CHANNEL = "authsvc:token_version"
REDIS_SEQUENCE_KEY = "authsvc:token_version:seq"
PG_KEY_CHANNEL = "authsvc_signing_keys"
REDIS_KEY_CHANNEL = "authsvc:signing_keys"
# A user id is a UUID and a version a small integer; anything longer is not ours.
_MAX_PAYLOAD = 128

logger = logging.getLogger("authsvc.verify.push")


@dataclass(frozen=True)
class Announcement:
    """A token-version bump as announced; `sequence` is (Redis db, number) when it has one."""

    user_id: str
    version: int
    sequence: tuple[int, int] | None = None


def encode_payload(user_id: str, version: int) -> str:
    return f"{user_id} {version}"


def decode_announcement(payload: str | bytes) -> Announcement | None:
    """The announcement in a payload, with or without a sequence; None when it is malformed."""
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", errors="replace")
    if len(payload) > _MAX_PAYLOAD:
        return None
    parts = payload.split(" ")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1].isdigit():
        return None
    if len(parts) == 2:
        return Announcement(parts[0], int(parts[1]))
    db, _, number = parts[2].partition(":")
    if not db.isdigit() or not number.isdigit():
        return None
    return Announcement(parts[0], int(parts[1]), (int(db), int(number)))


def decode_payload(payload: str | bytes) -> tuple[str, int] | None:
    """The (user id, version) of an announcement, or None when it is malformed."""
    announcement = decode_announcement(payload)
    return None if announcement is None else (announcement.user_id, announcement.version)


def encode_key_change(kid: str, state: str) -> str:
    return f"{kid} {state}"


def decode_key_change(payload: str | bytes) -> tuple[str, str] | None:
    if isinstance(payload, bytes):
        payload = payload.decode("utf-8", errors="replace")
    kid, _, state = payload.partition(" ")
    if not kid or not state or len(payload) > _MAX_PAYLOAD:
        return None
    return kid, state


class ChannelHandler(Protocol):
    """Told when a channel comes up and when it is lost; called from the listener's thread."""

    def channel_up(self) -> None: ...

    def channel_down(self) -> None: ...


class PushHandler(ChannelHandler, Protocol):
    """Receives token-version announcements."""

    def version_changed(self, user_id: str, version: int) -> None: ...


class KeyChangeHandler(ChannelHandler, Protocol):
    """Receives signing-key announcements."""

    def keys_changed(self, kid: str, state: str) -> None: ...


class PushListener(Protocol):
    def start(self, handler: PushHandler) -> None: ...

    def stop(self) -> None: ...


class KeyChangeListener(Protocol):
    def start(self, handler: KeyChangeHandler) -> None: ...

    def stop(self) -> None: ...
