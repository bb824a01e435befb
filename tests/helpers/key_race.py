"""Run in child processes by tests/keys/test_races.py: one instance's key lifecycle steps, each
at a given time, all racers released together."""

from __future__ import annotations

from datetime import datetime
from multiprocessing.synchronize import Barrier
from typing import Any

from authsvc.config import Settings
from authsvc.keys.encryption import KeyEncryptor
from authsvc.keys.lifecycle import RotationPolicy
from authsvc.keys.refresh import KeyMaintainer
from authsvc.storage.engine import engine_from_settings, make_session_factory
from tests.helpers.clock import FakeClock


def advance(settings_values: dict[str, Any], times: list[datetime], barrier: Barrier) -> None:
    """At each of the times, wait for every racer, then run the due transitions together."""
    settings = Settings(_env_file=None, **settings_values)
    engine = engine_from_settings(settings)
    try:
        clock = FakeClock(times[0])
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
