"""GET /session latency while tokens naming made-up key ids arrive, against its idle latency.

Usage:
    python benchmarks/unknown_kids.py [--seconds 8] [--rate 200] [--connections 4] [--rounds 5]

One `authsvc serve`-equivalent uvicorn worker (benchmarks/harness.py's options) on a fresh SQLite
database, pinned to one core with taskset; wrk and the sender on the other core. wrk measures
GET /session (a valid cookie): idle, and while a sender (wrk again, with a Lua script:
64 connections that pause between requests) presents about `--rate` bearer tokens
a second, each naming a `kid` the server has never seen (2,000 made-up ones, in turn), as a
client with a forged or foreign token would. Each may make the server reload its key ring (off
the event loop, at most every 250 ms, one at a time), and each must be answered 401
`invalid_token`; anything else fails the run, as does a sender more than 10% below its rate.
And the same with forgeries that name the server's own kid (refused without any reload): a
control, so that what the reloads cost shows apart from the sender's load itself. The three are
measured in `--rounds` rounds, each in another order; the goal is the median of the rounds' ratios.
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import jwt
from goals import goal_line
from harness import (
    SERVER_CORE,
    BenchmarkFailed,
    Load,
    authsvc_command,
    authsvc_env,
    client_core,
    ensure_wrk,
    expect,
    free_port,
    pinned,
    server,
    uvicorn_options,
    wrk,
)

PASSWORD = "a long passphrase for load tests 0123"
TARGET = 2.0
# The sender's connections (wrk's on /session are --connections).
CONNECTIONS = 64
IDLE = "idle"
MADE_UP = "with made-up kids"
CONTROL = "control: forgeries, known kid"


def made_up_token(kid: str | None = None) -> str:
    """A well-formed access token signed by a key nobody has, naming `kid` (by default a fresh
    random one)."""
    return jwt.encode(
        {"sub": "nobody"},
        secrets.token_bytes(32),
        algorithm="HS256",
        headers={"kid": kid or f"made-up-{secrets.token_hex(8)}", "typ": "at+jwt"},
    )


SENDER = """
tokens = {%(tokens)s}
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) n = 0; unexpected = 0 end
function request()
  n = n + 1
  local token = tokens[(n %% #tokens) + 1]
  return wrk.format("GET", "/session", {["Authorization"] = "Bearer " .. token})
end
-- A pause drawn anew each time around its mean: a fixed one would keep the connections in step,
-- so that the tokens arrived in bursts of 64 rather than at a steady rate.
function delay() return math.random(0, 2 * %(delay_ms)d) end
function response(status, headers, body)
  if status ~= 401 or not string.find(body, '"invalid_token"', 1, true) then
    unexpected = unexpected + 1
  end
end
function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("unexpected") end
  io.write(string.format("unexpected answers: %%d\\n", bad))
end
"""


def sender_script(url: str, *, rate: float, workdir: Path, kid: str | None = None) -> Path:
    """The sender's wrk script for about `rate` made-up-kid tokens a second. Each connection
    pauses between its requests for, on average, its share of the period less the answers'
    latency, measured in a short calibration run (on a busy machine the latency is a large part
    of the period)."""
    period_ms = CONNECTIONS * 1000 / rate
    script = workdir / f"sender-{kid or 'made-up'}.lua"
    tokens = ", ".join(f'"{made_up_token(kid)}"' for _ in range(2000))
    script.write_text(SENDER % {"tokens": tokens, "delay_ms": round(period_ms)})
    _, _, latency_ms = send(url, script, seconds=3)
    delay_ms = max(0, round(period_ms - latency_ms))
    script.write_text(SENDER % {"tokens": tokens, "delay_ms": delay_ms})
    return script


def send(url: str, script: Path, *, seconds: float) -> tuple[int, float, float]:
    """Run the sender; every answer must be 401 `invalid_token`. (requests, per second, mean
    latency in ms)"""
    command = pinned(
        client_core(),
        [
            ensure_wrk(), "-t1", f"-c{CONNECTIONS}", f"-d{seconds:.0f}s", "--latency",
            "-s", str(script), url,
        ],
    )  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    output = result.stdout
    unexpected = re.search(r"unexpected answers: (\d+)", output)
    requests = re.search(r"(\d+) requests in", output)
    achieved = re.search(r"Requests/sec:\s+([\d.]+)", output)
    latency = re.search(r"Latency\s+([\d.]+)(us|ms|s)\b", output)
    if None in (unexpected, requests, achieved, latency) or result.returncode != 0:
        raise BenchmarkFailed(f"the sender failed ({result.returncode}):\n{output}{result.stderr}")
    assert unexpected and requests and achieved and latency
    if int(unexpected.group(1)) or "Socket errors" in output:
        raise BenchmarkFailed(f"a made-up kid was not refused as invalid_token:\n{output}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[latency.group(2)]
    return int(requests.group(1)), float(achieved.group(1)), float(latency.group(1)) * scale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--rate", type=float, default=200, help="made-up-kid tokens a second")
    parser.add_argument("--connections", type=int, default=4, help="wrk's, on GET /session")
    parser.add_argument("--rounds", type=int, default=5, help="of idle, made-up kids, control")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="authsvc-bench-kids-"))
    port = free_port()
    env = authsvc_env(f"sqlite:///{workdir / 'authsvc.db'}", port)
    authsvc_command("db", "upgrade", env=env)
    authsvc_command("users", "create", "bench", "--password-stdin", env=env, stdin=PASSWORD)
    command = pinned(
        SERVER_CORE,
        [
            sys.executable, "-m", "uvicorn", "authsvc.app:create_app_from_environment",
            "--factory", "--host=127.0.0.1", f"--port={port}", *uvicorn_options(),
        ],
    )  # fmt: skip
    with server(command, port=port, env=env, ready="/readyz", log=workdir / "server.log") as base:
        login = expect(
            httpx.post(f"{base}/login", json={"username": "bench", "password": PASSWORD}),
            200,
            what="the benchmark user's login",
        )
        cookie = f"authsvc_at={login.cookies['authsvc_at']}"
        expect(httpx.get(f"{base}/session", headers={"Cookie": cookie}), 200, what="the session")
        session = f"{base}/session"
        wrk(session, cookie=cookie, seconds=1, connections=args.connections)  # warm-up
        (kid,) = [key["kid"] for key in httpx.get(f"{base}/.well-known/jwks.json").json()["keys"]]
        # The control sends as many forgeries naming the server's own kid, refused without a
        # reload.
        scripts = {
            MADE_UP: sender_script(session, rate=args.rate, workdir=workdir),
            CONTROL: sender_script(session, rate=args.rate, workdir=workdir, kid=kid),
        }
        rounds: list[dict[str, tuple[Load, float]]] = []
        for number in range(args.rounds):
            measured: dict[str, tuple[Load, float]] = {}
            # Each round in another order, so that a drift of the machine favours none.
            order = [IDLE, MADE_UP, CONTROL]
            for name in order[number % 3 :] + order[: number % 3]:
                measured[name] = measure(session, cookie, args, scripts.get(name))
            rounds.append(measured)

    for measured in rounds:
        for name, (_, rate) in measured.items():
            if name != IDLE and rate < 0.9 * args.rate:
                raise BenchmarkFailed(f"the sender fell behind ({name}): {rate:.0f}/s")
    print(f"server pinned to core {SERVER_CORE}; wrk on /session; every token sent refused 401")
    columns = ("round", "req/s", "p50 ms", "p99 ms", "sent/s")
    print(f"{'GET /session':32} " + " ".join(f"{column:>8}" for column in columns))
    for name in (IDLE, MADE_UP, CONTROL):
        for number, measured in enumerate(rounds, 1):
            load, rate = measured[name]
            sent = f"{rate:8.0f}" if name != IDLE else ""
            print(
                f"{name:32} {number:8} {load.rps:8.0f} {load.p50_ms:8.2f} {load.p99_ms:8.2f} {sent}"
            )
    # Each round's ratio pairs measurements taken a minute apart; the median of the rounds
    # keeps one stalled window (another process, the hypervisor) from deciding the result.
    for name in (MADE_UP, CONTROL):
        ratios = [measured[name][0].p99_ms / measured[IDLE][0].p99_ms for measured in rounds]
        print(f"p99 {name} / idle, by round: " + ", ".join(f"{r:.2f}x" for r in ratios))
    print(
        goal_line(
            f"GET /session p99 with {args.rate:.0f} made-up kids/s / idle p99, median of rounds",
            statistics.median(
                measured[MADE_UP][0].p99_ms / measured[IDLE][0].p99_ms for measured in rounds
            ),
            "<=",
            TARGET,
        )
    )


def measure(
    session: str, cookie: str, args: argparse.Namespace, script: Path | None
) -> tuple[Load, float]:
    """wrk on /session for `args.seconds`, alone or beside the sender running `script`; the
    sender's achieved rate (0 alone)."""
    if script is None:
        return wrk(session, cookie=cookie, seconds=args.seconds, connections=args.connections), 0.0
    # The sender starts first and outlasts wrk, so that every measured request meets it.
    with ThreadPoolExecutor(1) as pool:
        sender = pool.submit(send, session, script, seconds=args.seconds + 3)
        time.sleep(1)
        load = wrk(session, cookie=cookie, seconds=args.seconds, connections=args.connections)
        _, achieved, _ = sender.result()
    return load, achieved


if __name__ == "__main__":
    main()
