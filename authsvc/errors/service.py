"""Errors no client sees: settings, start-up, stored keys and push channels."""

from __future__ import annotations


class MissingSetting(Exception):
    """A setting this command needs is not configured."""


class StartupError(Exception):
    """The service cannot start; the message says what the operator must do."""


class DatabaseNotReady(StartupError):
    """The database cannot be used yet: unreachable, or its schema not migrated."""


class KeyDecryptionError(Exception):
    """The key-encryption secret does not open a stored key."""


class RaceLost(Exception):
    """Another instance made this key transition first; roll back and reload."""


class ChannelDeaf(Exception):
    """A push channel is subscribed yet delivers nothing: its own probe did not come back."""
