"""GET /session with each cache on and off, a lost push channel and 20,000 tokens, same run.

Usage:
    python benchmarks/uncached.py [--seconds 5] [--connections 32] [--rounds 1] [--no-postgres]

For SQLite (a fresh file) and, when PostgreSQL answers on 127.0.0.1:5432, PostgreSQL (the
database `authsvc_bench_uncached_<pid>`, created and dropped; the peer's `..._peer_<pid>` too),
one `authsvc serve`-equivalent uvicorn worker per configuration, pinned to core 0, wrk on core 1,
each `GET /session` row against the same server's `/healthz`, measured in turn:

* warm: the token seen before (verified-token cache) and its user's version remembered
  (token-version cache): the figure every one-token benchmark measures;
* signature every call: AUTHSVC_VERIFIED_TOKEN_CACHE_SIZE=0, the version still remembered;
* both off: AUTHSVC_VERIFIED_TOKEN_CACHE_SIZE=0 and AUTHSVC_TOKEN_VERSION_CACHE=off, a signature
  check and a row read per call: what a first use costs, and what `off` costs;
* 20,000 tokens of 1,000 users in rotation (wrk with benchmarks/rotate_tokens.lua, bearer
  tokens), twice what the verified-token cache holds: every call checks a signature, versions
  and identities stay remembered;
* PostgreSQL only: the warm server while the push listener's connection is killed
  (pg_terminate_backend) every 100 ms, so that the cache is emptied and ignored for most of the
  run and every check reads the row; no request may fail.

And fastapi-users' GET /users/me (benchmarks/peers.py's app; aiosqlite on SQLite, asyncpg on
PostgreSQL) against the both-off row. Every request must succeed: a non-2xx answer or socket
error fails the run. Ends with one `goal:` line per target.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from goals import goal_line
from harness import (
    SERVER_CORE,
    BenchmarkFailed,
    authsvc_command,
    authsvc_env,
    expect,
    free_port,
    pinned,
    server,
    uvicorn_options,
    wrk,
)
from peers import peer_environment, uvicorn_command
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PASSWORD = "a long passphrase for load tests 0123"
HERE = Path(__file__).resolve().parent
# One issuer for every server of the run, whatever its port, so that the minted tokens pass.
ISSUER = "http://authsvc.bench"
USERS = 1_000
TOKENS = 20_000
CONFIGURATIONS = {
    "warm": {},
    "signature every call": {"AUTHSVC_VERIFIED_TOKEN_CACHE_SIZE": "0"},
    "both caches off": {
        "AUTHSVC_VERIFIED_TOKEN_CACHE_SIZE": "0",
        "AUTHSVC_TOKEN_VERSION_CACHE": "off",
    },
}
# Targets per database: the check's share of /healthz, and the uncached check over the peer.
HEALTHZ_TARGETS: dict[str, float | dict[str, float]] = {
    "warm": 0.7,
    "signature every call": 0.4,
    "both caches off": {"SQLite": 0.3, "PostgreSQL": 0.2},
    "20,000 tokens in rotation": 0.3,
    "push listener killed every 100 ms": 0.2,
}
PEER_TARGET = {"SQLite": 3.0, "PostgreSQL": 2.5}


def create_database(url: str) -> bool:
    parsed = make_url(url)
    try:
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    except Exception as exc:  # no server: the PostgreSQL rows are skipped
        print(f"PostgreSQL skipped: {type(exc).__name__}")
        return False
    return True


def drop_database(url: str) -> None:
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def add_users(database_url: str) -> list[str]:
    """`bench` (made by the CLI) and USERS - 1 more with its password hash; their ids."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        bench = connection.execute(text("SELECT * FROM users WHERE username = 'bench'")).mappings()
        template = dict(next(iter(bench)))
        rows = []
        for number in range(1, USERS):
            row = dict(template, id=str(uuid.uuid4()), username=f"bench{number}")
            row["email"] = row["email_key"] = None
            rows.append(row)
        columns = ", ".join(template)
        values = ", ".join(f":{name}" for name in template)
        connection.execute(text(f"INSERT INTO users ({columns}) VALUES ({values})"), rows)
        ids = [row[0] for row in connection.execute(text("SELECT id FROM users"))]
    engine.dispose()
    return ids


def mint_tokens(database_url: str, path: Path) -> None:
    """TOKENS access tokens, TOKENS / USERS per user, signed by the server's active key."""
    os.environ.update(
        authsvc_env(database_url, 8000, AUTHSVC_TOKEN_VERSION_CACHE="off", AUTHSVC_ISSUER=ISSUER)
    )
    from authsvc.config import Settings
    from authsvc.runtime import Runtime
    from authsvc.storage.models import User

    runtime = Runtime.start(Settings(_env_file=None))
    try:
        now = datetime.now(UTC)
        with runtime.session_factory() as db:
            users = list(db.query(User))
        with path.open("w") as out:
            for number in range(TOKENS):
                user = users[number % len(users)]
                issued = runtime.issuer.issue(user, str(uuid.uuid4()), {}, now=now)
                out.write(issued.token + "\n")
    finally:
        runtime.close()


@contextmanager
def killing_listeners(database_url: str, every: float) -> Iterator[list[int]]:
    """Terminate the push listener's backend every `every` seconds until the block ends."""
    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    kills: list[int] = []
    stop = threading.Event()

    def kill() -> None:
        with engine.connect() as connection:
            while not stop.wait(every):
                killed = connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() "
                        "AND application_name LIKE 'authsvc-token-version-cache-%'"
                    )
                ).all()
                kills.append(len(killed))

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    try:
        yield kills
    finally:
        stop.set()
        thread.join()
        engine.dispose()


def login_cookie(base: str) -> str:
    login = expect(
        httpx.post(f"{base}/login", json={"username": "bench", "password": PASSWORD}, timeout=60),
        200,
        what="the benchmark user's login",
    )
    return "; ".join(f"{name}={login.cookies[name]}" for name in ("authsvc_at", "authsvc_csrf"))


def serve(env: dict[str, str]) -> tuple[list[str], int, dict[str, str]]:
    port = free_port()
    env = {**env, "AUTHSVC_PORT": str(port)}
    command = pinned(
        SERVER_CORE,
        [
            sys.executable, "-m", "uvicorn", "authsvc.app:create_app_from_environment",
            "--factory", "--host=127.0.0.1", f"--port={port}", *uvicorn_options(),
        ],
    )  # fmt: skip
    return command, port, env


def measure(
    database: str, url: str, args: argparse.Namespace, workdir: Path, peer_python: Path | None
) -> dict[str, tuple[float, float]]:
    """(GET /session req/s, the same server's /healthz req/s) per row."""
    env = authsvc_env(url, 8000, AUTHSVC_LOGIN_THROTTLE_ENABLED="false", AUTHSVC_ISSUER=ISSUER)
    authsvc_command("db", "upgrade", env=env)
    authsvc_command("users", "create", "bench", "--password-stdin", env=env, stdin=PASSWORD)
    add_users(url)
    tokens = workdir / f"tokens-{database}.txt"
    mint_tokens(url, tokens)
    rows: dict[str, tuple[float, float]] = {}
    for name, extra in CONFIGURATIONS.items():
        command, port, server_env = serve({**env, **extra})
        log = workdir / f"{database}-{name.replace(' ', '-')}.log"
        with server(command, port=port, env=server_env, ready="/readyz", log=log) as base:
            cookie = login_cookie(base)
            expect(httpx.get(f"{base}/session", headers={"Cookie": cookie}), 200, what=name)
            wrk(f"{base}/session", cookie=cookie, seconds=1, connections=args.connections)
            session = healthz = 0.0
            for _ in range(args.rounds):
                healthz += wrk(
                    f"{base}/healthz",
                    cookie=cookie,
                    seconds=args.seconds,
                    connections=args.connections,
                ).rps
                session += wrk(
                    f"{base}/session",
                    cookie=cookie,
                    seconds=args.seconds,
                    connections=args.connections,
                ).rps
            rows[name] = (session / args.rounds, healthz / args.rounds)
            if name != "warm":
                continue
            script, script_args = HERE / "rotate_tokens.lua", [str(tokens)]
            # A first pass remembers the 1,000 users' versions and identities, as a running
            # service has; the signatures stay uncached (20,000 tokens, 10,000 remembered).
            for seconds in (1, args.seconds):
                rotation = wrk(
                    f"{base}/session",
                    cookie=cookie,
                    seconds=seconds,
                    connections=args.connections,
                    script=script,
                    script_args=script_args,
                )
            rows["20,000 tokens in rotation"] = (rotation.rps, rows[name][1])
            if database == "PostgreSQL":
                with killing_listeners(url, 0.1) as kills:
                    down = wrk(
                        f"{base}/session",
                        cookie=cookie,
                        seconds=args.seconds,
                        connections=args.connections,
                    )
                losses = _metric(base, "authsvc_token_version_cache_channel_losses_total")
                print(f"PostgreSQL: {sum(kills)} listener connections killed, {losses:.0f} losses")
                rows["push listener killed every 100 ms"] = (down.rps, rows[name][1])
    if peer_python is not None:
        rows["fastapi-users GET /users/me"] = (_peer(database, url, args, workdir, peer_python), 0)
    return rows


def _metric(base: str, name: str) -> float:
    for line in httpx.get(f"{base}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise BenchmarkFailed(f"/metrics has no {name}")


def _peer(database: str, url: str, args: argparse.Namespace, workdir: Path, python: Path) -> float:
    if database == "PostgreSQL":
        peer_url = make_url(url).set(database=f"{make_url(url).database}_peer")
        create_database(peer_url.render_as_string(hide_password=False))
        peer_database = peer_url.set(drivername="postgresql+asyncpg")
        database_url = peer_database.render_as_string(hide_password=False)
    else:
        database_url = f"sqlite+aiosqlite:///{workdir / 'peer.db'}"
    port = free_port()
    command = uvicorn_command(str(python), "peer_app:create_app", port, f"--app-dir={workdir}")
    env = {**os.environ, "PEER_DATABASE_URL": database_url}
    try:
        with server(
            command, port=port, env=env, ready="/ready", log=workdir / f"peer-{database}.log"
        ) as peer:
            expect(
                httpx.post(
                    f"{peer}/auth/register",
                    json={"email": "bench@example.com", "password": PASSWORD},
                    timeout=60,
                ),
                201,
                what="fastapi-users register",
            )
            login = expect(
                httpx.post(
                    f"{peer}/auth/cookie/login",
                    data={"username": "bench@example.com", "password": PASSWORD},
                    timeout=60,
                ),
                204,
                what="fastapi-users cookie login",
            )
            cookie = f"fastapiusersauth={login.cookies['fastapiusersauth']}"
            me = f"{peer}/users/me"
            wrk(me, cookie=cookie, seconds=1, connections=args.connections)
            rounds: int = args.rounds
            total = sum(
                wrk(me, cookie=cookie, seconds=args.seconds, connections=args.connections).rps
                for _ in range(rounds)
            )
            return total / rounds
    finally:
        if database == "PostgreSQL":
            drop_database(peer_url.render_as_string(hide_password=False))


def report(database: str, rows: dict[str, tuple[float, float]]) -> list[str]:
    goals = []
    for name, (rps, healthz) in rows.items():
        if not healthz:
            continue
        print(f"| {database} | {name} | {rps:,.0f} | {healthz:,.0f} | {rps / healthz:.2f}× |")
        given = HEALTHZ_TARGETS[name]
        target = given[database] if isinstance(given, dict) else given
        goals.append(
            goal_line(
                f"{database} GET /session, {name} / GET /healthz", rps / healthz, ">=", target
            )
        )
    peer = rows.get("fastapi-users GET /users/me")
    if peer is not None:
        uncached = rows["both caches off"][0]
        print(f"| {database} | fastapi-users GET /users/me | {peer[0]:,.0f} | | |")
        goals.append(
            goal_line(
                f"{database} GET /session, both caches off / fastapi-users GET /users/me",
                uncached / peer[0],
                ">=",
                PEER_TARGET[database],
            )
        )
    return goals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--no-peer", action="store_true", help="skip fastapi-users")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="authsvc-bench-uncached-"))
    peer_python = None if args.no_peer else peer_environment(workdir)
    databases = {} if args.no_sqlite else {"SQLite": f"sqlite:///{workdir / 'authsvc.db'}"}
    postgres = f"postgresql+psycopg://postgres@127.0.0.1:5432/authsvc_bench_uncached_{os.getpid()}"
    if not args.no_postgres and create_database(postgres):
        databases["PostgreSQL"] = postgres
    goals: list[str] = []
    print(
        f"one uvicorn worker per row on core {SERVER_CORE}; wrk -c{args.connections} on the other"
    )
    print("| database | GET /session | req/s | /healthz req/s | ÷ /healthz |")
    print("|---|---|---:|---:|---:|")
    try:
        for database, url in databases.items():
            started = time.monotonic()
            goals += report(database, measure(database, url, args, workdir, peer_python))
            print(f"({database}: {time.monotonic() - started:.0f} s)", file=sys.stderr)
    finally:
        if "PostgreSQL" in databases:
            drop_database(postgres)
    print()
    print("\n".join(goals))


if __name__ == "__main__":
    main()
