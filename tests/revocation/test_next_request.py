"""A revocation committed by another process (the CLI) against a live server that has the token
and its version in memory: refused on the very next request on SQLite, whose change counter the
check asks every time; on PostgreSQL within the push delay (LISTEN/NOTIFY)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.helpers.cli import cli_env, run_cli
from tests.helpers.database import add_user
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import StartServer
from tests.helpers.login import log_in_at
from tests.helpers.sessions import PUSH_BOUND_SECONDS

pytestmark = pytest.mark.server


def statuses(http: httpx.Client, url: str, token: str) -> list[tuple[int, str | None]]:
    answers = [
        http.get(f"{url}{path}", headers={"Cookie": f"authsvc_at={token}"})
        for path in ("/session", "/verify")
    ]
    return [
        (answer.status_code, answer.json()["error"] if answer.status_code >= 400 else None)
        for answer in answers
    ]


@pytest.mark.parametrize("command", [("users", "revoke", "alice"), ("users", "disable", "alice")])
def test_a_change_from_another_process_is_refused_on_the_next_request(
    live_server: StartServer, database_url: str, tmp_path: Path, command: tuple[str, ...]
) -> None:
    add_user(database_url, "alice", PASSWORD)
    server = live_server()
    token = log_in_at(server.url).cookies["authsvc_at"]
    with httpx.Client(timeout=10) as http:
        # Seen twice: verified once, then answered from memory.
        for _ in range(2):
            assert statuses(http, server.url, token) == [(200, None), (204, None)]
        changed = run_cli(*command, env=cli_env(database_url), cwd=tmp_path)
        committed = time.monotonic()
        assert changed.returncode == 0, changed.stderr
        refused = [(401, "token_revoked")] * 2
        if database_url.startswith("sqlite"):
            assert statuses(http, server.url, token) == refused
            return
        while statuses(http, server.url, token) != refused:
            assert time.monotonic() - committed < PUSH_BOUND_SECONDS, (
                "still accepted after the push"
            )
            time.sleep(0.005)
