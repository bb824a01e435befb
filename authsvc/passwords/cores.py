"""How many cores this process may keep busy: its CPU affinity, and its cgroup's CPU limit.

In a container the affinity is usually every core of the node, while the CPU limit (Kubernetes'
`resources.limits.cpu`, `docker run --cpus`) is enforced as a quota of CPU time per period.
A process that sizes its password hashing by the node's 32 cores under a 1-core limit would run
32 argon2 hashes at once (19 MiB each), use its whole quota within the first milliseconds of
every period, and be throttled, token checks included, for the rest of it.

The limit is read the way the kernel exposes it, for both cgroup versions: v2's `cpu.max`
("<quota> <period>" or "max <period>"), v1's `cpu.cfs_quota_us` and `cpu.cfs_period_us`
(-1 for none), in the process's own cgroup and every ancestor visible under the mount; the
smallest wins. A fractional limit rounds down (1.5 cores: one hash at a time), since a second
hash would push the whole process into throttling.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path

PROC_CGROUP = Path("/proc/self/cgroup")
CGROUP_MOUNT = Path("/sys/fs/cgroup")

# Reads one cgroup directory's CPU limit, in cores, or None where it sets none.
_LimitReader = Callable[[Path], "float | None"]


def usable_cores(*, proc_cgroup: Path | None = None, mount: Path | None = None) -> tuple[int, str]:
    """The cores this process may keep busy (at least one), and where that number comes from,
    for the log. The paths default to the kernel's (`PROC_CGROUP`, `CGROUP_MOUNT`)."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux: no affinity, and no cgroups either
        return max(1, os.cpu_count() or 1), "the machine's cores"
    limit = cpu_limit(proc_cgroup=proc_cgroup, mount=mount)
    if limit is not None and limit < affinity:
        return max(1, math.floor(limit)), f"the cgroup's CPU limit of {limit:g} cores"
    return max(1, affinity), "the cores this process may run on"


def cpu_limit(*, proc_cgroup: Path | None = None, mount: Path | None = None) -> float | None:
    """The CPU limit of this process's cgroup, in cores, or None when there is none (or no
    cgroup file can be read: the limit is a sizing hint, never a reason not to start)."""
    proc_cgroup = proc_cgroup or PROC_CGROUP
    mount = mount or CGROUP_MOUNT
    try:
        memberships = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    limits: list[float] = []
    for line in memberships:
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if hierarchy == "0" and controllers == "":
            limits += _limits_along(mount, path, _v2_limit)
        elif "cpu" in controllers.split(","):
            for directory in (mount / controllers, mount / "cpu"):
                if directory.is_dir():
                    limits += _limits_along(directory, path, _v1_limit)
                    break
    return min(limits, default=None)


def _limits_along(root: Path, path: str, read: _LimitReader) -> list[float]:
    """The limits set on the cgroup at `path` under `root` and on each ancestor up to `root`.

    Where the process's path does not exist under the mount (a container that sees only its
    own cgroup, mounted as the root, but the host's path in /proc), the root is that cgroup.
    """
    here = root.joinpath(*[part for part in path.split("/") if part])
    if not here.is_dir():
        here = root
    limits: list[float] = []
    while True:
        limit = read(here)
        if limit is not None:
            limits.append(limit)
        if here == root or root not in here.parents:
            return limits
        here = here.parent


def _v2_limit(directory: Path) -> float | None:
    fields = _read(directory / "cpu.max").split()
    if len(fields) != 2 or fields[0] == "max":
        return None
    return _ratio(fields[0], fields[1])


def _v1_limit(directory: Path) -> float | None:
    return _ratio(_read(directory / "cpu.cfs_quota_us"), _read(directory / "cpu.cfs_period_us"))


def _ratio(quota: str, period: str) -> float | None:
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:
        return None
    if quota_us <= 0 or period_us <= 0:  # v1 says "no limit" with -1
        return None
    return quota_us / period_us


def _read(file: Path) -> str:
    try:
        return file.read_text().strip()
    except OSError:
        return ""
