"""The rows `db_access.py` reads: the `users` table every variant queries, filled the same way in
a SQLite file and in the PostgreSQL database `authsvc_bench` (the only one it touches)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

from harness import BenchmarkFailed
from sqlalchemy import Boolean, Column, Engine, Integer, MetaData, Table, create_engine, insert
from sqlalchemy.engine import make_url

BENCH_DB_NAME = "authsvc_bench"
DEFAULT_POSTGRES_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{BENCH_DB_NAME}"
USER_ROWS = 1000
# The value the hot path compares against; every row carries it so all requests take one branch.
EXPECTED_TOKEN_VERSION = 3

metadata = MetaData()
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("token_version", Integer, nullable=False),
    Column("disabled", Boolean, nullable=False),
)


def _fill_users(engine: Engine) -> None:
    rng = random.Random(1234)
    rows = [
        # User 1 stays enabled so the pre-flight check can insist on {"valid": true}.
        {
            "id": i,
            "token_version": EXPECTED_TOKEN_VERSION,
            "disabled": i > 1 and rng.random() < 0.01,
        }
        for i in range(1, USER_ROWS + 1)
    ]
    with engine.begin() as conn:
        users.drop(conn, checkfirst=True)
        users.create(conn)
        conn.execute(insert(users), rows)


def setup_sqlite(path: Path) -> None:
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        # WAL lets readers on several pooled connections proceed without a shared lock dance.
        conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    _fill_users(engine)
    engine.dispose()


def setup_postgres(url: str) -> str | None:
    """Create `authsvc_bench` if missing and fill its users table; return None when unreachable."""
    import psycopg

    parsed = make_url(url)
    if parsed.database != BENCH_DB_NAME:
        raise BenchmarkFailed(
            f"refusing --postgres-url with database {parsed.database!r}: "
            f"this benchmark only touches a database named {BENCH_DB_NAME!r}"
        )
    admin = parsed.set(drivername="postgresql", database="postgres")
    conninfo = admin.render_as_string(hide_password=False)
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB_NAME,)
            ).fetchone()
            if exists is None:
                conn.execute(f'CREATE DATABASE "{BENCH_DB_NAME}"')
    except psycopg.OperationalError as exc:
        print(
            f"PostgreSQL unreachable, skipping its variants: {exc}".strip(),
            file=sys.stderr,
            flush=True,
        )
        return None
    engine = create_engine(url)
    _fill_users(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE users")
        version = conn.exec_driver_sql("SHOW server_version").scalar_one()
    engine.dispose()
    return str(version)
