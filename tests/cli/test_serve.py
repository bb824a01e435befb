"""The CLI and a real uvicorn server, end to end: what `make run` does, and real Set-Cookie."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.helpers.cli import assert_refused_run, cli_env, run_cli
from tests.helpers.defaults import PASSWORD
from tests.helpers.fixture_types import DbQuery, StartServer
from tests.helpers.headers import spa_headers
from tests.helpers.processes import LiveServer, authsvc_command, free_port, inherited_env
from tests.helpers.waiting import wait_for

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


def test_sigterm_stops_serve_while_it_waits_for_the_database_even_as_pid_1(
    tmp_path: Path,
) -> None:
    """As a container's first process (the image's entrypoint), a signal the process has not
    claimed is ignored by the kernel: SIGTERM during start-up, here a database that accepts the
    connection and never answers, must still stop it, not leave it to SIGKILL."""
    unshare = shutil.which("unshare")
    if (
        unshare is None
        or subprocess.run(
            [unshare, "--pid", "--fork", "true"], capture_output=True, check=False
        ).returncode
    ):
        pytest.skip("unshare --pid needs util-linux and root: serve cannot be run as a PID 1")
    with socket.socket() as silent_database:
        silent_database.bind(("127.0.0.1", 0))
        silent_database.listen()
        port = silent_database.getsockname()[1]
        env = cli_env(f"postgresql+psycopg://postgres@127.0.0.1:{port}/never")
        with subprocess.Popen(
            [unshare, "--pid", "--fork", "--kill-child", *authsvc_command("serve")],
            env={**inherited_env(), **env},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as launcher:
            try:
                silent_database.settimeout(60)
                connection, _ = silent_database.accept()  # start-up waits for the database
                with connection:
                    children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children")
                    (serve_pid,) = children.read_text().split()
                    # Its ids from the outside in: the innermost, its own namespace's, is 1.
                    assert namespace_pids(int(serve_pid))[-1] == 1
                    os.kill(int(serve_pid), signal.SIGTERM)
                    _, stderr = launcher.communicate(timeout=60)
            finally:
                if launcher.poll() is None:
                    launcher.kill()
                    launcher.wait()
    assert launcher.returncode == 128 + signal.SIGTERM, stderr
    assert "stopped by SIGTERM during start-up" in stderr, stderr
    assert "not usable" not in stderr


def namespace_pids(pid: int) -> list[int]:
    """The ids process `pid` has in each PID namespace it is in, outermost first."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return [int(field) for field in line.split()[1:]]
    raise AssertionError(f"no NSpid line for process {pid}")


def test_serve_waits_for_the_migrations_when_told_to(tmp_path: Path) -> None:
    """Started beside its migrations (a Compose service, a Kubernetes Job), serve waits for the
    schema instead of exiting, says so, and serves once `db upgrade` has run."""
    env = {
        **cli_env(f"sqlite:///{tmp_path}/later.db"),
        "AUTHSVC_DATABASE_WAIT_SECONDS": "600",
        "AUTHSVC_COOKIE_SECURE": "false",
    }
    server = LiveServer(
        port=free_port(),
        env={**inherited_env(), **env, "AUTHSVC_HOST": "127.0.0.1"},
        workdir=tmp_path,
    )
    server.env["AUTHSVC_PORT"] = str(server.port)
    server.launch()
    try:
        wait_for(
            lambda: "waiting for the database" in server.log(),
            timeout=120,
            what="serve to say it waits for the database",
        )
        assert server.alive(), server.log()
        assert run_cli("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
        # It tries again every 2 s; the bound is for a loaded machine's start-up.
        server.wait_until_healthy(timeout=120)
        assert httpx.get(f"{server.url}/readyz").json()["signing_key"] is True
    finally:
        server.stop()
    assert "did `authsvc db upgrade` run?" in server.log()
