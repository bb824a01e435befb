"""Settings composed of groups read the same AUTHSVC_* variables and name them in errors."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from authsvc.config import DownstreamSettings, ServerSettings, Settings, describe_validation_error

DIGEST = "ab" * 32


def _settings(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


@pytest.mark.parametrize(
    ("variable", "value", "parsed"),
    [
        ("AUTHSVC_TRUSTED_PROXIES", " 10.0.0.1, ,10.0.0.2,", ["10.0.0.1", "10.0.0.2"]),
        (
            "AUTHSVC_ALLOWED_ORIGINS",
            "https://App.example ,http://[::1]:8080",
            ["https://app.example", "http://[::1]:8080"],
        ),
        (
            "AUTHSVC_INTROSPECTION_CLIENTS",
            f"a:sha256:{DIGEST}, b:sha256:{DIGEST}",
            [f"a:sha256:{DIGEST}", f"b:sha256:{DIGEST}"],
        ),
        ("AUTHSVC_JWT_SECRETS", f"{'k' * 32} , {'l' * 32}", ["k" * 32, "l" * 32]),
    ],
    ids=["proxies", "origins", "introspection-clients", "jwt-secrets"],
)
def test_every_list_is_written_comma_separated(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, parsed: list[str]
) -> None:
    settings = _settings(monkeypatch, {variable: value})
    items = getattr(settings, variable.removeprefix("AUTHSVC_").lower())
    plain = [item.get_secret_value() if isinstance(item, SecretStr) else item for item in items]
    assert plain == parsed


def test_origins_are_lowercased_and_an_empty_list_means_the_issuers_origin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _settings(monkeypatch, {"AUTHSVC_ALLOWED_ORIGINS": "https://App.example"})
    assert settings.effective_allowed_origins() == ["https://app.example"]
    issuer_only = _settings(
        monkeypatch, {"AUTHSVC_ALLOWED_ORIGINS": "", "AUTHSVC_ISSUER": "https://Auth.example/x/"}
    )
    assert issuer_only.effective_allowed_origins() == ["https://auth.example"]


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"AUTHSVC_DATABASE_POOL_SIZE": "0"}, "AUTHSVC_DATABASE_POOL_SIZE: Input should be"),
        ({"AUTHSVC_JWT_SECRETS": "short"}, "AUTHSVC_JWT_SECRETS: every secret must be"),
        ({"AUTHSVC_ALLOWED_ORIGINS": "https://*.example"}, "AUTHSVC_ALLOWED_ORIGINS: '"),
        ({"AUTHSVC_LOGIN_LIMIT_CLIENT": "0/hour"}, "AUTHSVC_LOGIN_LIMIT_CLIENT: '0/hour' must"),
        ({"AUTHSVC_PASSWORD_MIN_LENGTH": "4"}, "AUTHSVC_PASSWORD_MIN_LENGTH: Input should be"),
        ({"AUTHSVC_LOG_FORMAT": "xml"}, "AUTHSVC_LOG_FORMAT: Input should be 'json' or 'text'"),
        ({"AUTHSVC_REDIS_URL": "http://cache"}, "AUTHSVC_REDIS_URL: must be a redis://"),
        ({"AUTHSVC_AUDIT_RETENTION_DAYS": "0"}, "AUTHSVC_AUDIT_RETENTION_DAYS: Input should be"),
        (
            {"AUTHSVC_REFRESH_COOKIE_NAME": "authsvc_at"},
            "settings: AUTHSVC_REFRESH_COOKIE_NAME must differ from AUTHSVC_COOKIE_NAME",
        ),
        (
            {
                "AUTHSVC_SESSION_IDLE_TIMEOUT_SECONDS": "600",
                "AUTHSVC_SESSION_ABSOLUTE_TIMEOUT_SECONDS": "300",
            },
            "settings: AUTHSVC_SESSION_IDLE_TIMEOUT_SECONDS may not exceed",
        ),
        (
            {"AUTHSVC_KEY_PUBLISH_AHEAD_SECONDS": "10"},
            "settings: AUTHSVC_KEY_PUBLISH_AHEAD_SECONDS must be at least",
        ),
    ],
    ids=[
        "database",
        "keys",
        "browser",
        "throttle",
        "accounts",
        "observability",
        "downstream",
        "maintenance",
        "cookie-names",
        "session-lifetimes",
        "publish-ahead",
    ],
)
def test_errors_name_the_variable_in_every_group(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], line: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        _settings(monkeypatch, env)
    assert line in describe_validation_error(caught.value).splitlines()[0]


def test_a_group_reads_its_own_variables_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHSVC_PORT", "9001")
    monkeypatch.setenv("AUTHSVC_TOKEN_VERSION_CACHE", "redis")
    assert ServerSettings(_env_file=None).port == 9001
    # The channel's prerequisite spans groups, so only the composed Settings checks it.
    assert DownstreamSettings(_env_file=None).token_version_cache == "redis"
    with pytest.raises(ValidationError, match="AUTHSVC_TOKEN_VERSION_CACHE=redis needs"):
        Settings(_env_file=None)
