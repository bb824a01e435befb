"""The run itself: in CI no suite may be skipped for want of a service or a program; elsewhere a
missing one skips its suite cleanly, with one line in the summary, and never errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import fleet
from tests.helpers.fleet import HarnessUnavailable, start_fleet
from tests.helpers.paths import REPO_ROOT
from tests.helpers.suites import (
    POSTGRES_ENV,
    POSTGRES_HINT,
    REDIS_ENV,
    SKIPPED_SUITES,
    redis_test_url,
)


def collect(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Collect one small module in a fresh pytest with exactly these test settings."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name not in ("CI", POSTGRES_ENV, REDIS_ENV)
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests/test_architecture.py"],
        cwd=REPO_ROOT, env={**inherited, **env}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("env", "missing"),
    [
        ({REDIS_ENV: "redis://127.0.0.1:6379/15"}, POSTGRES_ENV),
        ({POSTGRES_ENV: "postgresql+psycopg://postgres@127.0.0.1:5432/x"}, REDIS_ENV),
    ],
    ids=["without-postgres", "without-redis"],
)
def test_ci_refuses_to_run_without_a_service_suite(env: dict[str, str], missing: str) -> None:
    refused = collect({"CI": "true", **env})
    # pytest's usage error, before a single test runs: not a run with the suite skipped.
    assert refused.returncode == pytest.ExitCode.USAGE_ERROR, refused.stdout + refused.stderr
    # The message names the one that is missing, not merely "something is wrong".
    assert f"{missing} is not set" in refused.stderr
    assert ({POSTGRES_ENV, REDIS_ENV} - {missing}).isdisjoint(refused.stderr.split())


def nginx_missing() -> str:
    raise HarnessUnavailable("nginx is not installed (`make fleet-deps` installs it)")


def test_without_nginx_a_fleet_is_skipped_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Every fleet test reaches nginx through start_fleet, so every one skips (none errors)."""
    monkeypatch.setattr(fleet, "nginx_binary", nginx_missing)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="fleet suite skipped: nginx is not installed"):
        start_fleet("postgresql+psycopg://postgres@127.0.0.1:1/none", tmp_path / "fleet")
    assert not (tmp_path / "fleet").exists()
    SKIPPED_SUITES.discard(
        "fleet suite skipped: nginx is not installed (`make fleet-deps` installs it)"
    )
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run the fleet tests"):
        start_fleet("postgresql+psycopg://postgres@127.0.0.1:1/none", tmp_path / "fleet")


def split_run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A fresh pytest over two workers, without PostgreSQL (whose databases the outer run's
    workers are using) and with only the given test settings."""
    inherited = {
        name: value
        for name, value in os.environ.items()
        if name not in ("CI", POSTGRES_ENV, REDIS_ENV)
    }
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", *args],
        cwd=REPO_ROOT, env={**inherited, **env}, capture_output=True, text=True, timeout=300,
        check=False,
    )  # fmt: skip


def test_a_split_run_names_each_skipped_suite_once_in_its_summary() -> None:
    """Workers skip the tests; the process that started them prints the summary line."""
    result = split_run("-q", "tests/api/test_discovery.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(POSTGRES_HINT) == 1, result.stdout


def test_a_split_run_keeps_the_tests_that_share_redis_on_one_worker(redis_url: str) -> None:
    result = split_run("-v", "tests/security/test_throttle.py", **{REDIS_ENV: redis_url})
    assert result.returncode == 0, result.stdout + result.stderr
    passed = [line.split() for line in result.stdout.splitlines() if " PASSED " in line]
    on_redis = {words[0] for words in passed if "redis" in words[-1]}
    elsewhere = {words[0] for words in passed if "redis" not in words[-1]}
    assert len([words for words in passed if "redis" in words[-1]]) >= 2, result.stdout
    assert len(on_redis) == 1, result.stdout
    assert elsewhere == {"[gw0]", "[gw1]"}, result.stdout  # the rest was split


def test_a_test_outside_its_group_may_not_reach_a_server_shared_by_the_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.setenv(REDIS_ENV, "redis://127.0.0.1:6379/15")
    with pytest.raises(pytest.fail.Exception, match="is not in the 'redis' group"):
        redis_test_url()
