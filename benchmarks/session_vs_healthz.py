"""Benchmark GET /session (cookie auth + token-version check) against /healthz of the same server.

Usage:
    python benchmarks/session_vs_healthz.py [--seconds 5] [--connections 32] [--no-postgres]

Runs the real `authsvc serve` (one uvicorn worker, 127.0.0.1, a free port, stopped by PID) on
a fresh SQLite database and, when PostgreSQL answers on 127.0.0.1:5432, on the database
`authsvc_bench_session` (created if missing, its tables dropped and migrated; nothing else is
touched). The load generator is wrk (installed with apt-get when missing and run as root).
Reported as requests/s and as a ratio against /healthz measured in the same run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PASSWORD = "a long passphrase for load tests 0123"
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/authsvc_bench_session"


@dataclass
class Measurement:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is missing: apt-get install wrk")
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk") or sys.exit("wrk did not install")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def authsvc(*args: str, env: dict[str, str], stdin: str = "") -> None:
    result = subprocess.run(
        [sys.executable, "-m", "authsvc", *args],
        input=stdin,
        text=True,
        env=env,
        check=False,
        capture_output=True,
    )
    if result.returncode != 0:
        sys.exit(f"authsvc {' '.join(args)} failed:\n{result.stderr}")


def reset_postgres(url: str) -> bool:
    parsed = make_url(url)
    try:
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": parsed.database}
            ).first()
            if not exists:
                connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    except Exception as exc:  # no server: the PostgreSQL row is skipped
        print(f"PostgreSQL skipped: {type(exc).__name__}")
        return False
    engine = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return True


def wrk(binary: str, url: str, seconds: int, connections: int, cookie: str) -> Measurement:
    output = subprocess.run(
        [
            binary,
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-H",
            f"Cookie: {cookie}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    return Measurement(
        rps=rps,
        p50_ms=_latency_ms(output, "50%"),
        p99_ms=_latency_ms(output, "99%"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )


def _latency_ms(output: str, quantile: str) -> float:
    match = re.search(rf"^\s+{quantile}\s+([\d.]+)(us|ms|s)", output, re.MULTILINE)
    assert match, output
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    return float(match.group(1)) * scale


def measure(
    database_url: str, args: argparse.Namespace, binary: str
) -> list[tuple[str, Measurement]]:
    port = free_port()
    env = {
        **os.environ,
        "AUTHSVC_DATABASE_URL": database_url,
        "AUTHSVC_KEY_ENCRYPTION_SECRET": "benchmark-secret-0123456789abcdefghij",
        "AUTHSVC_COOKIE_SECURE": "false",
        "AUTHSVC_PORT": str(port),
        "AUTHSVC_LOG_LEVEL": "warning",
        # A token that outlives the run, so /session measures success, not expiry.
        "AUTHSVC_ACCESS_TOKEN_TTL_SECONDS": "1800",
    }
    authsvc("db", "upgrade", env=env)
    authsvc("users", "create", "bench", "--password-stdin", env=env, stdin=PASSWORD)
    server = subprocess.Popen(
        [sys.executable, "-m", "authsvc", "serve"], env=env, stdout=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        login = httpx.post(f"{base}/login", json={"username": "bench", "password": PASSWORD})
        login.raise_for_status()
        cookie = f"authsvc_at={login.cookies['authsvc_at']}"
        assert httpx.get(f"{base}/session", headers={"cookie": cookie}).status_code == 200
        rows = []
        for path in ("/healthz", "/session", "/healthz"):
            rows.append((path, wrk(binary, base + path, args.seconds, args.connections, cookie)))
        return rows
    finally:
        server.terminate()
        server.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    binary = ensure_wrk()
    databases = {}
    with tempfile.TemporaryDirectory() as tmp:
        databases["SQLite"] = f"sqlite:///{Path(tmp) / 'bench.db'}"
        if not args.no_postgres and reset_postgres(POSTGRES_URL):
            databases["PostgreSQL"] = POSTGRES_URL
        print("| database | endpoint | req/s | vs /healthz | p50 ms | p99 ms | non-2xx |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for name, url in databases.items():
            rows = measure(url, args, binary)
            baseline = (rows[0][1].rps + rows[2][1].rps) / 2
            for path, result in rows:
                print(
                    f"| {name} | `{path}` | {result.rps:,.0f} | {result.rps / baseline:.2f} "
                    f"| {result.p50_ms:.2f} | {result.p99_ms:.2f} | {result.non_2xx} |"
                )


if __name__ == "__main__":
    main()
