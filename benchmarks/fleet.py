"""Fleet benchmark: GET /session through nginx with 1, 2 and 3 instances, and revocation spread.

Usage:
    python benchmarks/fleet.py [--seconds N] [--connections C] [--rounds R] [--postgres-url URL]

Starts three `authsvc serve` instances on one PostgreSQL database and three nginx processes
(balancing over the first 1, 2 and 3 instances), all on 127.0.0.1, stopped by their PIDs at
the end. The load generator is wrk when on PATH (Debian: `apt-get install -y wrk`), else a
bounded httpx client. Reported:

  * requests/s of GET /session (a valid cookie: signature, claims and the token-version read)
    for each fleet size, and the ratio to one instance measured in the same run;
  * revocation propagation: after POST /logout?everywhere=true returns on one instance, the time
    until every instance refuses the old token (each instance polled directly);
  * key-revocation propagation beside it: after `authsvc keys revoke` of the signing key
    commits, the time until every instance refuses that key's tokens, with the default 10 s key
    refresh (what reaches them sooner was announced: NOTIFY on authsvc_signing_keys);
  * the first three instances run with AUTHSVC_TOKEN_VERSION_CACHE=off (every check reads the
    row: no instance may accept a revoked token once the logout has answered); both again for
    three more instances with AUTHSVC_TOKEN_VERSION_CACHE=postgres (the check answered from
    memory, kept current by LISTEN/NOTIFY): there an instance may accept the old token until
    the push arrives, so no acceptance may come later than the push delay's bound (< 1 s).

On a machine with C cores, instances beyond C compete with each other, with PostgreSQL and with
the load generator for the same cores: the ratio says how much of the fleet's extra capacity
this machine can show, not how it would scale on separate hosts.

PostgreSQL: only the database named `authsvc_bench_fleet` is used; it is created when missing
and its schema is recreated. Nothing else is touched.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from typer.testing import CliRunner

from authsvc.cli import app as cli_app
from authsvc.storage.migrations import upgrade_database
from tests.helpers.database import add_user
from tests.helpers.defaults import TEST_SECRET
from tests.helpers.fleet import Nginx, fleet_instance
from tests.helpers.processes import LiveServer

BENCH_DB = "authsvc_bench_fleet"
DEFAULT_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/{BENCH_DB}"
PASSWORD = "benchmark password 0123"
COOKIE = "authsvc_at"
# The push delay the fleet documents for the token-version cache, as a bound: an instance may
# accept a revoked token until the announcement arrives, never later (docs/fleet.md).
PUSH_DELAY_BOUND = 1.0


def fresh_database(url: str) -> None:
    parsed = make_url(url)
    if parsed.database != BENCH_DB:
        sys.exit(f"refusing to reset {parsed.database!r}: the benchmark only uses {BENCH_DB!r}")
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        if not connection.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": BENCH_DB}
        ).first():
            connection.execute(text(f'CREATE DATABASE "{BENCH_DB}"'))
    admin.dispose()
    engine = create_engine(parsed, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade_database(url)


# What a revoked token is answered: anything else (a 5xx, a 403 from CSRF) is no measurement.
REVOKED_CODES = frozenset({"token_revoked", "session_ended", "key_revoked"})


def login(base_url: str, username: str) -> str:
    response = httpx.post(
        f"{base_url}/login", json={"username": username, "password": PASSWORD}, timeout=15
    )
    if response.status_code != 200:
        sys.exit(f"login of {username} failed: {response.status_code} {response.text}")
    return response.cookies[COOKIE]


def open_connections(clients: list[httpx.Client]) -> None:
    """Open the keep-alive connections before timing; every instance must be up."""
    for client in clients:
        response = client.get("/healthz")
        if response.status_code != 200:
            sys.exit(f"{client.base_url}/healthz answered {response.status_code}")


def still_accepted(client: httpx.Client, cookie: dict[str, str]) -> bool:
    """True while the instance accepts the token; False once it refuses it as revoked."""
    response = client.get("/session", headers=cookie)
    if response.status_code == 200:
        return True
    if response.status_code == 401 and response.json().get("error") in REVOKED_CODES:
        return False
    sys.exit(f"{client.base_url}/session answered {response.status_code}: {response.text}")


def load_wrk(url: str, token: str, seconds: float, connections: int) -> float:
    result = subprocess.run(
        [
            "wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{seconds:.0f}s",
            "-H", f"Cookie: {COOKIE}={token}", f"{url}/session",
        ],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    )  # fmt: skip
    if "Non-2xx" in result.stdout:
        sys.exit(f"wrk saw non-2xx answers:\n{result.stdout}")
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    if match is None:
        sys.exit(f"could not read wrk's output:\n{result.stdout}")
    return float(match.group(1))


def load_httpx(url: str, token: str, seconds: float, connections: int) -> float:
    deadline = time.monotonic() + seconds
    counts = [0] * connections
    failures: list[int] = []

    def worker(slot: int) -> None:
        with httpx.Client(base_url=url, headers={"Cookie": f"{COOKIE}={token}"}) as http:
            while time.monotonic() < deadline:
                status = http.get("/session").status_code
                if status != 200:
                    failures.append(status)
                    return
                counts[slot] += 1

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(connections)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        sys.exit(f"non-200 answers during the load: {failures[:5]}")
    return sum(counts) / (time.monotonic() - started)


def propagation(
    instances: list[LiveServer], entry: str, rounds: int, *, allowed: float = 0.0
) -> tuple[list[float], int]:
    """Seconds from a logout-everywhere's response until the slowest instance refuses the token,
    and how many instance checks accepted the old token more than `allowed` seconds after it
    (must be 0: without the cache every check reads the row; with it, the push delay)."""
    clients = [httpx.Client(base_url=instance.url, timeout=5) for instance in instances]
    spreads, stale = [], 0
    try:
        open_connections(clients)
        for _ in range(rounds):
            token = login(entry, "revoked")
            cookie = {"Cookie": f"{COOKIE}={token}"}
            # As a scripted client (bearer): a cookie-authenticated POST would need Origin and
            # the CSRF token, and is refused without them.
            out = httpx.post(
                f"{entry}/logout?everywhere=true",
                headers={"Authorization": f"Bearer {token}"},
                timeout=15,
            )
            if out.status_code != 200 or out.json().get("everywhere") is not True:
                sys.exit(f"logout everywhere failed: {out.status_code} {out.text}")
            done = time.perf_counter()
            slowest = 0.0
            for client in clients:
                deadline = time.monotonic() + 5
                while still_accepted(client, cookie):
                    if time.perf_counter() - done > allowed:
                        stale += 1
                    if time.monotonic() > deadline:
                        sys.exit(f"{client.base_url} still accepted a revoked token after 5 s")
                slowest = max(slowest, time.perf_counter() - done)
            spreads.append(slowest)
    finally:
        for client in clients:
            client.close()
    return spreads, stale


def key_propagation(
    instances: list[LiveServer], entry: str, database_url: str, rounds: int
) -> tuple[list[float], int]:
    """Seconds from a `keys revoke` of the signing key until the slowest instance refuses a token
    it signed, and how many instance checks still accepted one after the revoke."""
    clients = [httpx.Client(base_url=instance.url, timeout=5) for instance in instances]
    env = {"AUTHSVC_DATABASE_URL": database_url, "AUTHSVC_KEY_ENCRYPTION_SECRET": TEST_SECRET}
    spreads, stale = [], 0
    try:
        open_connections(clients)
        for _ in range(rounds):
            token = login(entry, "bench")
            kid = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]
            cookie = {"Cookie": f"{COOKIE}={token}"}
            result = CliRunner().invoke(cli_app, ["keys", "revoke", "--", kid], env=env)
            if result.exit_code != 0:
                sys.exit(f"keys revoke failed: {result.output}")
            done = time.perf_counter()
            slowest = 0.0
            for client in clients:
                deadline = time.monotonic() + 15
                while still_accepted(client, cookie):
                    stale += 1
                    if time.monotonic() > deadline:
                        sys.exit(f"{client.base_url} still accepted a revoked key after 15 s")
                slowest = max(slowest, time.perf_counter() - done)
            spreads.append(slowest)
    finally:
        for client in clients:
            client.close()
    return spreads, stale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=20, help="revocation rounds")
    parser.add_argument("--key-rounds", type=int, default=5, help="key-revocation rounds")
    parser.add_argument("--postgres-url", default=DEFAULT_URL)
    args = parser.parse_args()

    fresh_database(args.postgres_url)
    add_user(args.postgres_url, "bench", PASSWORD)
    add_user(args.postgres_url, "revoked", PASSWORD)
    load = load_wrk if shutil.which("wrk") else load_httpx
    workdir = Path(tempfile.mkdtemp(prefix="authsvc-bench-fleet-"))
    # Without the cache: every check reads the row (the default on PostgreSQL is the cache).
    settings = {"AUTHSVC_LOG_LEVEL": "warning", "AUTHSVC_TOKEN_VERSION_CACHE": "off"}
    instances = [fleet_instance(args.postgres_url, workdir, **settings) for _ in range(3)]
    balancers = [
        Nginx(upstream_ports=[i.port for i in instances[:size]], workdir=workdir / f"nginx{size}")
        for size in (1, 2, 3)
    ]
    extra: list[LiveServer | Nginx] = []
    first: list[LiveServer | Nginx] = [*instances, *balancers]
    missed: list[str] = []
    try:
        for part in first:
            part.start()
        token = login(balancers[0].url, "bench")
        print(
            f"load generator: {load.__name__.removeprefix('load_')}, "
            f"{args.connections} connections, {args.seconds:.0f} s per size"
        )
        rates = []
        for size, balancer in enumerate(balancers, start=1):
            load(balancer.url, token, 1, args.connections)  # warm-up: pools, keep-alive
            rates.append(load(balancer.url, token, args.seconds, args.connections))
            print(
                f"GET /session via nginx, {size} instance(s): {rates[-1]:9.1f} req/s "
                f"(x{rates[-1] / rates[0]:.2f} of one instance)"
            )
        spreads, stale = propagation(instances, balancers[2].url, args.rounds)
        verdict = judge(max(spreads) < 1 and stale == 0, "revocation across instances", missed)
        print(
            f"revocation reaches all 3 instances: median {statistics.median(spreads) * 1000:.1f}"
            f" ms, max {max(spreads) * 1000:.1f} ms over {len(spreads)} rounds, "
            f"{stale} stale acceptances (bound: < 1000 ms, 0 stale) -> {verdict}"
        )
        key_spreads, key_stale = key_propagation(
            instances, balancers[2].url, args.postgres_url, args.key_rounds
        )
        verdict = judge(max(key_spreads) < 1, "key revocation across instances", missed)
        print(
            f"key revocation reaches all 3 instances: median "
            f"{statistics.median(key_spreads) * 1000:.1f} ms, max {max(key_spreads) * 1000:.1f} ms"
            f" over {len(key_spreads)} rounds, {key_stale} answers before the announcement "
            f"arrived (bound: < 1000 ms; key refresh every 10 s) -> {verdict}"
        )

        # The same with the push-invalidated token-version cache, on three fresh instances.
        for part in first:
            part.stop()
        cached_settings = {**settings, "AUTHSVC_TOKEN_VERSION_CACHE": "postgres"}
        cached = [fleet_instance(args.postgres_url, workdir, **cached_settings) for _ in range(3)]
        cached_balancer = Nginx(
            upstream_ports=[i.port for i in cached], workdir=workdir / "nginx-cached"
        )
        extra.extend([*cached, cached_balancer])
        second: list[LiveServer | Nginx] = [*cached, cached_balancer]
        for part in second:
            part.start()
        token = login(cached_balancer.url, "bench")
        load(cached_balancer.url, token, 1, args.connections)
        rate = load(cached_balancer.url, token, args.seconds, args.connections)
        print(
            f"GET /session via nginx, 3 instances with the token-version cache: {rate:9.1f} req/s "
            f"(x{rate / rates[2]:.2f} of 3 instances without it)"
        )
        spreads, late = propagation(
            cached, cached_balancer.url, args.rounds, allowed=PUSH_DELAY_BOUND
        )
        verdict = judge(
            max(spreads) < PUSH_DELAY_BOUND and late == 0, "revocation with the cache", missed
        )
        print(
            f"with the cache, revocation reaches all 3 instances: median "
            f"{statistics.median(spreads) * 1000:.1f} ms, max {max(spreads) * 1000:.1f} ms over "
            f"{len(spreads)} rounds, {late} stale acceptances after the push delay "
            f"(bound: < {PUSH_DELAY_BOUND * 1000:.0f} ms, 0 stale after it) -> {verdict}"
        )
    finally:
        for part in (*balancers, *instances, *extra):
            part.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if missed:
        sys.exit(f"bounds missed: {', '.join(missed)}")


def judge(met: bool, what: str, missed: list[str]) -> str:
    if not met:
        missed.append(what)
    return "OK" if met else "FAILED"


if __name__ == "__main__":
    main()
