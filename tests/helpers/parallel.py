"""The suite split over processes (pytest-xdist): what each worker may share with the others.

Each worker has a PostgreSQL database of its own (the first worker the one named by
AUTHSVC_TEST_POSTGRES_URL, the others that name with the worker's appended), so emptying a
database between tests never touches another worker's. Two resources cannot be split that way,
so the tests that use them run one after another on a single worker:

* Redis: one database number per run, and pub/sub channels (what the push tests listen on) are
  shared by every database number of the server. A test that reaches the run's Redis without
  being in the group fails at once, so a missed one cannot pass by chance.
* the container image: the compose and Kubernetes tests run the image the image test builds.

The groups are scheduled here, from the test ids, rather than with xdist's `xdist_group` mark:
`--dist loadgroup` carries the group in a rewritten test id, which pytest 9.2 no longer lets a
plugin rewrite, so the mark is silently ignored there (reported to pytest-xdist, not yet fixed).
"""

from __future__ import annotations

import os

import pytest
from xdist.scheduler import LoadScopeScheduling

REDIS = "redis"
IMAGE = "image"

# The id of the test running in this process now, noted before its setup.
_running = ""


def worker_name() -> str | None:
    """gw0, gw1, ... in a worker of a split run; None in a run of one process."""
    return os.environ.get("PYTEST_XDIST_WORKER")


def database_for_worker(database: str) -> str:
    """The PostgreSQL database this worker empties and migrates: its own."""
    worker = worker_name()
    if worker is None or worker == "gw0":
        return database
    return f"{database}_{worker}"


def group_of(nodeid: str) -> str | None:
    """The shared resource a test needs to itself, if any, read from its id."""
    if nodeid.startswith("tests/image/"):
        return IMAGE
    if REDIS in nodeid.lower():
        return REDIS
    return None


class SharedResourceScheduling(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
    """Each test on its own, as `--dist load` hands them out, but a group's tests as one unit.

    xdist hands out the units with the most tests first, so the long groups start early and the
    single tests fill in around them.
    """

    def _split_scope(self, nodeid: str) -> str:
        return group_of(nodeid) or nodeid


def note_running(item: pytest.Item) -> None:
    global _running
    _running = item.nodeid


def require(group: str) -> None:
    """Fail a test that reaches a shared resource outside its group (in a split run only)."""
    if worker_name() is not None and group_of(_running) != group:
        pytest.fail(
            f"this test uses the run's {group} but is not in the {group!r} group, so it may run "
            f"beside other tests that use it: put '{group}' in its name or its parameters "
            "(tests/helpers/parallel.py)"
        )
