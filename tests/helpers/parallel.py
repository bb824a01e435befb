"""The suite split over processes (pytest-xdist): what each worker may share with the others.

Each worker has a PostgreSQL database of its own (the first worker the one named by
AUTHSVC_TEST_POSTGRES_URL, the others that name with the worker's appended), so emptying a
database between tests never touches another worker's. Two resources cannot be split that way,
so the tests that use them run one after another on a single worker:

* Redis: one database number per run, and pub/sub channels (what the push tests listen on) are
  shared by every database number of the server. A test that reaches the run's Redis without
  being in the group fails at once, so a missed one cannot pass by chance.
* the container image: the compose and Kubernetes tests run the image the image test builds.
"""

from __future__ import annotations

import os

import pytest

REDIS = "redis"
IMAGE = "image"

# The groups of the test running now, set before each test's setup.
_claimed: frozenset[str] = frozenset()


def worker_name() -> str | None:
    """gw0, gw1, ... in a worker of a split run; None in a run of one process."""
    return os.environ.get("PYTEST_XDIST_WORKER")


def database_for_worker(database: str) -> str:
    """The PostgreSQL database this worker empties and migrates: its own."""
    worker = worker_name()
    if worker is None or worker == "gw0":
        return database
    return f"{database}_{worker}"


def group_of(item: pytest.Item) -> str | None:
    """The shared resource a test needs to itself, if any."""
    if item.nodeid.startswith("tests/image/"):
        return IMAGE
    if "redis" in item.nodeid.lower() or "redis_url" in getattr(item, "fixturenames", ()):
        return REDIS
    return None


def claim(item: pytest.Item) -> None:
    global _claimed
    _claimed = frozenset(marker.args[0] for marker in item.iter_markers("xdist_group"))


def require(group: str) -> None:
    """Fail a test that reaches a shared resource outside its group (in a split run only)."""
    if worker_name() is not None and group not in _claimed:
        pytest.fail(
            f"this test uses the run's {group} but is not in the {group!r} group, so it runs "
            f"beside other tests that use it: give it '{group}' in its name or its parameters "
            "(tests/helpers/parallel.py)"
        )
