"""Settings are validated at start-up with messages that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from authsvc.config import Settings
from authsvc.runtime import Runtime
from tests.helpers.cli import run_cli


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"AUTHSVC_COOKIE_SAMESITE": "none", "AUTHSVC_COOKIE_SECURE": "false"},
            "AUTHSVC_COOKIE_SAMESITE=none requires AUTHSVC_COOKIE_SECURE=true",
        ),
        ({"AUTHSVC_PORT": "99999"}, "AUTHSVC_PORT: Input should be less than or equal to 65535"),
        ({"AUTHSVC_COOKIE_SECURE": "sometimes"}, "AUTHSVC_COOKIE_SECURE: Input should be"),
        ({"AUTHSVC_KEY_ENCRYPTION_SECRET": "short"}, "AUTHSVC_KEY_ENCRYPTION_SECRET: must be"),
        ({"AUTHSVC_ISSUER": "auth.example"}, "AUTHSVC_ISSUER: must be an http(s) URL"),
        ({"AUTHSVC_LOG_LEVEL": "loud"}, "AUTHSVC_LOG_LEVEL: Input should be"),
        ({}, "AUTHSVC_KEY_ENCRYPTION_SECRET is required"),
    ],
    ids=[
        "samesite-none",
        "port",
        "secure-word",
        "short-secret",
        "issuer",
        "log-level",
        "missing-secret",
    ],
)
def test_serve_refuses_bad_settings_with_a_clear_message(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    base = {"AUTHSVC_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    if "AUTHSVC_KEY_ENCRYPTION_SECRET" not in env and env:
        base["AUTHSVC_KEY_ENCRYPTION_SECRET"] = "s" * 40
    result = run_cli("serve", env={**base, **env}, cwd=tmp_path)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_wrong_key_encryption_secret_is_a_clear_startup_error(tmp_path: Path) -> None:
    env = {
        "AUTHSVC_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "AUTHSVC_KEY_ENCRYPTION_SECRET": "a" * 40,
        "AUTHSVC_PORT": "1",
    }
    assert run_cli("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    settings = Settings(
        _env_file=None,
        database_url=env["AUTHSVC_DATABASE_URL"],
        key_encryption_secret=env["AUTHSVC_KEY_ENCRYPTION_SECRET"],
    )
    Runtime.start(settings).close()  # creates the first key, encrypted under "aaa..."
    result = run_cli("serve", env={**env, "AUTHSVC_KEY_ENCRYPTION_SECRET": "b" * 40}, cwd=tmp_path)
    assert result.returncode == 1
    assert "AUTHSVC_KEY_ENCRYPTION_SECRET does not decrypt it" in result.stderr
    assert "Traceback" not in result.stderr
