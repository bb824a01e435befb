"""What `db_access.py` prints: a line naming the versions and settings of the run, then one
markdown table row per variant (the median of its rounds), each rated against the baseline."""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
from dataclasses import dataclass, field

from db_access_load import Result


@dataclass
class Variant:
    name: str
    path: str  # a trailing "/" means a random user id 1..USER_ROWS is appended per request
    results: list[Result] = field(default_factory=list)


def mean_baseline_rps(first: Variant, last: Variant) -> float:
    """The baseline measured before and after the variants: what every ratio is against."""
    return statistics.mean(statistics.median(r.rps for r in b.results) for b in (first, last))


def describe_run(
    args: argparse.Namespace, pg_version: str | None, use_wrk: bool, baseline_rps: float
) -> str:
    import fastapi
    import sqlalchemy
    import uvicorn

    # uvicorn silently switches to uvloop/httptools when installed, which moves every number.
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return (
        f"Python {sys.version.split()[0]}, fastapi {fastapi.__version__}, "
        f"sqlalchemy {sqlalchemy.__version__}, uvicorn {uvicorn.__version__} ({loop}, {http}), "
        f"PostgreSQL {pg_version or 'skipped'}; {os.cpu_count()} CPUs; "
        f"load: {'wrk -t' + str(args.wrk_threads) if use_wrk else 'httpx'}, "
        f"{args.connections} connections, {args.seconds:g} s x {args.rounds} round(s) per variant "
        f"(+{args.warmup:g} s warm-up); pool_size={args.pool_size} "
        f"max_overflow={args.max_overflow} pre_ping={args.pre_ping}; "
        f"ratio vs mean baseline {baseline_rps:,.0f} req/s."
    )


def render_table(variants: list[Variant], baseline_rps: float) -> str:
    lines = [
        "| variant | endpoint | req/s | vs baseline | p50 ms | p99 ms | requests | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for v in variants:
        if not v.results:
            continue
        # Median across rounds so one noisy round on a shared 2-core box does not decide it.
        rps = statistics.median(r.rps for r in v.results)
        p50 = statistics.median(r.p50_ms for r in v.results)
        p99 = statistics.median(r.p99_ms for r in v.results)
        reqs = sum(r.requests for r in v.results)
        errs = sum(r.errors for r in v.results)
        endpoint = v.path + "{id}" if v.path.endswith("/") else v.path
        lines.append(
            f"| {v.name} | `{endpoint}` | {rps:,.0f} | {rps / baseline_rps:.2f} | "
            f"{p50:.2f} | {p99:.2f} | {reqs:,} | {errs} |"
        )
    return "\n".join(lines)
