"""The verifier's own install: a fresh virtual environment with the base package only, from the
lock, holds none of the server's dependencies and runs examples/downstream against authsvc."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest

from tests.helpers.cli import cli_env, run_cli
from tests.helpers.cookies import ACCESS
from tests.helpers.database import add_user
from tests.helpers.defaults import PASSWORD
from tests.helpers.headers import bearer
from tests.helpers.login import log_in_at
from tests.helpers.paths import REPO_ROOT
from tests.helpers.processes import LiveServer, free_port, inherited_env, start_server
from tests.helpers.suites import skip_suite

pytestmark = pytest.mark.server

EXAMPLE_DIR = REPO_ROOT / "examples" / "downstream"
# Import names of what only the server needs; none may be in a verifier's environment.
SERVER_ONLY = (
    "alembic",
    "argon2",
    "limits",
    "passlib",
    "prometheus_client",
    "pydantic_settings",
    "psycopg",
    "redis",
    "typer",
    "uvicorn",
    "zxcvbn",
)
HOW = "light-install test skipped: it needs uv (`make install` puts it in .venv/bin)"


def find_uv() -> str | None:
    """uv, beside this interpreter (where `make install` puts it) or on PATH."""
    return shutil.which("uv", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")


def run(*command: str | Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=inherited_env("UV_", "VIRTUAL_ENV"),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def light_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a new venv holding the base package as its lock pins it, nothing more."""
    uv = find_uv()
    if uv is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the light-install test: " + HOW)
        skip_suite(HOW)
    work = tmp_path_factory.mktemp("light-install")
    # Built from a copy, so that the build leaves nothing behind in the work tree.
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy(REPO_ROOT / name, source / name)
    caches = shutil.ignore_patterns("__pycache__")
    for name in ("authsvc", "alembic"):
        shutil.copytree(REPO_ROOT / name, source / name, ignore=caches)
    requirements = work / "requirements.txt"
    run(
        uv, "export", "--frozen", "--no-dev", "--no-emit-project",
        "--format", "requirements-txt", "--output-file", requirements, cwd=source,
    )  # fmt: skip
    run(uv, "venv", "--python", sys.executable, work / "venv")
    python = work / "venv" / "bin" / "python"
    run(uv, "pip", "install", "--python", python, "--require-hashes", "-r", requirements)
    run(uv, "pip", "install", "--python", python, "--no-deps", source)
    return python


def test_the_base_package_is_the_verifier_without_the_servers_dependencies(
    light_python: Path,
) -> None:
    probe = (
        "import importlib.util, json, authsvc.verify; "
        f"print(json.dumps([m for m in {SERVER_ONLY!r} if importlib.util.find_spec(m)]))"
    )
    assert json.loads(run(light_python, "-c", probe)) == []
    command = subprocess.run(
        [str(light_python.parent / "authsvc"), "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert command.returncode == 1
    assert "install `authsvc[server]`" in command.stderr


def test_the_downstream_example_runs_from_the_light_install(
    light_python: Path, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path}/authsvc.db"
    assert run_cli("db", "upgrade", env=cli_env(database_url), cwd=tmp_path).returncode == 0
    user_id = add_user(database_url, "alice", PASSWORD)
    authsvc = start_server(
        {**cli_env(database_url), "AUTHSVC_COOKIE_SECURE": "false"}, workdir=tmp_path
    )
    # The example brings its own ASGI server, as any downstream service does.
    uv = find_uv()
    assert uv is not None
    run(uv, "pip", "install", "--python", light_python, f"uvicorn=={version('uvicorn')}")
    port = free_port()
    example = LiveServer(
        port=port,
        env={
            **inherited_env("DOWNSTREAM_"),
            "DOWNSTREAM_AUTHSVC_URL": authsvc.url,
            "DOWNSTREAM_DATABASE_URL": database_url,
        },
        workdir=tmp_path,
        command=(
            *(str(light_python), "-m", "uvicorn", "--app-dir", str(EXAMPLE_DIR)),
            *("--factory", "service:create_app_from_environment", "--port", str(port)),
        ),
        name="example",
    )
    try:
        example.start(timeout=60)
        token = log_in_at(authsvc.url).cookies[ACCESS]
        with httpx.Client(base_url=example.url, timeout=10) as http:
            hello = http.get("/hello", headers={"Cookie": f"{ACCESS}={token}"})
            assert hello.status_code == 200, hello.text
            assert hello.json()["user_id"] == user_id
            out = httpx.post(
                f"{authsvc.url}/logout?everywhere=true", headers=bearer(token), timeout=10
            )
            assert out.json()["everywhere"] is True
            refused = http.get("/hello", headers={"Cookie": f"{ACCESS}={token}"})
            assert (refused.status_code, refused.json()["error"]) == (401, "token_revoked")
    finally:
        example.stop()
        authsvc.stop()
