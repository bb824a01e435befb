"""The load `db_access.py` puts on one endpoint: wrk (several threads, a random user id per
request from a Lua script) or, without wrk, a bounded httpx client; both count failed requests
instead of stopping, and report throughput and latency as one `Result`."""

from __future__ import annotations

import asyncio
import os
import random
import re
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass

import httpx
from db_access_data import USER_ROWS
from harness import BenchmarkFailed


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int


# A path ending in "/" gets a random user id 1..USER_ROWS appended per request.
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
        raise BenchmarkFailed(f"unparseable wrk latency {text!r}")
    return float(match.group(1)) * _LATENCY_UNITS_MS[match.group(2)]


def _grab(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise BenchmarkFailed(f"wrk output lacks {pattern!r}:\n{text}")
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
        raise BenchmarkFailed(f"httpx load generator completed only {len(latencies)} request(s)")
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
