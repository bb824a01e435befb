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


def assert_refused(result: Result, message: str) -> None:
    """The in-process command failed cleanly (exit 1, our one-line error), not by crashing."""
    assert result.exit_code == 1, result.output
    # A clean failure is typer.Exit; a crash leaves its own exception (and exit code 1 too).
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert message in result.output


def assert_refused_run(result: subprocess.CompletedProcess[str], message: str) -> None:
    """The command, run as a process, failed cleanly: exit 1, our message, no traceback."""
    assert result.returncode == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def cli_json(database_url: str, *args: str, **env: str) -> Any:
    """The JSON a successful in-process command printed."""
    result = cli(database_url, *args, **env)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
