"""The CLI and a real uvicorn server, end to end: what `make run` does, and real Set-Cookie."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.helpers.cli import assert_refused_run, cli_env, run_cli
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import DbQuery, StartServer
from tests.helpers.headers import spa_headers

pytestmark = pytest.mark.server


def test_users_create_reads_the_password_from_stdin(
    database_url: str, tmp_path: Path, db_query: DbQuery
) -> None:
    result = run_cli(
        "users",
        "create",
        "Alice",
        "--password-stdin",
        "--role",
        "admin",
        env=cli_env(database_url),
        stdin=PASSWORD + "\n",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["username"] == "alice" and created["roles"] == ["admin"]
    assert PASSWORD not in result.stdout + result.stderr
    (row,) = db_query("SELECT password_hash FROM users")
    assert row.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_users_create_refuses_a_password_on_the_command_line(
    database_url: str, tmp_path: Path
) -> None:
    result = run_cli("users", "create", "alice", PASSWORD, env=cli_env(database_url), cwd=tmp_path)
    # A usage error (2), not a failure of the command itself, and nothing was created.
    assert result.returncode == 2, result.stderr
    assert "extra argument" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("\n", "at least 12 characters"),
        ("short\n", "at least 12 characters"),
        ("password1234\n", "too common"),
        ("alice-wonderland-99\n", "may not contain the username"),
    ],
)
def test_users_create_validates_the_password(
    database_url: str, tmp_path: Path, stdin: str, message: str
) -> None:
    result = run_cli(
        "users",
        "create",
        "alice",
        "--password-stdin",
        env=cli_env(database_url),
        stdin=stdin,
        cwd=tmp_path,
    )
    assert_refused_run(result, message)


def test_users_create_refuses_a_duplicate(database_url: str, tmp_path: Path) -> None:
    args = ("users", "create", "alice", "--password-stdin")
    env = cli_env(database_url)
    assert run_cli(*args, env=env, stdin=PASSWORD, cwd=tmp_path).returncode == 0
    again = run_cli(*args, env=env, stdin=PASSWORD, cwd=tmp_path)
    assert_refused_run(again, "exists already")


def test_openapi_command_prints_the_document(tmp_path: Path) -> None:
    result = run_cli("openapi", env={}, cwd=tmp_path)
    assert result.returncode == 0
    assert set(json.loads(result.stdout)["paths"]) >= {"/login", "/logout", "/session"}


def test_fresh_database_upgrade_then_serve_login_session_logout(
    live_server: StartServer, tmp_path: Path
) -> None:
    """What `make run` does on a fresh machine, then a browser's round trip over real HTTP."""
    database_url = f"sqlite:///{tmp_path}/fresh/authsvc.db"
    env = cli_env(database_url)
    assert run_cli("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    created = run_cli(
        "users", "create", "alice", "--password-stdin", env=env, stdin=PASSWORD, cwd=tmp_path
    )
    assert created.returncode == 0, created.stderr

    server = live_server(AUTHSVC_DATABASE_URL=database_url)
    with httpx.Client(base_url=server.url) as browser:
        assert browser.get("/readyz").json()["signing_key"] is True
        # As a page of the service's own origin does: its first call hands it the CSRF token,
        # which it echoes with Origin on unsafe requests.
        assert browser.get("/session").status_code == 401
        spa = spa_headers(browser, server.url)
        response = browser.post(
            "/login", json={"username": "alice", "password": PASSWORD}, headers=spa
        )
        assert response.status_code == 200
        raw = response.headers["set-cookie"]
        assert raw.startswith("authsvc_at=ey")
        for attribute in ("HttpOnly", "Max-Age=900", "Path=/", "SameSite=lax"):
            assert attribute in raw
        assert "Secure" not in raw  # AUTHSVC_COOKIE_SECURE=false for plain http here
        assert "server" not in response.headers
        assert browser.get("/session").json()["user"]["username"] == "alice"
        spa = spa_headers(browser, server.url)  # a fresh CSRF token came with the login
        assert browser.post("/logout", headers=spa).status_code == 200
        assert browser.get("/session").status_code == 401
    assert "created a ES256 signing key" in server.log()
    assert PASSWORD not in server.log()


def test_serve_refuses_an_unmigrated_database_with_a_clear_message(tmp_path: Path) -> None:
    env = cli_env(f"sqlite:///{tmp_path}/empty.db")
    result = run_cli("serve", env=env, cwd=tmp_path)
    assert_refused_run(result, "did `authsvc db upgrade` run?")
