"""Run every benchmark, then print one table of the targets they report (`goal: ...` lines).

Usage:
    python benchmarks/run_all.py [--quick]

Each script runs in turn with its output shown as it comes; a script that fails (a request it
relies on failed, a server did not start) makes this exit non-zero after the table. PostgreSQL
rows are measured when a server answers on 127.0.0.1:5432; the fleet benchmark also needs nginx.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
from pathlib import Path

from goals import GOAL_LINE

HERE = Path(__file__).resolve().parent


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def plan(quick: bool) -> list[tuple[str, list[str]]]:
    postgres = answers(5432)
    scripts = [
        ("session_vs_healthz.py", [] if postgres else ["--no-postgres"]),
        (
            "uncached.py",
            (["--seconds", "3"] if quick else ["--rounds", "2"])
            + ([] if postgres else ["--no-postgres"]),
        ),
        ("login_storm.py", ["--fixed-rate", *(["--seconds", "5"] if quick else [])]),
        ("unknown_kids.py", ["--seconds", "5"] if quick else []),
        ("peers.py", ["--seconds", "3", "--rounds", "1"] if quick else []),
        (
            "verifier.py",
            ["--cold", "400", "--warm", "5000"] + ([] if postgres else ["--no-postgres"]),
        ),
    ]
    if postgres and (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        scripts.append(("fleet.py", ["--seconds", "3", "--rounds", "10", "--key-rounds", "3"]))
    else:
        print("fleet.py skipped: it needs PostgreSQL on 127.0.0.1:5432 and nginx", flush=True)
    return scripts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, noisier numbers")
    args = parser.parse_args()
    goals: list[tuple[str, str]] = []
    failed: list[str] = []
    for script, options in plan(args.quick):
        print(f"\n=== {script} {' '.join(options)}", flush=True)
        process = subprocess.Popen(
            [sys.executable, str(HERE / script), *options],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        for line in process.stdout:
            print(line, end="", flush=True)
            if GOAL_LINE.match(line.strip()):
                goals.append((script, line.strip()))
        if process.wait() != 0:
            failed.append(f"{script} (exit {process.returncode})")

    print("\n=== targets")
    width = max((len(script) for script, _ in goals), default=0)
    for script, line in goals:
        print(f"{script:{width}}  {line}")
    if not goals:
        print("(no script reported a target)")
    if failed:
        sys.exit(f"benchmarks that failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
