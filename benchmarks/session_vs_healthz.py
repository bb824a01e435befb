"""Benchmark the per-call check (GET /session, GET /verify) against /healthz and a bare app.

Usage:
    python benchmarks/session_vs_healthz.py [--seconds 5] [--rounds 2] [--no-postgres]

Runs the real `authsvc serve` (one uvicorn worker, 127.0.0.1, a free port, stopped by PID) on
a fresh SQLite database and, when PostgreSQL answers on 127.0.0.1:5432, on the database
`authsvc_bench_session_<pid>` (created for the run and dropped after it, so that two runs on
one server cannot reset each other's tables; nothing else is touched); next to it,
benchmarks/bare_app.py (one FastAPI route) under the same uvicorn settings. Where the machine
has two cores or more, the server runs on core 0 and wrk on core 1 (taskset). The load
generator is wrk (installed with apt-get when missing and run as root).
Every request the numbers rely on must succeed: a non-2xx answer stops the run (exit 1).
Reported as requests/s, as ratios measured in the same run, and as one `goal:` line per target.
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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PASSWORD = "a long passphrase for load tests 0123"
POSTGRES_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/authsvc_bench_session_{os.getpid()}"
HERE = Path(__file__).resolve().parent
# The options `authsvc serve` gives uvicorn (authsvc/cli/server.py), for the bare app.
UVICORN_OPTIONS = ("--no-proxy-headers", "--no-server-header", "--no-access-log")
# Targets: the check at this fraction of /healthz, /healthz at this fraction of a bare app.
SESSION_TARGET = {"SQLite": 0.5, "PostgreSQL": 0.4}
HEALTHZ_TARGET = 0.7


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


def create_postgres(url: str) -> bool:
    """Create this run's database; False when no PostgreSQL server answers."""
    parsed = make_url(url)
    try:
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
        admin.dispose()
    except Exception as exc:  # no server: the PostgreSQL row is skipped
        print(f"PostgreSQL skipped: {type(exc).__name__}")
        return False
    return True


def drop_postgres(url: str) -> None:
    """Drop the database `create_postgres` made for this run (and only that one)."""
    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    admin.dispose()


def wrk(binary: str, url: str, args: argparse.Namespace, cookie: str | None) -> Measurement:
    headers = ["-H", f"Cookie: {cookie}"] if cookie else []
    command = [binary, "-t1", f"-c{args.connections}", f"-d{args.seconds}s", "--latency"]
    output = subprocess.run(
        [*pinned(1), *command, *headers, url],
        capture_output=True,
        text=True,
        check=True,
        timeout=args.seconds + 60,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    result = Measurement(
        rps=rps,
        p50_ms=_latency_ms(output, "50%"),
        p99_ms=_latency_ms(output, "99%"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
    )
    if result.non_2xx or errors:
        sys.exit(f"{url}: {result.non_2xx} non-2xx answers under load; the run is void\n{output}")
    return result


def _latency_ms(output: str, quantile: str) -> float:
    match = re.search(rf"^\s+{quantile}\s+([\d.]+)(us|ms|s)", output, re.MULTILINE)
    assert match, output
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
    return float(match.group(1)) * scale


def pinned(core: int) -> list[str]:
    """taskset on `core` when there are two cores to keep server and load generator apart."""
    if (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(core)]


def expect_2xx(response: httpx.Response) -> httpx.Response:
    if not response.is_success:
        sys.exit(f"{response.request.method} {response.request.url}: {response.status_code}")
    return response


@contextmanager
def serving(command: list[str], env: dict[str, str], base: str) -> Iterator[None]:
    """Start a server pinned to core 0, wait until it answers, stop it by PID afterwards.

    Its logs go to a file (written as in production, so their cost counts), shown on failure.
    """
    log = tempfile.TemporaryFile(mode="w+")
    server = subprocess.Popen(
        [*pinned(0), *command], env=env, stdout=subprocess.DEVNULL, stderr=log
    )
    try:
        for _ in range(300):
            if server.poll() is not None:
                sys.exit(f"{' '.join(command)} exited with {server.returncode}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            sys.exit(f"{' '.join(command)} did not answer")
        yield
    except SystemExit:
        log.seek(0)
        sys.stderr.write(log.read()[-4000:])
        raise
    finally:
        server.terminate()
        server.wait(timeout=20)
        log.close()


def measure_bare(args: argparse.Namespace, binary: str, cookie: str) -> Measurement:
    """The bare app, sent the very request authsvc's /healthz is sent (cookies included)."""
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(HERE)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    base = f"http://127.0.0.1:{port}"
    with serving([*command, *UVICORN_OPTIONS], dict(os.environ), base):
        expect_2xx(httpx.get(f"{base}/healthz"))
        return wrk(binary, f"{base}/healthz", args, cookie)


def measure(
    database_url: str, args: argparse.Namespace, binary: str
) -> dict[str, list[Measurement]]:
    port = free_port()
    env = {
        **os.environ,
        "AUTHSVC_DATABASE_URL": database_url,
        "AUTHSVC_KEY_ENCRYPTION_SECRET": "benchmark-secret-0123456789abcdefghij",
        "AUTHSVC_COOKIE_SECURE": "false",
        "AUTHSVC_PORT": str(port),
        "AUTHSVC_LOG_LEVEL": args.log_level,
        # A token that outlives the run, so /session measures success, not expiry.
        "AUTHSVC_ACCESS_TOKEN_TTL_SECONDS": "1800",
    }
    authsvc("db", "upgrade", env=env)
    authsvc("users", "create", "bench", "--password-stdin", env=env, stdin=PASSWORD)
    base = f"http://127.0.0.1:{port}"
    rows: dict[str, list[Measurement]] = {"bare": [], "/healthz": [], "/session": [], "/verify": []}
    with serving([sys.executable, "-m", "authsvc", "serve"], env, base):
        login = expect_2xx(
            httpx.post(
                f"{base}/login", json={"username": "bench", "password": PASSWORD}, timeout=60
            )
        )
        # What a browser sends after logging in: the access cookie and the CSRF cookie (the
        # refresh cookie is scoped to /refresh).
        cookie = "; ".join(
            f"{name}={login.cookies[name]}" for name in ("authsvc_at", "authsvc_csrf")
        )
        for path in ("/session", "/verify"):
            expect_2xx(httpx.get(f"{base}{path}", headers={"cookie": cookie}))
        # Interleaved rounds, so that a neighbour's burst on the machine hits every row alike.
        for _ in range(args.rounds):
            for path in ("/healthz", "/session", "/verify"):
                rows[path].append(wrk(binary, base + path, args, cookie))
            rows["bare"].append(measure_bare(args, binary, cookie))
    return rows


def mean_rps(results: list[Measurement]) -> float:
    return sum(result.rps for result in results) / len(results)


def goal(what: str, ratio: float, target: float) -> str:
    verdict = "ok" if ratio >= target else "MISSED"
    return f"goal: {what} = {ratio:.2f}x (target >= {target}x) {verdict}"


def report(databases: dict[str, str], args: argparse.Namespace, binary: str) -> list[str]:
    """Measure every database in turn, print the table, return the goal lines."""
    goals: list[str] = []
    print("| database | endpoint | req/s | vs /healthz | p50 ms | p99 ms |")
    print("|---|---|---:|---:|---:|---:|")
    for name, url in databases.items():
        rows = measure(url, args, binary)
        healthz = mean_rps(rows["/healthz"])
        for path, results in rows.items():
            label = "bare FastAPI `/healthz`" if path == "bare" else f"`{path}`"
            rps = mean_rps(results)
            p50 = max(result.p50_ms for result in results)
            p99 = max(result.p99_ms for result in results)
            print(
                f"| {name} | {label} | {rps:,.0f} | {rps / healthz:.2f} | {p50:.2f} | {p99:.2f} |"
            )
        target = SESSION_TARGET[name]
        for path in ("/session", "/verify"):
            ratio = mean_rps(rows[path]) / healthz
            goals.append(goal(f"{name} GET {path} / GET /healthz", ratio, target))
        ratio = healthz / mean_rps(rows["bare"])
        goals.append(goal(f"{name} GET /healthz / bare FastAPI", ratio, HEALTHZ_TARGET))
    return goals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--log-level", default="info", help="the server's (default: info)")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    binary = ensure_wrk()
    databases = {}
    with tempfile.TemporaryDirectory() as tmp:
        databases["SQLite"] = f"sqlite:///{Path(tmp) / 'bench.db'}"
        if not args.no_postgres and create_postgres(POSTGRES_URL):
            databases["PostgreSQL"] = POSTGRES_URL
        try:
            goals = report(databases, args, binary)
        finally:
            if "PostgreSQL" in databases:
                drop_postgres(POSTGRES_URL)
    print()
    print("\n".join(goals))


if __name__ == "__main__":
    main()
