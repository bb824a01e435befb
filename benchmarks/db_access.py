"""Benchmark sync vs async SQLAlchemy for the hot-path primary-key read on SQLite and PostgreSQL.

Usage:
    python benchmarks/db_access.py [--seconds N] [--connections C] [--rounds R]
                                   [--postgres-url URL | --no-postgres] [--loadgen auto|wrk|httpx]

Needs fastapi, uvicorn, sqlalchemy>=2, psycopg[binary] (all main project deps) and httpx (a dev
dep) plus aiosqlite (`pip install aiosqlite`); SQLAlchemy 2.1 no longer pulls in greenlet, which
its asyncio extension needs, so also `pip install "sqlalchemy[asyncio]"` there. The load
generator is wrk when on PATH (Debian: `apt-get install -y wrk`), else a bounded httpx client.

The script starts one uvicorn server (a subprocess, 127.0.0.1 only, stopped by its PID; its
output in a `server.log` beside the SQLite file, in a directory under /tmp that is kept) that
serves every variant, so the no-database baseline is measured in the same process and run:

    /healthz            baseline, no database
    /sync/sqlite/{id}   plain `def` endpoint (threadpool) + create_engine("sqlite:///...")
    /async/sqlite/{id}  `async def` endpoint + create_async_engine("sqlite+aiosqlite:///...")
    /sync/pg/{id}       plain `def` endpoint + create_engine("postgresql+psycopg://...")
    /async/pg/{id}      `async def` endpoint + create_async_engine("postgresql+psycopg://...")

PostgreSQL: only the database named `authsvc_bench` is used; it is created when missing and
only its `users` table is (re)created. Nothing else is dropped.

This file is the command line and the run; its parts are db_access_data.py (the table and its
rows), db_access_app.py (the served app), db_access_load.py (wrk or httpx) and
db_access_report.py (what is printed).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
from db_access_app import serve
from db_access_data import DEFAULT_POSTGRES_URL, setup_postgres, setup_sqlite
from db_access_load import Result, run_httpx, run_wrk
from db_access_report import Variant, describe_run, mean_baseline_rps, render_table
from harness import BenchmarkFailed, ensure_wrk, expect, free_port, server


@contextlib.contextmanager
def running_server(
    workdir: Path, postgres_url: str | None, pool_size: int, max_overflow: int, pre_ping: bool
) -> Iterator[str]:
    """This script again with `--serve`: the app on the SQLite file in `workdir`."""
    port = free_port()
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve",
        "--port",
        str(port),
        "--sqlite-path",
        str(workdir / "bench.db"),
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
    with server(
        cmd, port=port, env=os.environ, ready="/healthz", log=workdir / "server.log"
    ) as base:
        yield base


def check_endpoint(url: str) -> None:
    # A broken variant would otherwise show up as a suspiciously fast row of 404s/500s.
    body = expect(httpx.get(url, timeout=10), 200, what="pre-flight check").json()
    if body not in ({"valid": True}, {"status": "ok"}):
        raise BenchmarkFailed(f"unexpected response from {url}: {body}")


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

    wrk = ensure_wrk() if args.loadgen == "wrk" else shutil.which("wrk")
    use_wrk = wrk is not None and args.loadgen != "httpx"
    if not use_wrk and args.loadgen == "auto":
        # The Python client saturates a core long before the server does, squeezing the ratios.
        print(
            "wrk not found; using httpx, whose numbers are client-bound (apt-get install -y wrk)",
            file=sys.stderr,
            flush=True,
        )

    def load(base: str, path: str, seconds: float) -> Result:
        if use_wrk:
            assert wrk is not None
            return run_wrk(wrk, base, path, seconds, args.connections, args.wrk_threads)
        return run_httpx(base, path, seconds, args.connections)

    # Kept after the run: the server's log is where a failure to start is explained.
    workdir = Path(tempfile.mkdtemp(prefix="authsvc-bench-db-access-"))
    setup_sqlite(workdir / "bench.db")
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
        workdir, postgres_url, args.pool_size, args.max_overflow, args.pre_ping
    ) as base:
        for v in [baseline_first, *variants]:
            check_endpoint(base + (v.path + "1" if v.path.endswith("/") else v.path))
        for rnd in range(args.rounds):
            # Alternate the order between rounds so warm-cache or thermal effects don't
            # always favour the same variant.
            ordered = variants if rnd % 2 == 0 else list(reversed(variants))
            for v in [baseline_first, *ordered, baseline_last]:
                print(f"round {rnd + 1}/{args.rounds}: {v.name} ...", file=sys.stderr, flush=True)
                if args.warmup > 0:
                    load(base, v.path, args.warmup)
                v.results.append(load(base, v.path, args.seconds))

    baseline_rps = mean_baseline_rps(baseline_first, baseline_last)
    sys.stdout.write(describe_run(args, pg_version, use_wrk, baseline_rps) + "\n\n")
    sys.stdout.write(render_table([baseline_first, *variants, baseline_last], baseline_rps) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
