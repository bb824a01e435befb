"""AUTHSVC_WORKERS=2: two uvicorn workers, and /metrics sums both, whichever one answers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.mmap_dict import MmapedDict

from tests.helpers.cli import cli_env, run_cli
from tests.helpers.database import add_user
from tests.helpers.defaults import PASSWORD
from tests.helpers.headers import bearer
from tests.helpers.login import log_in_at
from tests.helpers.processes import LiveServer, free_port, inherited_env
from tests.helpers.waiting import wait_until

pytestmark = pytest.mark.server


def by_process(directory: Path, kind: str, name: str, labels: dict[str, str]) -> dict[str, float]:
    """One series' value in each worker's own metrics file (`counter_<pid>.db`, ...), by pid."""
    found: dict[str, float] = {}
    for path in directory.glob(f"{kind}_*.db"):
        pid = path.stem.rpartition("_")[2]
        for key, value, *_ in MmapedDict.read_all_values_from_file(str(path)):  # type: ignore[no-untyped-call]
            _metric, series, series_labels, *_rest = json.loads(key)
            if series == name and series_labels == labels:
                found[pid] = found.get(pid, 0) + value
    return found


def valid_checks_by_process(directory: Path) -> dict[str, float]:
    return by_process(directory, "counter", "authsvc_token_validations_total", {"result": "valid"})


def scraped(url: str, series: str) -> float:
    """One series' value in a fresh scrape (a new connection: any worker may answer)."""
    text = httpx.get(f"{url}/metrics", timeout=10, headers={"Connection": "close"}).text
    match = re.search(rf"^{re.escape(series)} ([0-9.e+]+)$", text, re.MULTILINE)
    assert match is not None, f"{series} not in the scrape"
    return float(match.group(1))


def test_two_workers_serve_and_metrics_sum_both(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path}/authsvc.db"
    assert run_cli("db", "upgrade", env=cli_env(database_url), cwd=tmp_path).returncode == 0
    add_user(database_url, "alice", PASSWORD)
    directory = tmp_path / "metrics"
    env = {
        **inherited_env("PROMETHEUS_"),
        **cli_env(database_url),
        "AUTHSVC_COOKIE_SECURE": "false",
        "AUTHSVC_PORT": str(free_port()),
        "AUTHSVC_WORKERS": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
    }
    # Two interpreters import the whole service: slow on a busy machine.
    server = LiveServer(port=int(env["AUTHSVC_PORT"]), env=env, workdir=tmp_path).start(timeout=90)
    try:
        assert "with 2 worker(s)" in server.log()
        token = log_in_at(server.url).cookies["authsvc_at"]
        sent = 0
        # New connections until both workers have answered some of them.
        while len([n for n in valid_checks_by_process(directory).values() if n > 0]) < 2:
            assert sent < 400, f"one worker answered everything: {server.log()[-2000:]}"
            for _ in range(20):
                response = httpx.get(
                    f"{server.url}/session",
                    headers={**bearer(token), "Connection": "close"},
                    timeout=10,
                )
                assert response.status_code == 200
                sent += 1
        # Every scrape, answered by either worker, counts every worker's checks.
        series = 'authsvc_token_validations_total{result="valid"}'
        for _ in range(6):
            assert scraped(server.url, series) == sent

        # Live state is summed too: each worker's connection pool, copied into the shared files.
        def pools() -> dict[str, float]:
            return by_process(directory, "gauge_livesum", "authsvc_db_pool_size", {})

        assert wait_until(lambda: len(pools()) == 2 and min(pools().values()) > 0, timeout=5)
        assert scraped(server.url, "authsvc_db_pool_size") == sum(pools().values())
    finally:
        server.stop()
