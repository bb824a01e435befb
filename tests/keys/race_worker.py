"""Run in a separate process by test_key_races: one instance's lifecycle step at a given time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from authsvc.config import Settings
from authsvc.keys.encryption import KeyEncryptor
from authsvc.keys.lifecycle import RotationPolicy
from authsvc.keys.refresh import KeyMaintainer
from authsvc.storage.engine import engine_from_settings, make_session_factory


class FixedClock:
    def __init__(self, now: datetime):
        self.current = now

    def now(self) -> datetime:
        return self.current


def advance(settings_values: dict[str, Any], times: list[datetime], barrier: Any) -> None:
    """At each of the times, wait for every racer, then run the due transitions together."""
    settings = Settings(_env_file=None, **settings_values)  # type: ignore[call-arg]
    engine = engine_from_settings(settings)
    try:
        clock = FixedClock(times[0])
        maintainer = KeyMaintainer(
            make_session_factory(engine),
            KeyEncryptor(settings.require_key_encryption_secret()),
            RotationPolicy.from_settings(settings),
            clock,
        )
        for now in times:
            clock.current = now
            barrier.wait(timeout=60)
            maintainer.advance(now)
    finally:
        engine.dispose()
