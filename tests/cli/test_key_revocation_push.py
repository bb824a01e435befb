"""`authsvc keys revoke` against a running server: its tokens are refused within a second, not
at the server's next key refresh (AUTHSVC_KEY_REFRESH_SECONDS, 10 s by default)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.cli import cli_env, run_cli
from tests.helpers.database import add_user
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import StartServer
from tests.helpers.fleet import measurements
from tests.helpers.keys import kid_of
from tests.helpers.login import log_in_at
from tests.helpers.sessions import PUSH_BOUND_SECONDS, session_status_at

pytestmark = pytest.mark.server

# The announcement arrives within the push delay, long before the periodic refresh (10 s).
BOUND = PUSH_BOUND_SECONDS


def test_a_key_revoked_from_the_cli_is_refused_by_the_server_within_the_push_delay(
    live_server: StartServer, database_url: str, tmp_path: Path
) -> None:
    add_user(database_url, "alice", PASSWORD)
    server = live_server()  # the default refresh interval
    token = log_in_at(server.url).cookies["authsvc_at"]
    with httpx.Client(timeout=10) as http:
        assert session_status_at(http, server.url, token) == (200, None)
        revoked = run_cli(
            "keys", "revoke", "--", kid_of(token), env=cli_env(database_url), cwd=tmp_path
        )
        committed = time.monotonic()
        assert revoked.returncode == 0, revoked.stderr
        while session_status_at(http, server.url, token) != (401, "key_revoked"):
            assert time.monotonic() - committed < 15, "the revoked key is still accepted"
            time.sleep(0.01)
        took = time.monotonic() - committed
    backend = database_url.partition(":")[0].partition("+")[0]
    measurements.append(f"single instance ({backend}): key revoke refused after {took:.3f}s")
    assert took < BOUND
