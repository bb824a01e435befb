"""Ended and expired sessions and old audit events are purged: by the CLI and periodically."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from authsvc.storage.engine import make_engine
from authsvc.storage.models import AuditEvent
from authsvc.storage.models import Session as SessionRow
from tests.helpers.cli import cli_env, run_cli
from tests.helpers.clock import FakeClock
from tests.helpers.fixture_types import ClientFactory, DbQuery, MakeSettings, MakeUser
from tests.helpers.headers import bearer
from tests.helpers.sessions import Device


def age_rows(database_url: str, days: int) -> None:
    """Make every session and audit event so far `days` old (as if that time had passed)."""
    past = datetime.now(UTC) - timedelta(days=days)
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            update(SessionRow).values(
                created_at=past, last_used_at=past, idle_expires_at=past, absolute_expires_at=past
            )
        )
        connection.execute(update(AuditEvent).values(at=past))
    engine.dispose()


async def test_periodic_purge_removes_old_sessions_and_keeps_live_ones(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    db_query: DbQuery,
    clock: FakeClock,
) -> None:
    make_user()
    settings = make_settings(purge_interval_seconds=3600, audit_retention_days=30)
    async with client_factory(settings) as client:
        ended, expired, alive = Device(client), Device(client), Device(client)
        await ended.login()
        await expired.login()
        await client.post("/logout", headers=bearer(ended.access))
        clock.advance(8 * 86400 + 60)  # past the 8 h absolute limit and the 7-day retention
        await alive.login(remember=True)
        alive_sid = db_query("SELECT id FROM sessions ORDER BY created_at DESC")[0].id
    assert len(db_query("SELECT id FROM sessions")) == 3
    # A restart purges at once (and then every interval).
    async with client_factory(settings):
        pass
    assert [row.id for row in db_query("SELECT id FROM sessions")] == [alive_sid]
    assert db_query("SELECT id FROM audit_events")  # recent events are kept


async def test_purge_interval_zero_turns_it_off(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    db_query: DbQuery,
    clock: FakeClock,
) -> None:
    make_user()
    settings = make_settings(purge_interval_seconds=0)
    async with client_factory(settings) as client:
        await Device(client).login()
    clock.advance(30 * 86400)
    async with client_factory(settings):
        pass
    assert len(db_query("SELECT id FROM sessions")) == 1


async def test_cli_purge(
    client_factory: ClientFactory,
    make_settings: MakeSettings,
    make_user: MakeUser,
    db_query: DbQuery,
    database_url: str,
) -> None:
    make_user()
    async with client_factory(make_settings(purge_interval_seconds=0)) as client:
        old, new = Device(client), Device(client)
        await old.login()
        age_rows(database_url, days=100)
        await new.login()
    result = run_cli("sessions", "purge", env=cli_env(database_url))
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    assert counts["sessions"] == 1 and counts["audit_events"] >= 1
    assert len(db_query("SELECT id FROM sessions")) == 1
    remaining = db_query("SELECT event FROM audit_events")
    assert [row.event for row in remaining] == ["login_success"]
