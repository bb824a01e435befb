"""GET /session latency while 32 clients log in at once, against its idle latency, same server.

Usage:
    python benchmarks/login_storm.py [--seconds 8] [--clients 32] [--connections 4]
                                     [--fixed-rate [--rounds 3]]

One `authsvc serve`-equivalent uvicorn worker (benchmarks/harness.py's options) on a fresh SQLite
database, pinned to one core with taskset; wrk and the login clients on the other core. wrk
measures GET /session (a valid cookie) twice: idle, then while `--clients` clients log in
back to back, half with the right password, half with a wrong one; after a 503 they wait what
its Retry-After says plus up to a second of jitter, as well-behaved clients do
(--ignore-retry-after: they retry at once). Every login must be answered 200, 401 or 503
`password_work_busy` with Retry-After (the bound on password hashing refusing what it cannot
take in time); anything else, a timeout included, fails the run.
The login throttle is off for the run: the storm is meant to reach argon2, not the throttle.
Password hashing runs with its defaults (as many slots as the server's one core).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from goals import goal_line
from harness import (
    SERVER_CORE,
    BenchmarkFailed,
    Load,
    authsvc_command,
    authsvc_env,
    cpu_seconds,
    expect,
    free_port,
    pin_to_client_core,
    pinned,
    served,
    uvicorn_options,
    wrk,
)

PASSWORD = "a long passphrase for load tests 0123"
TARGET = 3.0
HERE = Path(__file__).resolve().parent
# The paced run: connections of benchmarks/fixed_rate.lua, and its targets.
PACED_CONNECTIONS = 16
FIXED_RATE_P99_TARGET = 2.0
LOGIN_RATE_TARGET = 0.6


async def storm(
    base: str, clients: int, until: float, tally: Counter[str], *, honour_retry_after: bool
) -> None:
    async def client(number: int) -> None:
        password = PASSWORD if number % 2 == 0 else "a wrong password for the storm"
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            while time.monotonic() < until:
                try:
                    response = await http.post(
                        "/login", json={"username": "bench", "password": password}
                    )
                except httpx.TimeoutException as exc:
                    raise BenchmarkFailed(f"a login timed out: {exc!r}") from exc
                status = response.status_code
                if status == 503:
                    if response.json().get("error") != "password_work_busy":
                        expect(response, 200, 401, what="a login in the storm")
                    retry_after = response.headers.get("retry-after")
                    if not retry_after:
                        raise BenchmarkFailed("a 503 login answer without Retry-After")
                    if honour_retry_after:
                        await asyncio.sleep(float(retry_after) + random.random())
                else:
                    expect(response, 200 if number % 2 == 0 else 401, what="a login in the storm")
                tally[str(status)] += 1
                # Each login is a new visitor: no cookie from the last one.
                http.cookies.clear()

    await asyncio.gather(*(client(number) for number in range(clients)))


@dataclass(frozen=True)
class Mark:
    """A moment of a measured step: when, the server's CPU time so far, the logins answered 200
    so far."""

    at: float
    cpu: float
    logins: int

    def core_until(self, end: Mark) -> float:
        """The share of its core the server used from this mark to `end`."""
        return (end.cpu - self.cpu) / (end.at - self.at)

    def logins_until(self, end: Mark) -> float:
        """Logins answered 200 per second from this mark to `end`."""
        return (end.logins - self.logins) / (end.at - self.at)


def fixed_rate(
    base: str, server_pid: int, cookie: str, capacity: Load, args: argparse.Namespace
) -> list[str]:
    """The storm against GET /session sent at half the idle capacity (not saturating), by
    clients that ignore Retry-After; and the logins answered 200 per second against the same
    storm with no other load. In `--rounds` rounds, each in another order; the goals are the
    medians of the rounds' ratios, so that one window in which the hypervisor takes the core
    does not decide them.

    Each step also reports the share of its core the server used. The paced load's share, P,
    bounds the login goal: under the paced load the logins can have at most the rest of the
    core, so at most (1 - P) / L of what they get alone, where L is the share they take
    alone. That bound is reported beside the measured ratio."""
    session = f"{base}/session"
    rate = capacity.rps / 2
    pause = max(1, round(PACED_CONNECTIONS * 1000 / rate))

    def paced() -> Load:
        return wrk(
            session,
            cookie=cookie,
            seconds=args.seconds,
            connections=PACED_CONNECTIONS,
            script=HERE / "fixed_rate.lua",
            script_args=[str(pause)],
        )

    def mark(tally: Counter[str]) -> Mark:
        return Mark(time.monotonic(), cpu_seconds(server_pid), tally["200"])

    def idle_paced() -> tuple[Load, float]:
        before = mark(Counter())
        load = paced()
        return load, before.core_until(mark(Counter()))

    def logins_alone() -> tuple[float, float]:
        """Logins answered 200 per second, and the server's share of its core, from half a
        second after the storm starts (as in the storm under the paced load) to its end."""
        tally: Counter[str] = Counter()

        async def measured() -> tuple[Mark, Mark]:
            until = time.monotonic() + args.seconds + 0.5
            logins = asyncio.create_task(
                storm(base, args.clients, until, tally, honour_retry_after=False)
            )
            await asyncio.sleep(0.5)
            start = mark(tally)
            await asyncio.sleep(until - time.monotonic())
            end = mark(tally)
            await logins
            return start, end

        start, end = asyncio.run(measured())
        return start.logins_until(end), start.core_until(end)

    def during_storm() -> tuple[Load, float, float]:
        """The paced load in the storm, and the logins answered 200 per second and the server's
        share of its core while the paced load ran."""
        tally: Counter[str] = Counter()

        async def measured() -> tuple[Load, Mark, Mark]:
            until = time.monotonic() + args.seconds + 1
            logins = asyncio.create_task(
                storm(base, args.clients, until, tally, honour_retry_after=False)
            )
            await asyncio.sleep(0.5)
            start = mark(tally)
            load = await asyncio.to_thread(paced)
            end = mark(tally)
            await logins
            return load, start, end

        load, start, end = asyncio.run(measured())
        return load, start.logins_until(end), start.core_until(end)

    lines = [
        f"GET /session at a fixed rate: {PACED_CONNECTIONS} connections pausing about {pause} ms "
        f"(target {rate:.0f}/s, half the idle capacity {capacity.rps:.0f}/s); "
        f"{args.clients} login clients ignoring Retry-After; {args.rounds} rounds",
        "core: the share of its core the server used while the step was measured",
        f"{'round':>5} {'paced idle req/s':>16} {'p99 ms':>8} {'core':>5} {'in storm req/s':>15} "
        f"{'p99 ms':>8} {'core':>5} {'logins/s alone':>15} {'core':>5} {'in storm':>9}",
    ]
    p99_ratios: list[float] = []
    login_ratios: list[float] = []
    login_bounds: list[float] = []
    for number in range(args.rounds):
        results: dict[str, Any] = {}
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("idle", idle_paced),
            ("alone", logins_alone),
            ("during", during_storm),
        ]
        for name, step in steps[number % 3 :] + steps[: number % 3]:
            results[name] = step()
        idle, idle_core = results["idle"]
        alone_rate, alone_core = results["alone"]
        during, during_rate, during_core = results["during"]
        if alone_rate == 0:
            raise BenchmarkFailed("no login succeeded without other load: nothing was measured")
        p99_ratios.append(during.p99_ms / idle.p99_ms)
        login_ratios.append(during_rate / alone_rate)
        login_bounds.append(min(1.0, max(0.0, 1 - idle_core) / alone_core))
        lines.append(
            f"{number + 1:5} {idle.rps:16.0f} {idle.p99_ms:8.2f} {idle_core:5.0%} "
            f"{during.rps:15.0f} {during.p99_ms:8.2f} {during_core:5.0%} {alone_rate:15.1f} "
            f"{alone_core:5.0%} {during_rate:9.1f}"
        )
    lines.append("p99 in storm / idle, by round: " + ", ".join(f"{r:.2f}x" for r in p99_ratios))
    lines.append(
        "logins in storm / alone, by round: " + ", ".join(f"{r:.2f}x" for r in login_ratios)
    )
    lines.append(
        "at most (the core the paced load leaves / the core the logins take alone), by round: "
        + ", ".join(f"{r:.2f}x" for r in login_bounds)
        + f"; median {statistics.median(login_bounds):.2f}x"
    )
    lines.append(
        goal_line(
            "GET /session p99 at a fixed rate in a login storm / idle p99, median of rounds",
            statistics.median(p99_ratios),
            "<=",
            FIXED_RATE_P99_TARGET,
        )
    )
    lines.append(
        goal_line(
            "logins answered 200/s under the paced load / alone, median of rounds",
            statistics.median(login_ratios),
            ">=",
            LOGIN_RATE_TARGET,
        )
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--connections", type=int, default=4, help="wrk's, on GET /session")
    parser.add_argument(
        "--ignore-retry-after",
        action="store_true",
        help="retry a 503 login at once instead of after Retry-After (a hostile client)",
    )
    parser.add_argument(
        "--fixed-rate",
        action="store_true",
        help="then again with GET /session paced at half the idle capacity, logins ignoring "
        "Retry-After, and the logins answered against those with no other load",
    )
    parser.add_argument("--rounds", type=int, default=3, help="of the --fixed-rate measurement")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="AUTHSVC_X=VALUE",
        help="a setting for the server (repeatable), e.g. AUTHSVC_PASSWORD_HASHING_WORKERS=2",
    )
    args = parser.parse_args()
    pin_to_client_core()  # the login clients, with wrk

    workdir = Path(tempfile.mkdtemp(prefix="authsvc-bench-storm-"))
    port = free_port()
    extra = dict(setting.split("=", 1) for setting in args.server_env)
    env = authsvc_env(
        f"sqlite:///{workdir / 'authsvc.db'}",
        port,
        AUTHSVC_LOGIN_THROTTLE_ENABLED="false",
        **extra,
    )
    authsvc_command("db", "upgrade", env=env)
    authsvc_command("users", "create", "bench", "--password-stdin", env=env, stdin=PASSWORD)
    command = pinned(
        SERVER_CORE,
        [
            sys.executable, "-m", "uvicorn", "authsvc.app:create_app_from_environment",
            "--factory", "--host=127.0.0.1", f"--port={port}", *uvicorn_options(),
        ],
    )  # fmt: skip
    with served(command, port=port, env=env, ready="/readyz", log=workdir / "server.log") as (
        base,
        server_pid,
    ):
        login = expect(
            httpx.post(
                f"{base}/login", json={"username": "bench", "password": PASSWORD}, timeout=60
            ),
            200,
            what="the benchmark user's login",
        )
        cookie = f"authsvc_at={login.cookies['authsvc_at']}"
        expect(httpx.get(f"{base}/session", headers={"Cookie": cookie}), 200, what="the session")
        session = f"{base}/session"
        wrk(session, cookie=cookie, seconds=1, connections=args.connections)  # warm-up
        idle = wrk(session, cookie=cookie, seconds=args.seconds, connections=args.connections)

        tally: Counter[str] = Counter()
        # The storm starts first and outlasts wrk, so that every measured request meets it.
        until = time.monotonic() + args.seconds + 3

        async def measured() -> Load:
            logins = asyncio.create_task(
                storm(
                    base,
                    args.clients,
                    until,
                    tally,
                    honour_retry_after=not args.ignore_retry_after,
                )
            )
            await asyncio.sleep(1)
            during = await asyncio.to_thread(
                wrk, session, cookie=cookie, seconds=args.seconds, connections=args.connections
            )
            await logins
            return during

        during = asyncio.run(measured())
        paced = fixed_rate(base, server_pid, cookie, idle, args) if args.fixed_rate else []

    logins = sum(tally.values())
    print(f"server pinned to core {SERVER_CORE}; {args.clients} login clients; wrk on /session")
    print(f"{'GET /session':24} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    print(f"{'idle':24} {idle.rps:8.0f} {idle.p50_ms:8.2f} {idle.p99_ms:8.2f}")
    print(
        f"{'during the login storm':24} {during.rps:8.0f} {during.p50_ms:8.2f} {during.p99_ms:8.2f}"
    )
    print(
        f"logins answered: {logins} ({logins / (args.seconds + 3):.1f}/s): "
        + ", ".join(f"{status}: {count}" for status, count in sorted(tally.items()))
    )
    if tally["200"] == 0:
        raise BenchmarkFailed("no login succeeded during the storm: nothing was measured")
    print(
        goal_line(
            "GET /session p99 in a login storm / idle p99",
            during.p99_ms / idle.p99_ms,
            "<=",
            TARGET,
        )
    )
    for line in paced:
        print(line)


if __name__ == "__main__":
    main()
