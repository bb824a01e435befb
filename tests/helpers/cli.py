"""The `authsvc` command, run as a child process (as an operator runs it) or in-process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from authsvc.cli import app as cli_app
from tests.helpers.defaults import TEST_SECRET
from tests.helpers.processes import authsvc_command, inherited_env


def cli_env(database_url: str, secret: str = TEST_SECRET) -> dict[str, str]:
    """The settings every command needs: the database and the key-encryption secret."""
    return {"AUTHSVC_DATABASE_URL": database_url, "AUTHSVC_KEY_ENCRYPTION_SECRET": secret}


def run_cli(
    *args: str, env: dict[str, str], stdin: str = "", cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`authsvc ...` in a child process with only the given AUTHSVC_* settings."""
    return subprocess.run(
        authsvc_command(*args),
        input=stdin,
        capture_output=True,
        text=True,
        env={**inherited_env(), **env},
        cwd=cwd,
        timeout=60,
        check=False,
    )


def cli(
    database_url: str, *args: str, stdin: str = "", secret: str = TEST_SECRET, **env: str
) -> Result:
    """`authsvc ...` in-process; the click Result carries exit_code, stdout and stderr."""
    environment = {**cli_env(database_url, secret), **env}
    return CliRunner().invoke(cli_app, list(args), input=stdin, env=environment)


def cli_json(database_url: str, *args: str, **env: str) -> Any:
    """The JSON a successful in-process command printed."""
    result = cli(database_url, *args, **env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
