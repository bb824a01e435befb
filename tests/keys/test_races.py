"""Two processes on one database make each key transition exactly once."""

from __future__ import annotations

import multiprocessing
from datetime import timedelta

from authsvc.runtime import Runtime
from tests.helpers.clock import FakeClock
from tests.helpers.defaults import TEST_SECRET
from tests.helpers.fixture_types import DbQuery, MakeSettings
from tests.helpers.key_race import advance

PROCESSES = 2


def test_racing_instances_start_one_scheduled_rotation_and_activate_it_once(
    database_url: str,
    make_settings: MakeSettings,
    db_query: DbQuery,
    clock: FakeClock,
) -> None:
    values = {
        "database_url": database_url,
        "key_encryption_secret": TEST_SECRET,
        "key_rotation_days": 1,
        "database_pool_size": 1,
    }
    settings = make_settings(**values)
    Runtime.start(settings, clock=clock).close()
    (first,) = db_query("SELECT kid FROM signing_keys")

    # Both processes find the key a day old at the same moment, then find the successor due.
    rotation_due = clock.now() + timedelta(days=1, seconds=1)
    activation_due = rotation_due + timedelta(seconds=settings.key_publish_ahead)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(PROCESSES)
    workers = [
        context.Process(target=advance, args=(values, [rotation_due, activation_due], barrier))
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0

    rows = db_query("SELECT kid, state FROM signing_keys ORDER BY created_at")
    assert len(rows) == 2, "exactly one rotation was started"
    assert rows == [(first[0], "retiring"), (rows[1][0], "active")]
    events = db_query("SELECT event FROM audit_events WHERE event LIKE 'key_%' ORDER BY id")
    assert [event for (event,) in events] == ["key_created", "key_rotated", "key_activated"]
