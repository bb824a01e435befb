"""Benchmark sync vs async SQLAlchemy for the hot-path primary-key read on SQLite and PostgreSQL.

Usage:
    python benchmarks/db_access.py [--seconds N] [--connections C] [--rounds R]
                                   [--postgres-url URL | --no-postgres] [--loadgen auto|wrk|httpx]

Needs fastapi, uvicorn, sqlalchemy>=2, psycopg[binary] (all main project deps) plus aiosqlite
(`pip install aiosqlite`); SQLAlchemy 2.1 no longer pulls in greenlet, which its asyncio
extension needs, so also `pip install "sqlalchemy[asyncio]"` there. The load generator is wrk
when on PATH (Debian: `apt-get install -y wrk`), else a bounded httpx client (httpx is a dev dep).

The script starts one uvicorn server (a subprocess, 127.0.0.1 only, stopped by its PID) that
serves every variant, so the no-database baseline is measured in the same process and run:

    /healthz            baseline, no database
    /sync/sqlite/{id}   plain `def` endpoint (threadpool) + create_engine("sqlite:///...")
    /async/sqlite/{id}  `async def` endpoint + create_async_engine("sqlite+aiosqlite:///...")
    /sync/pg/{id}       plain `def` endpoint + create_engine("postgresql+psycopg://...")
    /async/pg/{id}      `async def` endpoint + create_async_engine("postgresql+psycopg://...")

PostgreSQL: only the database named `authsvc_bench` is used; it is created when missing and
only its `users` table is (re)created. Nothing else is dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Integer,
    MetaData,
    Table,
    create_engine,
    insert,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.orm import sessionmaker

BENCH_DB_NAME = "authsvc_bench"
DEFAULT_POSTGRES_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{BENCH_DB_NAME}"
USER_ROWS = 1000
# The value the hot path compares against; every row carries it so all requests take one branch.
EXPECTED_TOKEN_VERSION = 3


class BenchmarkError(RuntimeError):
    """The benchmark could not produce a trustworthy number."""


def fail(message: str) -> NoReturn:
    raise BenchmarkError(message)


metadata = MetaData()
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("token_version", Integer, nullable=False),
    Column("disabled", Boolean, nullable=False),
)


# ---------------------------------------------------------------------------------------------
# Server side (runs in the uvicorn subprocess via --serve)
# ---------------------------------------------------------------------------------------------


def _hot_statement(user_id: int) -> Any:
    return select(users.c.token_version, users.c.disabled).where(users.c.id == user_id)


def _verdict(row: Any) -> dict[str, bool]:
    if row is None:
        return {"valid": False}
    return {"valid": row.token_version == EXPECTED_TOKEN_VERSION and not row.disabled}


def build_app(
    sqlite_path: str, postgres_url: str | None, pool_size: int, max_overflow: int, pre_ping: bool
) -> Any:
    from fastapi import FastAPI, HTTPException

    pool_args: dict[str, Any] = {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_pre_ping": pre_ping,
    }
    sync_engines: dict[str, Engine] = {
        "sqlite": create_engine(f"sqlite:///{sqlite_path}", **pool_args)
    }
    async_engines: dict[str, AsyncEngine] = {
        "sqlite": create_async_engine(f"sqlite+aiosqlite:///{sqlite_path}", **pool_args)
    }
    if postgres_url is not None:
        sync_engines["pg"] = create_engine(postgres_url, **pool_args)
        async_engines["pg"] = create_async_engine(postgres_url, **pool_args)
    # A request-scoped ORM Session is what the service's dependencies hand out, so its
    # begin/rollback overhead belongs in the measurement, not just a bare connection.
    sync_makers = {k: sessionmaker(e, expire_on_commit=False) for k, e in sync_engines.items()}
    async_makers = {
        k: async_sessionmaker(e, expire_on_commit=False) for k, e in async_engines.items()
    }

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        for engine in sync_engines.values():
            engine.dispose()
        for aengine in async_engines.values():
            await aengine.dispose()

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/sync/{db}/{user_id}")
    def sync_read(db: str, user_id: int) -> dict[str, bool]:
        maker = sync_makers.get(db)
        if maker is None:
            raise HTTPException(404)
        with maker() as session:
            row = session.execute(_hot_statement(user_id)).one_or_none()
        return _verdict(row)

    @app.get("/async/{db}/{user_id}")
    async def async_read(db: str, user_id: int) -> dict[str, bool]:
        maker = async_makers.get(db)
        if maker is None:
            raise HTTPException(404)
        async with maker() as session:
            row = (await session.execute(_hot_statement(user_id))).one_or_none()
        return _verdict(row)

    return app


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    app = build_app(
        args.sqlite_path, args.postgres_url, args.pool_size, args.max_overflow, args.pre_ping
    )
    # One worker on purpose: the question is per-process efficiency, and two cores are shared
    # with the load generator and PostgreSQL.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


# ---------------------------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------------------------


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
        fail(
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
        log(f"PostgreSQL unreachable, skipping its variants: {exc}".strip())
        return None
    engine = create_engine(url)
    _fill_users(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE users")
        version = conn.exec_driver_sql("SHOW server_version").scalar_one()
    engine.dispose()
    return str(version)


# ---------------------------------------------------------------------------------------------
# Server process management
# ---------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_server(
    sqlite_path: Path, postgres_url: str | None, pool_size: int, max_overflow: int, pre_ping: bool
) -> Iterator[str]:
    port = free_port()
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve",
        "--port",
        str(port),
        "--sqlite-path",
        str(sqlite_path),
        "--pool-size",
        str(pool_size),
        "--max-overflow",
        str(max_overflow),
    ]
    if pre_ping:
        cmd += ["--pre-ping"]
    if postgres_url is not None:
        cmd += ["--postgres-url", postgres_url]
    else:
        cmd += ["--no-postgres"]
    proc = subprocess.Popen(cmd)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                fail(f"server exited early with code {proc.returncode}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                fail("server did not become ready within 30 s")
            time.sleep(0.1)
        yield base
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def check_endpoint(url: str) -> None:
    # A broken variant would otherwise show up as a suspiciously fast row of 404s/500s.
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.loads(resp.read())
    if body not in ({"valid": True}, {"status": "ok"}):
        fail(f"unexpected response from {url}: {body}")


# ---------------------------------------------------------------------------------------------
# Load generation
# ---------------------------------------------------------------------------------------------


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


@dataclass
class Variant:
    name: str
    path: str  # a trailing "/" means a random user id 1..USER_ROWS is appended per request
    results: list[Result] = field(default_factory=list)


WRK_LUA = """
local prefix = "%s"
math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
request = function()
  local path = prefix
  if path:sub(-1) == "/" then path = path .. math.random(1, %d) end
  return wrk.format("GET", path)
end
"""

_LATENCY_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _wrk_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if match is None:
        fail(f"unparseable wrk latency {text!r}")
    return float(match.group(1)) * _LATENCY_UNITS_MS[match.group(2)]


def _grab(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        fail(f"wrk output lacks {pattern!r}:\n{text}")
    return match.group(1)


def run_wrk(
    wrk: str, base: str, path: str, seconds: float, connections: int, threads: int
) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_LUA % (path, USER_ROWS))
    try:
        proc = subprocess.run(
            [
                wrk,
                f"-t{threads}",
                f"-c{connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "--latency",
                "-s",
                script.name,
                base,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        )
    finally:
        os.unlink(script.name)
    out = proc.stdout
    rps = float(_grab(r"Requests/sec:\s+([\d.]+)", out))
    total = int(_grab(r"(\d+) requests in", out))
    p50 = _wrk_ms(_grab(r"^\s+50%\s+(\S+)", out))
    p99 = _wrk_ms(_grab(r"^\s+99%\s+(\S+)", out))
    errors = 0
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out):
        errors += int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        errors += sum(int(g) for g in m.groups())
    return Result(rps=rps, p50_ms=p50, p99_ms=p99, requests=total, errors=errors)


async def _httpx_load(base: str, path: str, seconds: float, connections: int) -> Result:
    import httpx

    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    rng = random.Random()

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            url = path + str(rng.randint(1, USER_ROWS)) if path.endswith("/") else path
            start = time.perf_counter()
            try:
                resp = await client.get(url)
                if resp.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append(time.perf_counter() - start)

    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=10) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(connections)))
        elapsed = time.perf_counter() - began
    if len(latencies) < 2:
        fail(f"httpx load generator completed only {len(latencies)} request(s)")
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return Result(
        rps=len(latencies) / elapsed,
        p50_ms=q[49] * 1000,
        p99_ms=q[98] * 1000,
        requests=len(latencies),
        errors=errors,
    )


def run_httpx(base: str, path: str, seconds: float, connections: int) -> Result:
    return asyncio.run(_httpx_load(base, path, seconds, connections))


# ---------------------------------------------------------------------------------------------
# Orchestration and report
# ---------------------------------------------------------------------------------------------


def log(message: str) -> None:
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def render_table(variants: list[Variant], baseline_rps: float) -> str:
    lines = [
        "| variant | endpoint | req/s | vs baseline | p50 ms | p99 ms | requests | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for v in variants:
        if not v.results:
            continue
        # Median across rounds so one noisy round on a shared 2-core box does not decide it.
        rps = statistics.median(r.rps for r in v.results)
        p50 = statistics.median(r.p50_ms for r in v.results)
        p99 = statistics.median(r.p99_ms for r in v.results)
        reqs = sum(r.requests for r in v.results)
        errs = sum(r.errors for r in v.results)
        endpoint = v.path + "{id}" if v.path.endswith("/") else v.path
        lines.append(
            f"| {v.name} | `{endpoint}` | {rps:,.0f} | {rps / baseline_rps:.2f} | "
            f"{p50:.2f} | {p99:.2f} | {reqs:,} | {errs} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per variant")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured time per variant")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every variant R times")
    parser.add_argument("--pool-size", type=int, default=10, help="SQLAlchemy pool_size")
    parser.add_argument("--max-overflow", type=int, default=10, help="SQLAlchemy max_overflow")
    parser.add_argument(
        "--pre-ping",
        action="store_true",
        help="pool_pre_ping=True like authsvc.db.make_engine (a round trip per checkout)",
    )
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES_URL)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite variants only")
    parser.add_argument("--loadgen", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument(
        "--wrk-threads", type=int, default=1, help="wrk threads (1 leaves a core for the server)"
    )
    # Internal: the uvicorn subprocess re-enters this file with these.
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sqlite-path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 1 <= args.seconds <= 600 or not 0 <= args.warmup <= 60:
        parser.error("--seconds must be within 1..600 and --warmup within 0..60")
    if not 1 <= args.connections <= 1000 or not 1 <= args.rounds <= 20:
        parser.error("--connections must be within 1..1000 and --rounds within 1..20")
    if args.no_postgres:
        args.postgres_url = None
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve:
        serve(args)
        return 0

    wrk = shutil.which("wrk")
    if args.loadgen == "wrk" and wrk is None:
        fail("wrk not found; install it (Debian: apt-get install -y wrk)")
    use_wrk = wrk is not None and args.loadgen != "httpx"
    if not use_wrk and args.loadgen == "auto":
        # The Python client saturates a core long before the server does, squeezing the ratios.
        log("wrk not found; using httpx, whose numbers are client-bound (apt-get install -y wrk)")

    def load(base: str, path: str, seconds: float) -> Result:
        if use_wrk:
            assert wrk is not None
            return run_wrk(wrk, base, path, seconds, args.connections, args.wrk_threads)
        return run_httpx(base, path, seconds, args.connections)

    with tempfile.TemporaryDirectory(prefix="authsvc-bench-") as tmp:
        sqlite_path = Path(tmp) / "bench.db"
        setup_sqlite(sqlite_path)
        pg_version = None if args.postgres_url is None else setup_postgres(args.postgres_url)
        postgres_url = args.postgres_url if pg_version is not None else None

        baseline_first = Variant("baseline (no DB)", "/healthz")
        variants = [
            Variant("sync SQLite (def + threadpool)", "/sync/sqlite/"),
            Variant("async SQLite (aiosqlite)", "/async/sqlite/"),
        ]
        if postgres_url is not None:
            variants += [
                Variant("sync PostgreSQL (psycopg 3)", "/sync/pg/"),
                Variant("async PostgreSQL (psycopg 3 async)", "/async/pg/"),
            ]
        baseline_last = Variant("baseline again (drift check)", "/healthz")

        with running_server(
            sqlite_path, postgres_url, args.pool_size, args.max_overflow, args.pre_ping
        ) as base:
            for v in [baseline_first, *variants]:
                check_endpoint(base + (v.path + "1" if v.path.endswith("/") else v.path))
            for rnd in range(args.rounds):
                # Alternate the order between rounds so warm-cache or thermal effects don't
                # always favour the same variant.
                ordered = variants if rnd % 2 == 0 else list(reversed(variants))
                for v in [baseline_first, *ordered, baseline_last]:
                    log(f"round {rnd + 1}/{args.rounds}: {v.name} ...")
                    if args.warmup > 0:
                        load(base, v.path, args.warmup)
                    v.results.append(load(base, v.path, args.seconds))

    baseline_rps = statistics.mean(
        statistics.median(r.rps for r in b.results) for b in (baseline_first, baseline_last)
    )
    import fastapi
    import sqlalchemy
    import uvicorn

    # uvicorn silently switches to uvloop/httptools when installed, which moves every number.
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    header = (
        f"Python {sys.version.split()[0]}, fastapi {fastapi.__version__}, "
        f"sqlalchemy {sqlalchemy.__version__}, uvicorn {uvicorn.__version__} ({loop}, {http}), "
        f"PostgreSQL {pg_version or 'skipped'}; {os.cpu_count()} CPUs; "
        f"load: {'wrk -t' + str(args.wrk_threads) if use_wrk else 'httpx'}, "
        f"{args.connections} connections, {args.seconds:g} s x {args.rounds} round(s) per variant "
        f"(+{args.warmup:g} s warm-up); pool_size={args.pool_size} "
        f"max_overflow={args.max_overflow} pre_ping={args.pre_ping}; "
        f"ratio vs mean baseline {baseline_rps:,.0f} req/s."
    )
    sys.stdout.write(header + "\n\n")
    sys.stdout.write(render_table([baseline_first, *variants, baseline_last], baseline_rps) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
