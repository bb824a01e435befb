"""Time the per-call check in process, per cache configuration: µs per `GET /session`.

Usage:
    python benchmarks/check_profile.py [--calls 3000] [--no-postgres] [--profile NAME]

No server and no load generator: the app is called directly with a synthetic ASGI request (the
cookies a browser holds after logging in), so the figure is the service's own cost per request,
which a loaded machine slows but does not reorder. Runs on a fresh SQLite file and, when
PostgreSQL answers on 127.0.0.1:5432, on `authsvc_bench_profile_<pid>` (created and dropped).
`--profile NAME` prints cProfile's top entries for the configuration NAME (e.g. `pg-both-off`),
by `CHECK_PROFILE_SORT` (default `tottime`; `cumtime`, `ncalls`) and `CHECK_PROFILE_TOP` long.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import SECRET, authsvc_command, authsvc_env
from session_vs_healthz import PASSWORD, create_postgres, drop_postgres

from authsvc.app import create_app
from authsvc.config import Settings

POSTGRES_URL = f"postgresql+psycopg://postgres@127.0.0.1:5432/authsvc_bench_profile_{os.getpid()}"
# name -> (what the configuration leaves cached, its settings)
CONFIGURATIONS: dict[str, dict[str, str]] = {
    "warm": {},
    "signature-every-call": {"verified_token_cache_size": "0"},
    "version-read-every-call": {"token_version_cache": "off"},
    "both-off": {"verified_token_cache_size": "0", "token_version_cache": "off"},
}

Message = MutableMapping[str, Any]
COOKIE_ENV = "CHECK_PROFILE_COOKIE"
# The request measured: GET /session, or (--path) another GET such as /healthz for a baseline.
PATH_ENV = "CHECK_PROFILE_PATH"


def scope(path: str, cookie: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"cookie", cookie.encode())],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def call(app: Callable[..., Awaitable[None]], request: dict[str, Any]) -> int:
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(dict(request), receive, send)
    return status


def instrument(on: bool) -> None:
    """Switch callgrind's counting on or off for this process (when it runs under callgrind)."""
    subprocess.run(
        ["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
        check=True,
        capture_output=True,
    )


async def measure(
    database_url: str,
    overrides: dict[str, str],
    calls: int,
    *,
    profile: bool = False,
    down: bool = False,
    counted: bool = False,
    cookie_only: bool = False,
) -> Any:
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        key_encryption_secret=SECRET,
        cookie_secure="false",
        # A token that outlives the run, so /session measures success, not expiry.
        access_token_ttl_seconds=1800,
        **overrides,  # type: ignore[arg-type]
    )
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=600, shutdown_timeout=600) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        # Under callgrind the parent logged in (argon2 there would take minutes).
        cookie = os.environ.get(COOKIE_ENV, "")
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            if not cookie:
                login = await client.post(
                    "/login", json={"username": "bench", "password": PASSWORD}
                )
                assert login.status_code == 200, login.text
                cookie = "; ".join(
                    f"{name}={login.cookies[name]}" for name in ("authsvc_at", "authsvc_csrf")
                )
        if cookie_only:
            return cookie
        if down:
            # What the check does while the push channel is down: the cache is ignored.
            versions = app.state.runtime.token_versions
            versions._listener.stop()
            versions.channel_down()
        request = scope(os.environ.get(PATH_ENV, "/session"), cookie)
        for _ in range(200):
            assert await call(manager.app, request) == 200
        samples: list[float] = []
        cpu_samples: list[float] = []
        if counted:
            instrument(True)
            for _ in range(calls):
                await call(manager.app, request)
            instrument(False)
            return 0.0, 0.0
        profiler = cProfile.Profile() if profile else None
        for _ in range(5):
            gc.collect()
            if profiler:
                profiler.enable()
            started, cpu = time.perf_counter(), time.process_time()
            for _ in range(calls // 5):
                await call(manager.app, request)
            per_call = 1e6 / (calls // 5)
            samples.append((time.perf_counter() - started) * per_call)
            cpu_samples.append((time.process_time() - cpu) * per_call)
            if profiler:
                profiler.disable()
        if profiler:
            order = os.environ.get("CHECK_PROFILE_SORT", "tottime")
            top = int(os.environ.get("CHECK_PROFILE_TOP", "30"))
            pstats.Stats(profiler).sort_stats(order).print_stats(top)
        return min(samples), min(cpu_samples)


def instructions(url: str, full: str, calls: int) -> float:
    """Instructions per request (every thread of the process), counted by callgrind around the
    measured calls only: independent of what else the machine runs."""
    cookie = asyncio.run(measure(url, {}, 0, cookie_only=True))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        counted = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={out}",
                sys.executable,
                __file__,
                "--calls",
                str(calls),
                "--counted",
                url,
                full,
            ],
            check=False,
            capture_output=True,
            text=True,
            env={**os.environ, COOKIE_ENV: cookie},
        )
        if counted.returncode != 0:
            sys.exit(f"{full} under callgrind failed:\n{counted.stderr[-3000:]}")
        totals = [
            int(line.split()[1])
            for line in out.read_text().splitlines()
            if line.startswith(("summary:", "totals:"))
        ]
        return max(totals) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--only", help="run only configurations whose name contains this")
    parser.add_argument("--profile", help="cProfile this configuration (its full name)")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions under callgrind instead"
    )
    parser.add_argument("--counted", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument(
        "--path", default="/session", help="the GET to measure (/healthz: the baseline)"
    )
    args = parser.parse_args()
    # The callgrind child inherits the path from its parent.
    os.environ.setdefault(PATH_ENV, args.path)
    if args.counted:
        url, full = args.counted
        label = full.split("-", 1)[1]
        every = {**CONFIGURATIONS, "push-channel-down": {"token_version_cache": "postgres"}}
        asyncio.run(
            measure(
                url,
                every[label],
                args.calls,
                down=label == "push-channel-down",
                counted=True,
            )
        )
        return
    with tempfile.TemporaryDirectory() as tmp:
        databases = {"sqlite": f"sqlite:///{Path(tmp) / 'profile.db'}"}
        if not args.no_postgres and create_postgres(POSTGRES_URL):
            databases["pg"] = POSTGRES_URL
        try:
            for name, url in databases.items():
                env = authsvc_env(url, 8000)
                authsvc_command("db", "upgrade", env=env)
                authsvc_command(
                    "users", "create", "bench", "--password-stdin", env=env, stdin=PASSWORD
                )
                configurations = dict(CONFIGURATIONS)
                if name == "pg":
                    configurations["push-channel-down"] = {"token_version_cache": "postgres"}
                for label, overrides in configurations.items():
                    full = f"{name}-{label}"
                    if args.only and args.only not in full:
                        continue
                    down = label == "push-channel-down"
                    if args.instructions:
                        count = instructions(url, full, args.calls)
                        print(
                            f"{full:32} {count:12,.0f} instructions per GET {args.path}", flush=True
                        )
                        continue
                    wall, cpu = asyncio.run(
                        measure(url, overrides, args.calls, profile=args.profile == full, down=down)
                    )
                    print(
                        f"{full:32} {wall:8.1f} µs wall {cpu:8.1f} µs CPU per GET {args.path}",
                        flush=True,
                    )
        finally:
            if "pg" in databases:
                drop_postgres(POSTGRES_URL)


if __name__ == "__main__":
    main()
