"""The one line every benchmark prints per target, which `benchmarks/run_all.py` collects.

goal: <what> = <ratio>x (target >= <t>x) ok|MISSED
"""

from __future__ import annotations

import re

GOAL_LINE = re.compile(
    r"^goal: (?P<what>.+) = (?P<ratio>[\d.]+)x \(target (?P<op>>=|<=) (?P<target>[\d.]+)x\) "
    r"(?P<verdict>ok|MISSED)$"
)


def goal_line(what: str, ratio: float, op: str, target: float) -> str:
    if op not in (">=", "<="):
        raise ValueError(f"unknown comparison {op!r}")
    met = ratio >= target if op == ">=" else ratio <= target
    return f"goal: {what} = {ratio:.3g}x (target {op} {target:g}x) {'ok' if met else 'MISSED'}"
