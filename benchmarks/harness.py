"""What the server benchmarks share: servers pinned to a core, wrk pinned to another, and a
loud failure (a message and a non-zero exit) whenever a request they rely on goes wrong."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

# The server gets the first core, the load generators the second (when there is one).
SERVER_CORE = "0"
CLIENT_CORE = "1"
SECRET = "benchmark-key-encryption-secret-0123456789"


class BenchmarkFailed(SystemExit):
    """A request the measurement relies on failed: the numbers would mean nothing."""

    def __init__(self, message: str):
        super().__init__(f"benchmark failed: {message}")


def expect(response: httpx.Response, *statuses: int, what: str) -> httpx.Response:
    if response.status_code not in statuses:
        raise BenchmarkFailed(
            f"{what}: {response.request.method} {response.request.url.path} answered "
            f"{response.status_code} (expected {', '.join(map(str, statuses))}): "
            f"{response.text[:300]}"
        )
    return response


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def client_core() -> str:
    return CLIENT_CORE if len(os.sched_getaffinity(0)) > 1 else SERVER_CORE


def pin_to_client_core() -> None:
    """Move this process (and what it starts from now on) to the load generators' core, for a
    benchmark whose clients are Python code of its own: left to the scheduler, they would run
    on the server's core now and then and take from it what the benchmark measures."""
    os.sched_setaffinity(0, {int(client_core())})


def pinned(core: str, command: list[str]) -> list[str]:
    taskset = shutil.which("taskset")
    if taskset is None:
        raise BenchmarkFailed("taskset is missing (util-linux): servers must be pinned to a core")
    return [taskset, "-c", core, *command]


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise BenchmarkFailed("wrk is missing: apt-get install wrk")
    return found


def uvicorn_options() -> list[str]:
    """One worker, and the event loop and HTTP parser this environment's uvicorn would pick
    (named, so that a peer in another environment is served the same way)."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return [
        "--workers=1",
        f"--loop={loop}",
        f"--http={http}",
        "--no-server-header",
        "--no-proxy-headers",
        "--no-access-log",
        "--log-level=warning",
    ]


def authsvc_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")},
        "AUTHSVC_DATABASE_URL": database_url,
        "AUTHSVC_KEY_ENCRYPTION_SECRET": SECRET,
        "AUTHSVC_COOKIE_SECURE": "false",
        "AUTHSVC_PORT": str(port),
        "AUTHSVC_LOG_LEVEL": "warning",
        # A token that outlives the run, so /session measures success, not expiry.
        "AUTHSVC_ACCESS_TOKEN_TTL_SECONDS": "1800",
        **extra,
    }


def authsvc_command(*args: str, env: Mapping[str, str], stdin: str = "") -> None:
    result = subprocess.run(
        [sys.executable, "-m", "authsvc", *args],
        input=stdin,
        text=True,
        env=dict(env),
        check=False,
        capture_output=True,
    )
    if result.returncode != 0:
        raise BenchmarkFailed(
            f"authsvc {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        )


@contextmanager
def server(
    command: list[str], *, port: int, env: Mapping[str, str], ready: str, log: Path
) -> Iterator[str]:
    """Run `command` (pinned by the caller) until the block ends; stopped by its PID."""
    with served(command, port=port, env=env, ready=ready, log=log) as (base, _):
        yield base


@contextmanager
def served(
    command: list[str], *, port: int, env: Mapping[str, str], ready: str, log: Path
) -> Iterator[tuple[str, int]]:
    """`server`, also yielding the server's PID (taskset runs the command in its own process),
    for `cpu_seconds`."""
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=dict(env), stdout=output, stderr=output)
        base = f"http://127.0.0.1:{port}"
        try:
            # Generous: on a loaded machine a server's imports alone can take a minute.
            deadline = time.monotonic() + 180
            while True:
                if process.poll() is not None:
                    raise BenchmarkFailed(f"{' '.join(command)} exited; see {log}")
                try:
                    if httpx.get(base + ready, timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise BenchmarkFailed(f"{base}{ready} did not answer 200 in 180 s; see {log}")
                time.sleep(0.1)
            yield base, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system, every thread, ended ones included) process `pid` has used
    so far, from /proc: the difference over a step, divided by its wall time, is the share of
    its core the step took."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int


def wrk(
    url: str,
    *,
    cookie: str,
    seconds: float,
    connections: int,
    script: Path | None = None,
    script_args: Sequence[str] = (),
) -> Load:
    """wrk on the client core; any non-2xx answer or socket error fails the benchmark.

    `script` is a wrk Lua script (benchmarks/*.lua) given `script_args`."""
    scripted = ["-s", str(script)] if script is not None else []
    command = pinned(
        client_core(),
        [
            ensure_wrk(), "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--latency",
            # A request unanswered in wrk's default 2 s counts as an error; on a loaded
            # machine a slow answer is a figure, not a failure.
            "--timeout", "10s",
            "-H", f"Cookie: {cookie}", *scripted, url,
            *(["--", *script_args] if script_args else []),
        ],
    )  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    output = result.stdout
    if result.returncode != 0:
        raise BenchmarkFailed(f"wrk exited {result.returncode}: {result.stderr}")
    if "Non-2xx" in output or "Socket errors" in output:
        raise BenchmarkFailed(f"wrk saw failed requests on {url}:\n{output}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    requests = re.search(r"(\d+) requests in", output)
    if rps is None or requests is None or int(requests.group(1)) == 0:
        raise BenchmarkFailed(f"could not read wrk's output:\n{output}")
    return Load(
        rps=float(rps.group(1)),
        p50_ms=_latency_ms(output, "50%"),
        p99_ms=_latency_ms(output, "99%"),
        requests=int(requests.group(1)),
    )


def _latency_ms(output: str, quantile: str) -> float:
    match = re.search(rf"^\s+{quantile}\s+([\d.]+)(us|ms|s)\b", output, re.MULTILINE)
    if match is None:
        raise BenchmarkFailed(f"wrk printed no {quantile} latency:\n{output}")
    return float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
