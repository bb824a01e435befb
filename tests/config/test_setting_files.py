"""AUTHSVC_<NAME>_FILE: a setting read from a file (Docker and Kubernetes secrets), with the same
validation as the variable, and a clear refusal when the file cannot be honoured."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from authsvc.config import Settings
from tests.helpers.cli import assert_refused_run, run_cli

SECRET = "a key-encryption secret read from a file 0123456789"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No AUTHSVC_* variable of the developer's, and a working directory without `.env`."""
    for name in list(os.environ):
        if name.upper().startswith("AUTHSVC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_secret_is_read_from_its_file_less_the_final_line_break(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = clean_environment / "key-secret"
    secret_file.write_text(SECRET + "\n")
    monkeypatch.setenv("AUTHSVC_KEY_ENCRYPTION_SECRET_FILE", str(secret_file))

    settings = Settings()

    assert settings.key_encryption_secret is not None
    assert settings.key_encryption_secret.get_secret_value() == SECRET


def test_a_json_setting_is_read_from_its_file(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    providers = [
        {
            "name": "corp",
            "kind": "oidc",
            "discovery_url": "https://idp.example/.well-known/openid-configuration",
            "client_id": "authsvc",
            "client_secret": "the provider's secret",
        }
    ]
    providers_file = clean_environment / "providers.json"
    providers_file.write_text(json.dumps(providers) + "\r\n")
    monkeypatch.setenv("AUTHSVC_KEY_ENCRYPTION_SECRET", SECRET)
    monkeypatch.setenv("authsvc_oauth_providers_file", str(providers_file))  # any case

    (provider,) = Settings().oauth_providers

    assert provider.name == "corp"
    assert provider.client_secret.get_secret_value() == "the provider's secret"


def test_a_file_wins_over_dot_env(clean_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    port_file = clean_environment / "port"
    port_file.write_text("8123\n")
    (clean_environment / ".env").write_text(
        f"AUTHSVC_KEY_ENCRYPTION_SECRET={SECRET}\nAUTHSVC_PORT=8001\nAUTHSVC_HOST=127.0.0.2\n"
    )
    monkeypatch.setenv("AUTHSVC_PORT_FILE", str(port_file))
    monkeypatch.setenv("AUTHSVC_HOST", "127.0.0.3")

    settings = Settings()

    assert (settings.port, settings.host) == (8123, "127.0.0.3")


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        (None, "AUTHSVC_KEY_ENCRYPTION_SECRET_FILE: cannot read {path}: No such file"),
        (b"x" * (64 * 1024 + 1), "AUTHSVC_KEY_ENCRYPTION_SECRET_FILE: {path} is larger than"),
        (b"\xff\xfe secret", "AUTHSVC_KEY_ENCRYPTION_SECRET_FILE: {path} is not UTF-8 text"),
        (b"short\n", "AUTHSVC_KEY_ENCRYPTION_SECRET: must be"),
    ],
    ids=["missing", "too-large", "not-text", "too-short"],
)
def test_a_file_that_cannot_be_honoured_stops_the_start_with_its_name(
    tmp_path: Path, contents: bytes | None, message: str
) -> None:
    secret_file = tmp_path / "key-secret"
    if contents is not None:
        secret_file.write_bytes(contents)
    env = {
        "AUTHSVC_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "AUTHSVC_KEY_ENCRYPTION_SECRET_FILE": str(secret_file),
    }

    result = run_cli("db", "upgrade", env=env, cwd=tmp_path)

    assert_refused_run(result, message.format(path=secret_file))


def test_a_setting_given_twice_is_refused_without_showing_either_value(tmp_path: Path) -> None:
    secret_file = tmp_path / "key-secret"
    secret_file.write_text(SECRET)
    env = {
        "AUTHSVC_DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        "AUTHSVC_KEY_ENCRYPTION_SECRET": "another secret given in the environment 0123",
        "AUTHSVC_KEY_ENCRYPTION_SECRET_FILE": str(secret_file),
    }

    result = run_cli("db", "upgrade", env=env, cwd=tmp_path)

    assert_refused_run(
        result,
        "AUTHSVC_KEY_ENCRYPTION_SECRET and AUTHSVC_KEY_ENCRYPTION_SECRET_FILE are both set",
    )
    assert SECRET not in result.stderr
    assert "another secret" not in result.stderr


def test_the_commands_run_on_settings_from_files(tmp_path: Path) -> None:
    database_file = tmp_path / "database-url"
    database_file.write_text(f"sqlite:///{tmp_path}/files.db\n")
    secret_file = tmp_path / "key-secret"
    secret_file.write_text(SECRET + "\n")
    env = {
        "AUTHSVC_DATABASE_URL_FILE": str(database_file),
        "AUTHSVC_KEY_ENCRYPTION_SECRET_FILE": str(secret_file),
    }

    upgraded = run_cli("db", "upgrade", env=env, cwd=tmp_path)
    created = run_cli(
        "users", "create", "alice", "--password-stdin", env=env, stdin=SECRET, cwd=tmp_path
    )

    assert upgraded.returncode == 0, upgraded.stderr
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "files.db").exists()


def test_dot_env_may_name_a_file_too(clean_environment: Path) -> None:
    secret_file = clean_environment / "key-secret"
    secret_file.write_text(SECRET + "\n")
    (clean_environment / ".env").write_text(f"AUTHSVC_KEY_ENCRYPTION_SECRET_FILE={secret_file}\n")

    settings = Settings()

    assert settings.key_encryption_secret is not None
    assert settings.key_encryption_secret.get_secret_value() == SECRET


def test_the_environment_wins_over_a_file_named_in_dot_env(
    clean_environment: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As every variable of the environment wins over `.env`: the file is not even read, so a
    path that only the developer's machine has does not stop a start configured otherwise."""
    (clean_environment / ".env").write_text(
        f"AUTHSVC_KEY_ENCRYPTION_SECRET_FILE={clean_environment / 'absent'}\n"
    )
    monkeypatch.setenv("AUTHSVC_KEY_ENCRYPTION_SECRET", SECRET)

    settings = Settings()

    assert settings.key_encryption_secret is not None
    assert settings.key_encryption_secret.get_secret_value() == SECRET


def test_dot_env_giving_a_setting_and_its_file_is_refused(tmp_path: Path) -> None:
    secret_file = tmp_path / "key-secret"
    secret_file.write_text(SECRET)
    (tmp_path / ".env").write_text(
        "AUTHSVC_KEY_ENCRYPTION_SECRET=another secret given in .env 0123456789\n"
        f"AUTHSVC_KEY_ENCRYPTION_SECRET_FILE={secret_file}\n"
    )
    env = {"AUTHSVC_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}

    result = run_cli("db", "upgrade", env=env, cwd=tmp_path)

    assert_refused_run(
        result,
        "AUTHSVC_KEY_ENCRYPTION_SECRET and AUTHSVC_KEY_ENCRYPTION_SECRET_FILE are both set in .env",
    )
    assert SECRET not in result.stderr
    assert "another secret" not in result.stderr
