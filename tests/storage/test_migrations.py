"""Migrations build exactly the tables the models describe, and can be undone."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from authsvc.storage.engine import make_engine
from authsvc.storage.migrations import downgrade_database, upgrade_database
from authsvc.storage.models import Base
from tests.helpers.database import execute


def test_migrated_schema_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/roundtrip.db"
    upgrade_database(url)
    downgrade_database(url, "base")
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    engine.dispose()
    upgrade_database(url)
    engine = make_engine(url)
    assert {"users", "sessions", "signing_keys", "audit_events"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()


def test_upgrading_keeps_the_earlier_refresh_token_each_session_remembered(tmp_path: Path) -> None:
    """Sessions rotated before the family table existed still recognise their previous token."""
    url = f"sqlite:///{tmp_path}/families.db"
    upgrade_database(url, "0030")
    execute(
        url,
        "INSERT INTO users (id, username, password_hash, token_version, disabled, roles, "
        "created_at, password_changed_at) VALUES ('u1', 'alice', 'x', 0, false, '[]', "
        "'2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    )
    execute(
        url,
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, idle_expires_at, "
        "absolute_expires_at, refresh_hash, previous_refresh_hash, refreshed_at, remember, state) "
        "VALUES ('s1', 'u1', '2026-01-01 00:00:00', '2026-01-01 00:00:00', '2026-01-02 00:00:00', "
        "'2026-01-02 00:00:00', 'current', 'earlier', '2026-01-01 00:10:00', false, '{}')",
    )
    upgrade_database(url)
    assert execute(url, "SELECT hash, session_id, rotated_at FROM rotated_refresh_tokens") == [
        ("earlier", "s1", "2026-01-01 00:10:00")
    ]
    downgrade_database(url, "0030")
    engine = make_engine(url)
    assert "rotated_refresh_tokens" not in inspect(engine).get_table_names()
    engine.dispose()


def test_the_email_migration_keeps_every_user_and_session_both_ways(tmp_path: Path) -> None:
    """Adding and dropping the address columns must not copy `users`: with foreign keys on,
    dropping the old copy would cascade into the sessions."""
    url = f"sqlite:///{tmp_path}/emails.db"
    upgrade_database(url, "0030")
    now = "2026-01-01 00:00:00"
    execute(
        url,
        "INSERT INTO users (id, username, password_hash, token_version, disabled, roles, "
        "created_at, password_changed_at) VALUES ('u1', 'alice', 'h', 3, false, '[]', :now, :now)",
        now=now,
    )
    execute(
        url,
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, idle_expires_at, "
        "absolute_expires_at, remember, state) VALUES ('s1', 'u1', :now, :now, :now, :now, "
        "false, '{}')",
        now=now,
    )
    upgrade_database(url)
    assert execute(url, "SELECT username, token_version, email FROM users") == [("alice", 3, None)]
    assert execute(url, "SELECT id FROM sessions") == [("s1",)]
    execute(url, "UPDATE users SET email = 'a@example.com', email_key = 'a@example.com'")
    downgrade_database(url, "0030")
    assert execute(url, "SELECT id FROM sessions") == [("s1",)]
    engine = make_engine(url)
    columns = {column["name"] for column in inspect(engine).get_columns("users")}
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert "email" not in columns and "account_tokens" not in tables
