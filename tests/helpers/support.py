"""Test helpers that are not fixtures: a controllable clock and real server processes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

SKIPPED_SUITES: set[str] = set()
REDIS_HINT = (
    "Redis suite skipped: set AUTHSVC_TEST_REDIS_URL=redis://127.0.0.1:6379/15 "
    "(make test sets it when a server answers on 127.0.0.1:6379)"
)


def skip_suite(reason: str) -> NoReturn:
    """Skip a test whose suite needs something absent, and name it once in the run's summary."""
    SKIPPED_SUITES.add(reason)
    pytest.skip(reason)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime | None = None):
        self.current = start or datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


def comparable_headers(response: httpx.Response) -> list[tuple[str, str]]:
    """All headers but the per-request id: what may not differ between two answers."""
    return sorted((k, v) for k, v in response.headers.items() if k != "x-request-id")


def spa_headers(client: httpx.Client, origin: str) -> dict[str, str]:
    """What a page of `origin` sends with an unsafe request: Origin and the CSRF cookie echoed."""
    token = next(
        cookie.value
        for cookie in client.cookies.jar
        if cookie.name.removeprefix("__Host-") == "authsvc_csrf"
    )
    return {"Origin": origin, "X-CSRF-Token": token}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def authsvc_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "authsvc", *args]


def run_cli(
    *args: str, env: dict[str, str], stdin: str = "", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        authsvc_command(*args),
        input=stdin,
        capture_output=True,
        text=True,
        env={**_base_env(), **env},
        cwd=cwd,
        timeout=60,
        check=False,
    )


def _base_env() -> dict[str, str]:
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AUTHSVC_") or name.startswith("AUTHSVC_TEST_")
    }


def start_server(env: dict[str, str], *, workdir: Path, timeout: float = 30) -> LiveServer:
    port = free_port()
    full_env = {
        **_base_env(),
        "AUTHSVC_PORT": str(port),
        "AUTHSVC_HOST": "127.0.0.1",
        # Pages served from the server's own address may call it with cookies (CSRF, CORS).
        "AUTHSVC_ALLOWED_ORIGINS": f"http://127.0.0.1:{port}",
        **env,
    }
    log_path = workdir / f"server-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            authsvc_command("serve"),
            env=full_env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer(process=process, port=port, log_path=log_path, env=full_env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"authsvc serve exited early:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"authsvc serve did not become healthy:\n{server.log()}")
